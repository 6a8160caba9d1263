"""Callbacks are worked, not only listed (issue 13): a priority (urgent ones at the top), the attempts made
and the last one's result, whether the urgent dialer dials it, and the claim of whoever works one now (an
agent, or the urgent dialer).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('autodial', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_result', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by_agent_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_callbacks_claimed_by_agent_id_agents'), 'agents',
                                    ['claimed_by_agent_id'], ['id'])
    # Urgent callbacks written before the priority existed keep their place at the top.
    op.execute("UPDATE callbacks SET priority = 100 WHERE urgent")


def downgrade() -> None:
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_callbacks_claimed_by_agent_id_agents'), type_='foreignkey')
        batch_op.drop_column('claimed_by_agent_id')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('last_result')
        batch_op.drop_column('attempts')
        batch_op.drop_column('priority')
        batch_op.drop_column('autodial')

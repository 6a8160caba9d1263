"""Disposition tasks: the disposition a desk still owes for a call after a supervisor released it from
wrap-up or the agent left and was logged out (issue 12).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disposition_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('released_by_user_id', sa.Integer(), nullable=True),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('disposition_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("reason IN ('supervisor_release', 'agent_away')",
                       name=op.f('ck_disposition_tasks_reason')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_disposition_tasks_agent_id_agents')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_disposition_tasks_call_id_calls')),
    sa.ForeignKeyConstraint(['disposition_id'], ['dispositions.id'],
                            name=op.f('fk_disposition_tasks_disposition_id_dispositions')),
    sa.ForeignKeyConstraint(['released_by_user_id'], ['users.id'],
                            name=op.f('fk_disposition_tasks_released_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disposition_tasks')),
    sa.UniqueConstraint('call_id', 'agent_id', name=op.f('uq_disposition_tasks_call_id_agent_id'))
    )
    with op.batch_alter_table('disposition_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disposition_tasks_agent_id_completed_at'),
                              ['agent_id', 'completed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('disposition_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disposition_tasks_agent_id_completed_at'))
    op.drop_table('disposition_tasks')

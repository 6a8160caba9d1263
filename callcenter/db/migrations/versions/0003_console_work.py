"""Console work: call dispositions (wrap-up), scheduled callbacks, a phone for users without a desk.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('phone_e164', sa.String(length=20), nullable=False),
    sa.Column('queue_name', sa.String(length=64), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='scheduled', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('origin_call_id', sa.String(length=32), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('result_call_id', sa.String(length=32), nullable=True),
    sa.CheckConstraint("status IN ('scheduled', 'done', 'cancelled', 'failed')",
                       name=op.f('ck_callbacks_status')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_callbacks_agent_id_agents')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                            name=op.f('fk_callbacks_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['origin_call_id'], ['calls.id'], name=op.f('fk_callbacks_origin_call_id_calls')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_callbacks_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks'))
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callbacks_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_callbacks_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_callbacks_patient_id'), ['patient_id'], unique=False)

    op.create_table('dispositions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('notes', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_dispositions_agent_id_agents')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_dispositions_call_id_calls')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                            name=op.f('fk_dispositions_patient_id_patients')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dispositions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispositions')),
    sa.UniqueConstraint('call_id', 'agent_id', name=op.f('uq_dispositions_call_id_agent_id'))
    )
    with op.batch_alter_table('dispositions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispositions_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispositions_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispositions_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispositions_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispositions_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_endpoint', sa.String(length=255), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('phone_endpoint')

    with op.batch_alter_table('dispositions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispositions_patient_id'))
        batch_op.drop_index(batch_op.f('ix_dispositions_created_at'))
        batch_op.drop_index(batch_op.f('ix_dispositions_code'))
        batch_op.drop_index(batch_op.f('ix_dispositions_call_id'))
        batch_op.drop_index(batch_op.f('ix_dispositions_agent_id'))

    op.drop_table('dispositions')
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callbacks_patient_id'))
        batch_op.drop_index(batch_op.f('ix_callbacks_due_at'))
        batch_op.drop_index(batch_op.f('ix_callbacks_agent_id'))

    op.drop_table('callbacks')

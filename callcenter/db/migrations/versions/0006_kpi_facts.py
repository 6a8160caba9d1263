"""KPI store: one row per figure (kpi_facts) with its sums as columns, the folded calls (kpi_calls), the
days covered (kpi_days) and how far the event log is followed (kpi_state). Replaces 0005's kpi_call_facts (a
cache of JSON records: dropping it loses nothing).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
SUMS = ('offered', 'handle_sum', 'handlings', 'transfers', 'callbacks', 'red_flags', 'esc_sum', 'esc_n',
        'fcr_base', 'out_dialed', 'out_contacts', 'out_completed', 'out_abandoned', 'amd_human',
        'amd_machine', 'confirmations', 'cancellations', 'opt_outs')


def upgrade() -> None:
    op.drop_table('kpi_call_facts')
    op.create_table('kpi_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('fold_version', sa.Integer(), nullable=False),
    sa.Column('folded_through', BIG_ID, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_state'))
    )
    op.create_table('kpi_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_kpi_days'))
    )
    op.create_table('kpi_calls',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('last_event_id', BIG_ID, nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('contact_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_kpi_calls'))
    )
    op.create_index(op.f('ix_kpi_calls_patient_id_contact_us'), 'kpi_calls', ['patient_id', 'contact_us'])
    op.create_table('kpi_facts',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('ts', sa.DateTime(), nullable=False),
    sa.Column('minute', sa.Integer(), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('campaign', sa.String(length=64), nullable=True),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('wait', sa.Float(), nullable=True),
    sa.Column('ended', sa.String(length=16), nullable=True),
    sa.Column('gone', sa.Float(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('contact_us', sa.BigInteger(), nullable=True),
    *[sa.Column(name, sa.Float() if name.endswith('_sum') else sa.Integer(), nullable=False)
      for name in SUMS],
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_facts'))
    )
    op.create_index(op.f('ix_kpi_facts_ts'), 'kpi_facts', ['ts'])
    op.create_index(op.f('ix_kpi_facts_call_id'), 'kpi_facts', ['call_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_kpi_facts_call_id'), table_name='kpi_facts')
    op.drop_index(op.f('ix_kpi_facts_ts'), table_name='kpi_facts')
    op.drop_table('kpi_facts')
    op.drop_index(op.f('ix_kpi_calls_patient_id_contact_us'), table_name='kpi_calls')
    op.drop_table('kpi_calls')
    op.drop_table('kpi_days')
    op.drop_table('kpi_state')
    op.create_table('kpi_call_facts',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('last_event_id', BIG_ID, nullable=False),
    sa.Column('facts', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_kpi_call_facts'))
    )

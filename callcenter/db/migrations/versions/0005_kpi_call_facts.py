"""KPI cache of per-call facts, and the (ts, type, call_id) index the KPI computation finds calls by.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kpi_call_facts',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('last_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('facts', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_kpi_call_facts'))
    )
    op.create_index(op.f('ix_call_events_ts_type_call_id'), 'call_events', ['ts', 'type', 'call_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_call_events_ts_type_call_id'), table_name='call_events')
    op.drop_table('kpi_call_facts')

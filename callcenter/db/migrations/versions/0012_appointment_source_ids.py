"""Appointments fed by the hospital's systems (issue 15: CSV and FHIR imports): the appointment's id at the
source, which a later import updates by, and the time of its data (older news does not overwrite newer).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("source_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source_updated_at", sa.DateTime(), nullable=True))
        batch.create_unique_constraint("uq_appointments_source_id", ["source_id"])


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_constraint("uq_appointments_source_id", type_="unique")
        batch.drop_column("source_updated_at")
        batch.drop_column("source_id")

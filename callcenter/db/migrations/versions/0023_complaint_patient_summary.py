"""A ticket's result told to the patient apart from the handler's resolution notes: `patient_summary` (what
the hotline's self-service speaks to a caller who types the serial, issue 17) and `summary_language` (the
language it is written in, which chooses the voice).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("patient_summary", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("summary_language", sa.String(8), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("summary_language")
        batch.drop_column("patient_summary")

"""An index on followup_answers (call_id): the authenticity report checks that an automated follow-up's call
holds the patient's answers (reports/services.py), by call id.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_followup_answers_call_id", "followup_answers", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_followup_answers_call_id", table_name="followup_answers")

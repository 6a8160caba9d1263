"""One console follow-up response per call: two "Start" requests at once on the desk's form could both pass
the service's check and make two responses of one call. A partial unique index on followup_responses
(call_id) where the channel is 'console' makes the second insert fail (followup/services.py answers it as
"already started"). Phone responses (the flow's) and paper ones (no call) are not concerned.

A database that already holds two console responses of one call cannot take the index: the upgrade stops and
names the calls, so that someone decides which form stands (nothing is deleted here).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

CONSOLE = sa.text("channel = 'console'")


def upgrade() -> None:
    duplicated = op.get_bind().execute(sa.text(
        "SELECT call_id FROM followup_responses WHERE channel = 'console' AND call_id IS NOT NULL "
        "GROUP BY call_id HAVING COUNT(*) > 1 ORDER BY call_id")).scalars().all()
    if duplicated:
        raise RuntimeError("followup_responses: these calls have more than one console response; keep one "
                           f"each (move or delete the others' answers), then upgrade again: {duplicated}")
    op.create_index("uq_followup_responses_console_call", "followup_responses", ["call_id"], unique=True,
                    sqlite_where=CONSOLE, postgresql_where=CONSOLE)


def downgrade() -> None:
    op.drop_index("uq_followup_responses_console_call", table_name="followup_responses")

"""users.locked_until dropped: sign-in guessing is slowed per address (auth/throttle.py) and never locks an
account (that let anyone lock a named user out), so nothing set the column any more (issue 14).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("users", "locked_until")   # SQLite >= 3.35 drops a column in place


def downgrade() -> None:
    op.add_column("users", sa.Column("locked_until", sa.DateTime(), nullable=True))

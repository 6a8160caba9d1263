"""Sign-in state on users: failed attempts and lock-out, last sign-in, password change, session version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Frozen like 0001: no model imports.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (
    ("failed_logins", sa.Integer(), False, "0"),
    ("failed_logins_since", sa.DateTime(), True, None),
    ("locked_until", sa.DateTime(), True, None),
    ("last_login_at", sa.DateTime(), True, None),
    ("password_changed_at", sa.DateTime(), True, None),
    ("session_version", sa.Integer(), False, "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for name, type_, nullable, default in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=nullable, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for name, *_ in reversed(COLUMNS):
            batch.drop_column(name)

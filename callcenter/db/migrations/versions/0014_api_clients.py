"""api_clients: named, scoped, revocable API clients instead of the one all-powerful [http] api_token, and
audit_events.actor_client_id naming the client that acted (issue 14).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_clients_secret_sha256")),
    )
    # A plain ADD COLUMN, not batch mode: SQLite's batch mode rebuilds the table, which would drop the
    # append-only triggers of audit_events.
    op.add_column("audit_events", sa.Column("actor_client_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "actor_client_id")   # SQLite >= 3.35 drops a column in place
    op.drop_table("api_clients")

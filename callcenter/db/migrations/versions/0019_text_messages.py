"""Text messages (issue 17, callcenter/sms/): every text either way, outgoing ones being the outbox the SMS
worker sends from, and the gateway's delivery reports.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "'queued', 'sent', 'delivered', 'failed', 'dead', 'suppressed', 'received'"


def upgrade() -> None:
    op.create_table(
        "text_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=True),
        sa.Column("template_version", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=100), nullable=True),
        sa.Column("campaign_kind", sa.String(length=32), nullable=True),
        sa.Column("send_window", sa.String(length=11), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("keyword", sa.String(length=16), nullable=True),
        sa.Column("reply_to_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_text_messages_direction")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_text_messages_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_text_messages_dedupe_key")),
    )
    op.create_index(op.f("ix_text_messages_status_next_attempt_at"), "text_messages",
                    ["status", "next_attempt_at"])
    op.create_index(op.f("ix_text_messages_patient_id_created_at"), "text_messages",
                    ["patient_id", "created_at"])
    op.create_index(op.f("ix_text_messages_e164_created_at"), "text_messages", ["e164", "created_at"])
    op.create_table(
        "text_delivery_reports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["text_messages.id"], ondelete="CASCADE",
                                name=op.f("fk_text_delivery_reports_message_id_text_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_delivery_reports")),
    )
    op.create_index(op.f("ix_text_delivery_reports_message_id"), "text_delivery_reports", ["message_id"])


def downgrade() -> None:
    op.drop_table("text_delivery_reports")
    op.drop_table("text_messages")

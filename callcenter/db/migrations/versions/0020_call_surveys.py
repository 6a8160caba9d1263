"""The survey after an inbound call (issue 17): call_surveys (one per call: agent, queue, satisfaction 1-5,
resolved yes/no, each answer written as given) and queues.post_call_survey (every caller of the queue is
surveyed when the agent hangs up).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("post_call_survey", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "call_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("queue_name", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5", name=op.f("ck_call_surveys_satisfaction")),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_call_surveys_agent_id_agents"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_call_surveys_call_id_calls"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_surveys")),
        sa.UniqueConstraint("call_id", name=op.f("uq_call_surveys_call_id")),
    )
    op.create_index(op.f("ix_call_surveys_agent_id"), "call_surveys", ["agent_id"])
    op.create_index(op.f("ix_call_surveys_queue_name"), "call_surveys", ["queue_name"])
    op.create_index(op.f("ix_call_surveys_started_at"), "call_surveys", ["started_at"])


def downgrade() -> None:
    op.drop_table("call_surveys")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("post_call_survey")

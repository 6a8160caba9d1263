"""Care plans for chronic and VIP patients, the follow-ups they owe and their history (issue 16).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FOLLOWUP_STATUSES = ("'pending', 'calling', 'escalated', 'completed', 'unreachable', 'refused', "
                     "'wrong_number', 'withdrawn'")


def upgrade() -> None:
    _care_plans()
    _followups()
    _events()


def _care_plans() -> None:
    op.create_table(
        "care_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=80), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("questionnaire_code", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("campaign_name", sa.String(length=64), nullable=True),
        sa.Column("nurse_user_id", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned_through", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint("kind IN ('chronic', 'vip')", name=op.f("ck_care_plans_kind")),
        sa.CheckConstraint("channel IN ('automated', 'agent')", name=op.f("ck_care_plans_channel")),
        sa.CheckConstraint("status IN ('active', 'ended', 'withdrawn')", name=op.f("ck_care_plans_status")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE",
                                name=op.f("fk_care_plans_patient_id_patients")),
        sa.ForeignKeyConstraint(["nurse_user_id"], ["users.id"],
                                name=op.f("fk_care_plans_nurse_user_id_users")),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"],
                                name=op.f("fk_care_plans_created_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plans")),
    )
    op.create_index(op.f("ix_care_plans_patient_id"), "care_plans", ["patient_id"])
    op.create_index(op.f("ix_care_plans_status_planned_through"), "care_plans", ["status", "planned_through"])


def _followups() -> None:
    op.create_table(
        "care_plan_followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("campaign_target_id", sa.Integer(), nullable=True),
        sa.Column("last_call_id", sa.String(length=32), nullable=True),
        sa.Column("escalated_to_user_id", sa.Integer(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"status IN ({FOLLOWUP_STATUSES})", name=op.f("ck_care_plan_followups_status")),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plans.id"], ondelete="CASCADE",
                                name=op.f("fk_care_plan_followups_plan_id_care_plans")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE",
                                name=op.f("fk_care_plan_followups_patient_id_patients")),
        sa.ForeignKeyConstraint(["campaign_target_id"], ["campaign_targets.id"], ondelete="SET NULL",
                                name=op.f("fk_care_plan_followups_campaign_target_id_campaign_targets")),
        sa.ForeignKeyConstraint(["escalated_to_user_id"], ["users.id"],
                                name=op.f("fk_care_plan_followups_escalated_to_user_id_users")),
        sa.ForeignKeyConstraint(["closed_by_user_id"], ["users.id"],
                                name=op.f("fk_care_plan_followups_closed_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan_followups")),
        sa.UniqueConstraint("plan_id", "due_on", name=op.f("uq_care_plan_followups_plan_id_due_on")),
    )
    op.create_index(op.f("ix_care_plan_followups_status_due_at"), "care_plan_followups", ["status", "due_at"])
    op.create_index(op.f("ix_care_plan_followups_patient_id_status"), "care_plan_followups",
                    ["patient_id", "status"])
    op.create_index(op.f("ix_care_plan_followups_campaign_target_id"), "care_plan_followups",
                    ["campaign_target_id"])


def _events() -> None:
    op.create_table(
        "care_plan_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("followup_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plans.id"], ondelete="CASCADE",
                                name=op.f("fk_care_plan_events_plan_id_care_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan_events")),
    )
    op.create_index(op.f("ix_care_plan_events_plan_id"), "care_plan_events", ["plan_id"])
    op.create_index(op.f("ix_care_plan_events_patient_id_at"), "care_plan_events", ["patient_id", "at"])


def downgrade() -> None:
    op.drop_table("care_plan_events")
    op.drop_table("care_plan_followups")
    op.drop_table("care_plans")

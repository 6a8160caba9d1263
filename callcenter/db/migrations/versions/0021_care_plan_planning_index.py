"""Care plans are planned by joining the due days of each (schedule, start day) to the plans: an index on
care_plans (schedule, starts_on) makes that join a lookup (scripts/bench-careplans: 100k plans). The indexes
on (status, planned_through), on care_plan_followups.campaign_target_id and on (patient_id, status) served no
query that needs them (a death finds the follow-ups through the patient's plans) and slowed every planning's
writes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_care_plans_status_planned_through", table_name="care_plans")
    op.drop_index("ix_care_plan_followups_campaign_target_id", table_name="care_plan_followups")
    op.drop_index("ix_care_plan_followups_patient_id_status", table_name="care_plan_followups")
    op.create_index("ix_care_plans_schedule_starts_on", "care_plans", ["schedule", "starts_on"])


def downgrade() -> None:
    op.drop_index("ix_care_plans_schedule_starts_on", table_name="care_plans")
    followups = "care_plan_followups"
    op.create_index("ix_care_plan_followups_patient_id_status", followups, ["patient_id", "status"])
    op.create_index("ix_care_plan_followups_campaign_target_id", followups, ["campaign_target_id"])
    op.create_index("ix_care_plans_status_planned_through", "care_plans", ["status", "planned_through"])

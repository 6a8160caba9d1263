"""Tickets (issue 17): the complaints table grows into complaints, suggestions and praise from every channel
(kind, channel, contact, department, severity, text, handling group, escalation level, due and response
times, resolution), with its serial counter per year, its append-only event history and its attachments.
Statuses become received / assigned / in_progress / waiting_patient / resolved / closed ('open' rows are
'received').

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_STATUSES = "'open', 'in_progress', 'resolved', 'closed'"
STATUSES = "'received', 'assigned', 'in_progress', 'waiting_patient', 'resolved', 'closed'"
CHECKS = (("kind", "'complaint', 'suggestion', 'praise'"),
          ("severity", "'low', 'medium', 'high', 'critical'"),
          ("channel", "'phone', 'web', 'letter', 'email', 'sms'"))
COLUMNS = (
    ("serial_year", sa.Integer(), True, None),
    ("serial_seq", sa.Integer(), True, None),
    ("kind", sa.String(length=16), False, "complaint"),
    ("channel", sa.String(length=16), False, "phone"),
    ("contact_name", sa.String(length=200), False, ""),
    ("contact_phone", sa.String(length=32), False, ""),
    ("contact_email", sa.String(length=254), False, ""),
    ("department", sa.String(length=64), False, "general"),
    ("severity", sa.String(length=16), False, "medium"),
    ("text", sa.Text(), False, ""),
    ("handling_group", sa.String(length=64), False, "patient_relations"),
    ("assigned_user_id", sa.Integer(), True, None),
    ("escalation_level", sa.Integer(), False, "0"),
    ("due_at", sa.DateTime(), True, None),
    ("first_response_at", sa.DateTime(), True, None),
    ("closed_at", sa.DateTime(), True, None),
    ("resolution_text", sa.Text(), False, ""),
    ("resolution_channel", sa.String(length=16), False, ""),
    ("recording_id", sa.Integer(), True, None),
    ("created_by_user_id", sa.Integer(), True, None),
)


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint(op.f("ck_complaints_status"), type_="check")
    op.execute("UPDATE complaints SET status = 'received' WHERE status = 'open'")
    with op.batch_alter_table("complaints") as batch:
        for name, type_, nullable, default in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=nullable, server_default=default))
        batch.create_check_constraint(op.f("ck_complaints_status"), f"status IN ({STATUSES})")
        for column, values in CHECKS:
            batch.create_check_constraint(op.f(f"ck_complaints_{column}"), f"{column} IN ({values})")
        batch.create_unique_constraint(op.f("uq_complaints_serial_year_serial_seq"),
                                       ["serial_year", "serial_seq"])
        batch.create_foreign_key(op.f("fk_complaints_assigned_user_id_users"), "users",
                                 ["assigned_user_id"], ["id"])
        batch.create_index(op.f("ix_complaints_status"), ["status"])
        batch.create_index(op.f("ix_complaints_due_at"), ["due_at"])
        batch.create_index(op.f("ix_complaints_call_id"), ["call_id"])
    _drop_server_defaults()
    op.create_table(
        "complaint_serials",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_complaint_serials")),
    )
    op.create_table(
        "complaint_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"],
                                name=op.f("fk_complaint_events_complaint_id_complaints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_events")),
    )
    op.create_index(op.f("ix_complaint_events_complaint_id"), "complaint_events", ["complaint_id"])
    op.create_table(
        "complaint_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"],
                                name=op.f("fk_complaint_attachments_complaint_id_complaints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_attachments")),
    )
    op.create_index(op.f("ix_complaint_attachments_complaint_id"), "complaint_attachments", ["complaint_id"])
    _append_only("complaint_events")


def downgrade() -> None:
    _drop_append_only("complaint_events")
    op.drop_index(op.f("ix_complaint_attachments_complaint_id"), table_name="complaint_attachments")
    op.drop_table("complaint_attachments")
    op.drop_index(op.f("ix_complaint_events_complaint_id"), table_name="complaint_events")
    op.drop_table("complaint_events")
    op.drop_table("complaint_serials")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_index(op.f("ix_complaints_call_id"))
        batch.drop_index(op.f("ix_complaints_due_at"))
        batch.drop_index(op.f("ix_complaints_status"))
        batch.drop_constraint(op.f("fk_complaints_assigned_user_id_users"), type_="foreignkey")
        batch.drop_constraint(op.f("uq_complaints_serial_year_serial_seq"), type_="unique")
        for column, _ in reversed(CHECKS):
            batch.drop_constraint(op.f(f"ck_complaints_{column}"), type_="check")
        batch.drop_constraint(op.f("ck_complaints_status"), type_="check")
        for name, *_ in reversed(COLUMNS):
            batch.drop_column(name)
    op.execute("UPDATE complaints SET status = 'open' WHERE status IN ('received', 'assigned')")
    op.execute("UPDATE complaints SET status = 'in_progress' WHERE status = 'waiting_patient'")
    with op.batch_alter_table("complaints") as batch:
        batch.create_check_constraint(op.f("ck_complaints_status"), f"status IN ({OLD_STATUSES})")


def _drop_server_defaults() -> None:
    """The defaults filled the rows that were there; new rows get theirs from the model, like every table."""
    with op.batch_alter_table("complaints") as batch:
        for name, type_, nullable, default in COLUMNS:
            if default is not None:
                batch.alter_column(name, existing_type=type_, existing_nullable=nullable, server_default=None)


def _append_only(table: str) -> None:
    """The database refuses UPDATE and DELETE on the log, as for call_events (0001's triggers)."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END")
    else:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION callcenter_refuse_change()")


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")

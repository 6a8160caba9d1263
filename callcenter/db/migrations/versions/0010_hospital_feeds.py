"""Patients fed by the hospital's systems (issue 15): identifiers, contacts, deceased, merges, event times,
encounter details (visit number, class, ward, attending, disposition), and the inbound message log of the HL7
v2 interface (raw bytes first, then the outcome; rows never deleted).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Frozen like 0001: no model imports.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OUTCOMES = "'received', 'applied', 'duplicate', 'rejected', 'failed'"


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("deceased", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("deceased_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("source_updated_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(batch.f("fk_patients_merged_into_id_patients"), "patients",
                                 ["merged_into_id"], ["id"])
        batch.create_index(batch.f("ix_patients_merged_into_id"), ["merged_into_id"])
    with op.batch_alter_table("encounters") as batch:
        batch.add_column(sa.Column("visit_number", sa.String(64), nullable=True))
        batch.add_column(sa.Column("patient_class", sa.String(16), nullable=True))
        batch.add_column(sa.Column("ward", sa.String(80), nullable=True))
        batch.add_column(sa.Column("attending", sa.String(200), nullable=True))
        batch.add_column(sa.Column("disposition", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source_updated_at", sa.DateTime(), nullable=True))
        batch.create_index(batch.f("ix_encounters_visit_number"), ["visit_number"])
    op.create_table(
        "patient_identifiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patients.id", ondelete="CASCADE",
                                                             name="fk_patient_identifiers_patient_id_patients"),
                  nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_patient_identifiers"),
        sa.UniqueConstraint("system", "value", name="uq_patient_identifiers_system_value"),
    )
    op.create_index("ix_patient_identifiers_patient_id", "patient_identifiers", ["patient_id"])
    op.create_table(
        "patient_contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patients.id", ondelete="CASCADE",
                                                             name="fk_patient_contacts_patient_id_patients"),
                  nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("relation", sa.String(64), nullable=True),
        sa.Column("phone_e164", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_patient_contacts"),
    )
    op.create_index("ix_patient_contacts_patient_id", "patient_contacts", ["patient_id"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("peer", sa.String(64), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("sender", sa.String(200), nullable=True),
        sa.Column("control_id", sa.String(64), nullable=True),
        sa.Column("message_type", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("ack_code", sa.String(2), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("applied_key", sa.String(300), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
        sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name="ck_inbound_messages_outcome"),
        sa.UniqueConstraint("applied_key", name="uq_inbound_messages_applied_key"),
    )
    op.create_index("ix_inbound_messages_outcome_id", "inbound_messages", ["outcome", "id"])
    op.create_index("ix_inbound_messages_sender_control_id", "inbound_messages", ["sender", "control_id"])
    _refuse_delete()


def _refuse_delete() -> None:
    """The log keeps every message received: the database refuses DELETE, whoever connects."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER inbound_messages_no_delete BEFORE DELETE ON inbound_messages "
                   "BEGIN SELECT RAISE(ABORT, 'inbound_messages is append-only: DELETE refused'); END")
    else:
        op.execute("CREATE TRIGGER inbound_messages_no_delete BEFORE DELETE ON inbound_messages "
                   "FOR EACH ROW EXECUTE FUNCTION callcenter_refuse_change()")
        op.execute("CREATE TRIGGER inbound_messages_no_truncate BEFORE TRUNCATE ON inbound_messages "
                   "FOR EACH STATEMENT EXECUTE FUNCTION callcenter_refuse_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS inbound_messages_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS inbound_messages_no_delete ON inbound_messages")
        op.execute("DROP TRIGGER IF EXISTS inbound_messages_no_truncate ON inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_table("patient_contacts")
    op.drop_table("patient_identifiers")
    with op.batch_alter_table("encounters") as batch:
        batch.drop_index(batch.f("ix_encounters_visit_number"))
        for column in ("source_updated_at", "disposition", "attending", "ward", "patient_class",
                       "visit_number"):
            batch.drop_column(column)
    with op.batch_alter_table("patients") as batch:
        batch.drop_index(batch.f("ix_patients_merged_into_id"))
        batch.drop_constraint(batch.f("fk_patients_merged_into_id_patients"), type_="foreignkey")
        for column in ("source_updated_at", "merged_into_id", "deceased_at", "deceased"):
            batch.drop_column(column)

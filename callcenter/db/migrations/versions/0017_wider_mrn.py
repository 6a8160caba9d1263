"""patients.mrn widened from 32 to 64 characters (issue 15): Synthea's and many EHRs' MRNs are 36-character
UUIDs, and an identifier value (patient_identifiers.value) may already hold 64.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

Frozen like 0001: no model imports.

On SQLite the column's declared type is rewritten in the schema, not by batch mode's copy of the table:
SQLite ignores VARCHAR lengths (the column's affinity stays TEXT, no stored byte changes), and the copy drops
the old table, which with foreign keys on deletes every row of the tables that reference patients ON DELETE
CASCADE (phones, encounters, identifiers...). This is SQLite's documented procedure for schema changes that
leave the stored format as it is (sqlite.org/lang_altertable.html, "writable_schema"), inside the
migration's transaction.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _mrn_length(32, 64)


def downgrade() -> None:
    _mrn_length(64, 32)


def _mrn_length(old: int, new: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_declared_type("patients", f"mrn VARCHAR({old})", f"mrn VARCHAR({new})")
    else:
        op.alter_column("patients", "mrn", type_=sa.String(new), existing_type=sa.String(old),
                        existing_nullable=False)


def _sqlite_declared_type(table: str, old: str, new: str) -> None:
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table,)).scalar()
    if old not in sql:
        raise RuntimeError(f"{table}: {old!r} not found in its schema")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (sql.replace(old, new, 1), table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")  # other connections reload it
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")

"""The patient-relations role (issue 17): users.role may be "relations", the team that works the tickets.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04

Frozen like 0001: no model imports.

On SQLite the CHECK constraint is rewritten in the schema, as 0017 rewrote a declared type, not by batch
mode's copy of the table: the copy drops `users`, which with foreign keys on would touch every table that
references it. A wider CHECK leaves every stored row valid (sqlite.org/lang_altertable.html,
"writable_schema").
"""
from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

OLD = "role IN ('agent', 'nurse', 'supervisor', 'admin')"
NEW = "role IN ('agent', 'nurse', 'supervisor', 'admin', 'relations')"


def upgrade() -> None:
    _role_check(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE users SET role = 'supervisor' WHERE role = 'relations'")
    _role_check(NEW, OLD)


def _role_check(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_schema_text("users", old, new)
    else:
        op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
        op.create_check_constraint(op.f("ck_users_role"), "users", new)


def _sqlite_schema_text(table: str, old: str, new: str) -> None:
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

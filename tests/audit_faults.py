"""A database that refuses audit rows: a read audited in its own transaction must then fail with no data."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from callcenter.db.database import Database


class AuditRefused(RuntimeError):
    """What the database says to an audit row while `audit_rows_refused` is on."""


@contextmanager
def audit_rows_refused(db: Database) -> Iterator[None]:
    """Every INSERT into audit_events fails inside the block, as a full disk or a lost connection would fail
    it; everything else is written as usual."""
    def refuse(conn, cursor, statement: str, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            raise AuditRefused("audit row refused (test)")

    event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", refuse)

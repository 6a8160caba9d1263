"""Prepared statements (db/prepared.py) on the driver's cursor give what SQLAlchemy's execution gives: the
same values through the column types (UTC datetimes, dates, booleans), SQLAlchemy's exception classes, rows
written in the session's transaction. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from callcenter.db.models import Patient
from callcenter.db.prepared import Prepared

PATIENTS = Patient.__table__
COLUMNS = ("mrn", "given_name", "family_name", "date_of_birth", "sex", "language", "created_at", "deceased",
           "deceased_at")
INSERT = Prepared(insert(PATIENTS).returning(PATIENTS.c.id), COLUMNS)
READ = Prepared(select(PATIENTS.c.id, PATIENTS.c.date_of_birth, PATIENTS.c.deceased, PATIENTS.c.deceased_at,
                       literal(7).label("tag")).where(PATIENTS.c.mrn == bindparam("mrn")))
RENAME = Prepared(update(PATIENTS).where(PATIENTS.c.id == bindparam("patient_id")).values(
    family_name=bindparam("new_family_name")))
DIED = datetime(2026, 11, 24, 15, 30, 12, 345678, tzinfo=UTC)


def row(mrn: str) -> dict:
    return dict(mrn=mrn, given_name="Ana", family_name="Rivera", date_of_birth=date(1958, 2, 14), sex="F",
                language="es", created_at=DIED, deceased=True, deceased_at=DIED)


def test_given_a_row_written_and_read_by_prepared_statements_then_values_are_those_of_sqlalchemy(db):
    with db.session() as session:
        conn = session.connection()
        [(patient_id,)] = INSERT.rows(conn, row("P1"))
        RENAME.rows(conn, {"patient_id": patient_id, "new_family_name": "Byron"})
        found = READ.namespace(conn, {"mrn": "P1"})
        assert READ.first(conn, {"mrn": "nobody"}) is None
    assert (found.id, found.date_of_birth, found.deceased, found.deceased_at, found.tag) == (
        patient_id, date(1958, 2, 14), True, DIED, 7)
    with db.session() as session:
        stored = session.get(Patient, patient_id)
        assert (stored.family_name, stored.deceased_at, stored.date_of_birth) == ("Byron", DIED,
                                                                                  date(1958, 2, 14))


def test_given_a_unique_key_taken_when_inserted_then_sqlalchemys_integrity_error_and_nothing_written(db):
    with db.session() as session:
        INSERT.rows(session.connection(), row("P2"))
    with pytest.raises(IntegrityError), db.session() as session:
        INSERT.rows(session.connection(), row("P3"))
        INSERT.rows(session.connection(), row("P2"))
    with db.session() as session:
        assert READ.first(session.connection(), {"mrn": "P3"}) is None  # rolled back with its transaction


def test_given_an_insert_leaving_a_column_to_its_default_when_run_then_refused(db):
    leaving = Prepared(insert(PATIENTS), ("mrn", "given_name", "family_name", "date_of_birth"))
    with pytest.raises(ValueError, match="created_at"), db.session() as session:
        leaving.rows(session.connection(), row("P4"))

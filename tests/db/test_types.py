from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from callcenter.db.models import CallEvent, Encounter, Patient
from callcenter.db.types import UtcDateTime

PARIS_SUMMER = timezone(timedelta(hours=2))


def _store_event(db, ts) -> int:
    with db.session() as session:
        event = CallEvent(call_id="c" * 32, type="call_started", ts=ts)
        session.add(event)
        session.flush()
        return event.id


def test_given_aware_non_utc_time_when_stored_and_read_then_same_instant_in_utc_with_microseconds(db):
    written = datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER)

    event_id = _store_event(db, written)

    with db.session() as session:
        read = session.scalar(select(CallEvent.ts).where(CallEvent.id == event_id))
    assert read == written
    assert read.tzinfo is UTC
    assert (read.hour, read.microsecond) == (12, 123456)


def test_given_aware_time_when_stored_then_column_holds_naive_utc(db):
    event_id = _store_event(db, datetime(2026, 7, 1, 14, 30, tzinfo=PARIS_SUMMER))

    with db.engine.connect() as connection:
        raw = connection.execute(text("SELECT ts FROM call_events WHERE id = :id"), {"id": event_id}).scalar()
    if isinstance(raw, str):  # SQLite keeps datetimes as text
        raw = datetime.fromisoformat(raw)
    assert raw == datetime(2026, 7, 1, 12, 30)


def test_given_naive_time_when_stored_then_refused(db):
    with pytest.raises(StatementError, match="naive"):
        _store_event(db, datetime(2026, 7, 1, 12, 30))


def test_given_naive_time_when_used_in_a_query_then_refused(db):
    with pytest.raises(StatementError, match="naive"):
        with db.session() as session:
            session.scalars(select(Encounter).where(Encounter.started_at > datetime(2026, 1, 1))).all()


def test_given_defaulted_timestamp_when_row_is_read_back_then_it_is_aware_utc(db):
    with db.session() as session:
        patient = Patient(mrn="T1", given_name="Test", family_name="Patient",
                          date_of_birth=datetime(1980, 1, 1).date())
        session.add(patient)
        session.flush()
        patient_id = patient.id

    with db.session() as session:
        created = session.get(Patient, patient_id).created_at
    assert created.tzinfo is UTC
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


def test_given_none_when_bound_then_none_is_stored():
    assert UtcDateTime().process_bind_param(None, dialect=None) is None


def test_given_something_else_than_datetime_when_bound_then_type_error():
    with pytest.raises(TypeError):
        UtcDateTime().process_bind_param("2026-01-01T00:00:00Z", dialect=None)

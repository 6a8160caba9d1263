import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from callcenter.db.database import Database
from callcenter.db.models import AuditEvent, CallEvent

LOGS = [
    pytest.param(CallEvent, {"call_id": "c" * 32, "type": "call_started", "data": {"n": 1}},
                 id="call_events"),
    pytest.param(AuditEvent, {"action": "screen_pop", "patient_id": 1, "detail": {}}, id="audit_events"),
]


def _insert(db, model, fields) -> int:
    with db.session() as session:
        row = model(**fields)
        session.add(row)
        session.flush()
        return row.id


@pytest.mark.parametrize(("model", "fields"), LOGS)
def test_given_log_row_when_updated_through_orm_then_database_refuses(db, model, fields):
    row_id = _insert(db, model, fields)

    with pytest.raises(IntegrityError, match="append-only"):
        with db.session() as session:
            session.execute(update(model).where(model.id == row_id).values(ts=model.ts))


@pytest.mark.parametrize(("model", "fields"), LOGS)
def test_given_log_row_when_deleted_through_orm_then_database_refuses(db, model, fields):
    row_id = _insert(db, model, fields)

    with pytest.raises(IntegrityError, match="append-only"):
        with db.session() as session:
            session.execute(delete(model).where(model.id == row_id))

    with db.session() as session:
        assert session.get(model, row_id) is not None


@pytest.mark.parametrize(("model", "fields"), LOGS)
def test_given_log_row_when_changed_with_raw_sql_then_database_refuses(db, model, fields):
    _insert(db, model, fields)
    table = model.__tablename__

    for statement in (f"UPDATE {table} SET id = id + 1000", f"DELETE FROM {table}"):
        with pytest.raises(IntegrityError, match="append-only"):
            with db.engine.begin() as connection:
                connection.execute(text(statement))


@pytest.mark.parametrize(("model", "fields"), LOGS)
def test_given_log_when_rows_appended_then_they_are_kept_in_order(db, model, fields):
    ids = [_insert(db, model, fields) for _ in range(3)]

    with db.session() as session:
        assert list(session.scalars(select(model.id).order_by(model.id))) == sorted(ids)


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["call_events", "audit_events"])
def test_given_postgres_log_when_truncated_then_database_refuses(postgres_url, table):
    db = Database(postgres_url)
    try:
        db.upgrade()
        with pytest.raises(DBAPIError, match="append-only"):
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {table}"))
    finally:
        db.close()

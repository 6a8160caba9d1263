import asyncio
import threading
import time

import pytest
from sqlalchemy import func, insert, select, text

from callcenter.db.database import Database
from callcenter.db.models import Queue


def _count_queues(session) -> int:
    return session.scalar(select(func.count()).select_from(Queue))


def _add_queue(session, name: str) -> int:
    queue = Queue(name=name, title=name.title())
    session.add(queue)
    session.flush()
    return queue.id


def _add_queue_then_fail(session, name: str) -> None:
    _add_queue(session, name)
    raise RuntimeError("boom")


def _sleep_and_report_thread(session, seconds: float) -> int:
    session.execute(text("SELECT 1"))
    time.sleep(seconds)
    return threading.get_ident()


async def test_given_slow_database_work_when_run_then_event_loop_keeps_running(db):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        worker_thread = await db.run(_sleep_and_report_thread, 0.3)
    finally:
        task.cancel()

    assert worker_thread != threading.get_ident()
    assert ticks >= 10


async def test_given_function_that_returns_when_run_then_its_work_is_committed_and_result_returned(db):
    queue_id = await db.run(_add_queue, "general")

    assert isinstance(queue_id, int)
    assert await db.run(_count_queues) == 1


async def test_given_function_that_raises_when_run_then_error_propagates_and_work_is_rolled_back(db):
    with pytest.raises(RuntimeError, match="boom"):
        await db.run(_add_queue_then_fail, "general")

    assert await db.run(_count_queues) == 0


def _insert_queue_core(connection, name: str, fail: bool = False) -> str:
    connection.execute(insert(Queue.__table__), [{"name": name, "title": name.title(), "skill": name}])
    if fail:
        raise RuntimeError("boom")
    return type(connection).__name__


async def test_given_core_work_when_run_then_it_gets_a_plain_connection_committed_or_rolled_back(db):
    kind = await db.run(_insert_queue_core, "general", core=True)
    with pytest.raises(RuntimeError, match="boom"):
        await db.run_retrying(_insert_queue_core, "nurse", True, core=True)

    assert kind == "Connection"
    assert await db.run(lambda s: list(s.scalars(select(Queue.name)))) == ["general"]


async def test_given_many_concurrent_writers_when_run_then_all_commit(db):
    await asyncio.gather(*(db.run(_add_queue, f"q{i}") for i in range(20)))

    assert await db.run(_count_queues) == 20


def test_given_queue_without_skill_when_inserted_then_skill_defaults_to_name(db):
    with db.session() as session:
        _add_queue(session, "refills")

    with db.session() as session:
        queue = session.scalar(select(Queue))
    assert (queue.skill, queue.service_level_seconds, queue.moh_class, queue.priority) == ("refills", 30,
                                                                                           "default", 0)


def test_given_sync_session_when_block_raises_then_rolled_back(db):
    with pytest.raises(RuntimeError):
        with db.session() as session:
            _add_queue_then_fail(session, "general")

    with db.session() as session:
        assert _count_queues(session) == 0


def test_given_returned_object_when_session_is_closed_then_attributes_stay_readable(db):
    with db.session() as session:
        queue = Queue(name="nurse", title="Nurse")
        session.add(queue)

    assert (queue.name, queue.skill) == ("nurse", "nurse")


def test_given_sqlite_file_when_connected_then_wal_foreign_keys_and_busy_timeout_are_on(sqlite_url):
    db = Database(sqlite_url)
    try:
        with db.engine.connect() as connection:
            pragmas = [connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout")]
        assert pragmas == ["wal", 1, 5000]
    finally:
        db.close()


async def test_given_in_memory_sqlite_when_run_from_pool_then_every_call_sees_the_same_database():
    db = Database("sqlite://")
    try:
        db.upgrade()
        await db.run(_add_queue, "general")
        assert await db.run(_count_queues) == 1
    finally:
        db.close()


def test_given_url_with_password_when_repr_then_password_is_hidden():
    db = Database("postgresql+psycopg://callcenter:s3cret@127.0.0.1:1/callcenter")  # never connects
    try:
        assert "s3cret" not in repr(db)
    finally:
        db.close()

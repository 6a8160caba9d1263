"""No background job fails on lock contention: with other writers holding the database's write lock (SQLite)
or the KPI store's lock row (PostgreSQL) again and again, the event log writer loses no row and the KPI
store's background refresh keeps going and ends up current.

The application's Database gets a short SQLite busy timeout here, so that the contention a busy day causes
over seconds happens within a short test.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from callcenter.db.database import Database, is_contention
from callcenter.db.models import AuditEvent, CallEvent, KpiCall, KpiState, Queue
from callcenter.eventlog import EventLog

from ..kpi.test_compute import kpi_service

HOLD = 0.03    # s a hammer keeps the lock (two hammers: the lock is taken about half the time)
PAUSE = 0.09   # s between its transactions
CALLS = 60


class Hammer:
    """Threads that keep taking the write lock: an audit row inserted, then the transaction held open; on
    PostgreSQL the KPI store's lock row (kpi_state) is held too, the row every refresh waits for."""

    def __init__(self, url: str, threads: int = 2):
        self._db = Database(url, max_workers=1)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        self.transactions = 0

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._db.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._db.session() as session:
                    session.execute(insert(AuditEvent).values(action="hammer", detail={}))
                    session.execute(update(KpiState).values(fold_version=KpiState.fold_version))
                    time.sleep(HOLD)
                self.transactions += 1
            except Exception as exc:  # the hammer itself may lose a race: it only has to keep the lock busy
                if not is_contention(exc):
                    raise
            time.sleep(PAUSE)


def _write_calls(events: EventLog, now: datetime, count: int) -> list[str]:
    ids = []
    for n in range(count):
        call_id = uuid.uuid4().hex
        ids.append(call_id)
        ts = now - timedelta(seconds=count - n)
        events.event(call_id, "queued", queue_name="general", ts=ts)
        events.event(call_id, "connected", agent_id=1, queue_name="general", ts=ts + timedelta(seconds=0.5))
        events.event(call_id, "ended", queue_name="general", ts=ts + timedelta(seconds=0.9),
                     outcome="completed")
    return ids


async def _paced(events: EventLog, now: datetime) -> list[str]:
    """Calls written a few at a time, as a busy hour would, while the refresh runs."""
    ids = []
    for _ in range(6):
        ids += _write_calls(events, now, CALLS // 6)
        await asyncio.sleep(0.1)
    return ids


async def test_given_writers_holding_the_lock_when_calls_are_logged_and_the_kpi_store_refreshes_then_no_row_is_lost_and_the_refresh_never_fails(  # noqa: E501
        database_url, caplog):
    app_db = Database(database_url, busy_timeout_ms=20)
    app_db.upgrade()
    with app_db.session() as session:  # the lock row the refresh takes first
        session.execute(insert(KpiState).values(id=1, fold_version=0, folded_through=0))
    events = EventLog(app_db, batch_size=20)
    await events.start()
    now = datetime.now(UTC)
    kpi = kpi_service(app_db, clock=lambda: now)
    try:
        with caplog.at_level(logging.WARNING), Hammer(database_url) as hammer:
            kpi.start(every=0.05)
            ids = await _paced(events, now)
            await events.flush()
            await asyncio.wait_for(_until_stored(app_db, len(ids)), timeout=60)
            await kpi.stop()
            assert hammer.transactions > 0
        await kpi.refresh_today()  # and once more with nobody in the way: nothing was missed
    finally:
        await kpi.stop()
        await events.close()

    with app_db.session() as session:
        logged = session.scalar(select(func.count(func.distinct(CallEvent.call_id))))
        stored = session.scalar(select(func.count()).select_from(KpiCall))
    app_db.close()
    assert (events.failures, logged, stored) == (0, len(ids), len(ids))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    if database_url.startswith("sqlite"):  # the contention was real, and was waited out
        assert app_db.contention_retries > 0


async def _until_stored(db: Database, expected: int) -> None:
    while await db.run(lambda s: s.scalar(select(func.count()).select_from(KpiCall))) < expected:
        await asyncio.sleep(0.05)


def _lock_in_order(session, first: int, second: int, barrier: threading.Barrier,
                   met: threading.Event) -> None:
    session.execute(select(Queue.id).where(Queue.id == first).with_for_update())
    if not met.is_set():  # the first attempts meet here, each holding one row: a deadlock
        barrier.wait(timeout=10)
        met.set()
    session.execute(select(Queue.id).where(Queue.id == second).with_for_update())


@pytest.mark.postgres
async def test_given_two_transactions_that_deadlock_when_run_retrying_then_both_commit(postgres_url):
    db = Database(postgres_url)
    db.upgrade()
    with db.session() as session:
        session.add_all([Queue(id=1, name="a", title="A"), Queue(id=2, name="b", title="B")])
    barrier, met = threading.Barrier(2), threading.Event()
    try:
        await asyncio.gather(db.run_retrying(_lock_in_order, 1, 2, barrier, met),
                             db.run_retrying(_lock_in_order, 2, 1, barrier, met))
    finally:
        db.close()

    assert db.contention_retries == 1  # PostgreSQL broke the deadlock by failing one; it ran again

"""The writer of the call event log and of every call-related row.

Call logic must not wait on the database in the middle of a call, and the log must keep the order in which
things happened. So every write is an operation put on one queue; one task drains it and runs each batch in a
single transaction in the database thread pool. Timestamps are taken when the operation is queued, not when it
is written, so a slow disk never skews the log.

Call events, most of what is written, are queued as plain rows and written with one
multi-row INSERT per run of rows of the same table (no ORM object per row): the writer is on every call's
path, and the ORM's unit of work cost more CPU than the rest of the write. A batch that loses a race for the
database lock is run again after a pause (`Database.run_retrying`), never dropped for it.

A row may bring rows that must commit with it (`Row.also`): the webhook outbox (webhooks/outbox.py) gives
the call events a hospital's systems subscribe to an outbox row written in the same transaction as the call
event itself, so an event is sent if and only if it was logged. They are inserted at the end of their batch
(one INSERT per table, the log's own runs of rows stay unbroken). Audit rows are not queued: each is written
in the transaction of the read or change it records (db.queries.add_audit_event).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from .db.database import Database
from .db.models import CallEvent
from .vocabulary import EVENT_TYPES

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class Row:
    """A row to insert as it is (no ORM object): consecutive Rows of one table become one INSERT."""
    table: Table
    values: dict[str, Any]
    also: tuple[Row, ...] = ()  # rows that commit with this one, in the same transaction


# Rows another table needs written with a call event (the webhook outbox): given the table and the row's
# values, the rows to add (usually none). Wired in main.py.
Companion = Callable[[Table, dict[str, Any]], tuple[Row, ...]]


Operation = Callable[[Session], None] | Row
CALL_EVENTS: Table = CallEvent.__table__


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventLog:
    def __init__(self, db: Database, batch_size: int = 200, companion: Companion | None = None):
        self._db = db
        self._companion = companion
        self._queue: asyncio.Queue[Operation | None] = asyncio.Queue()
        self._batch_size = batch_size
        self._task: asyncio.Task | None = None
        self.failures = 0
        # Called with (call_id, type, queue_name, ts, data) of every call event as it is logged (metrics).
        self.listeners: list[Callable[[str | None, str, str | None, datetime, dict], None]] = []

    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="eventlog-writer")

    async def close(self) -> None:
        if self._task:
            await self.flush()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def write(self, op: Operation) -> None:
        self._queue.put_nowait(op)

    def event(self, call_id: str | None, type_: str, *, agent_id: int | None = None,
              queue_name: str | None = None, ts: datetime | None = None, **data) -> datetime:
        if type_ not in EVENT_TYPES:
            # A new type is added to vocabulary.py first, so the KPIs and reports know of it.
            raise ValueError(f"unknown call event type {type_!r}")
        ts = ts or utcnow()
        log.debug("call event %s", type_, extra={"call_id": call_id})  # not its data: it may name a patient
        for listener in self.listeners:
            listener(call_id, type_, queue_name, ts, data)
        self.write(self._row(CALL_EVENTS, dict(call_id=call_id, ts=ts, type=type_, agent_id=agent_id,
                                               queue_name=queue_name, data=data)))
        return ts

    def add_event(self, session: Session, call_id: str | None, type_: str, *, agent_id: int | None = None,
                  queue_name: str | None = None, **data) -> datetime:
        """A call event written in the caller's own transaction (a wrap-up saved with its disposition row),
        with its companions: the one way to write a call event that is not queued. Runs in a database thread:
        the listeners (event loop side) are not told."""
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown call event type {type_!r}")
        ts = utcnow()
        _apply(session, [self._row(CALL_EVENTS, dict(call_id=call_id, ts=ts, type=type_, agent_id=agent_id,
                                                     queue_name=queue_name, data=data))])
        return ts

    def _row(self, table: Table, values: dict[str, Any]) -> Row:
        return Row(table, values, self._companion(table, values) if self._companion else ())

    async def flush(self) -> None:
        """Wait until everything queued so far is in the database."""
        await self._queue.join()

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._db.run_retrying(_apply, batch)
            except Exception:
                self.failures += 1
                log.exception("event log batch of %d operations failed; retrying one by one", len(batch))
                await self._one_by_one(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _one_by_one(self, batch: list[Operation]) -> None:
        for op in batch:
            try:
                await self._db.run_retrying(_apply, [op])
            except Exception:
                log.exception("event log operation dropped after retry")


def _apply(session: Session, ops: list[Operation]) -> None:
    """Run the operations in order: each run of Rows of one table as one INSERT, the rest one by one; then
    the rows that must commit with them (Row.also), one INSERT per table."""
    rows: list[Row] = []
    also: dict[Table, list[Row]] = {}
    for op in ops:
        if isinstance(op, Row):
            if rows and rows[0].table is not op.table:
                _insert(session, rows)
            rows.append(op)
            for extra in op.also:
                also.setdefault(extra.table, []).append(extra)
            continue
        _insert(session, rows)
        op(session)
        session.flush()
    _insert(session, rows)
    for extra in also.values():
        _insert(session, extra)


def _insert(session: Session, rows: list[Row]) -> None:
    if rows:
        session.execute(insert(rows[0].table), [row.values for row in rows])
        rows.clear()

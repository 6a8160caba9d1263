"""The writer of the call event log and of every call-related row.

Call logic must not wait on the database in the middle of a call, and the log must keep the order in which
things happened. So every write is an operation put on one queue; one task drains it and runs each batch in a
single transaction in the database thread pool. Timestamps are taken when the operation is queued, not when it
is written, so a slow disk never skews the log.

What a call writes (its events, its row, its legs, the agents' states) is queued as data, not as ORM work:
a `Row` to insert or an `Update` of one row. A batch writes its Rows with one multi-row INSERT per table
(parents first, each table's rows in the order they were queued), then its Updates: those of one row that
follow each other become one, and updates of the same shape go out as one executemany. The writer is on every
call's path, and the ORM's unit of work and bulk-update machinery cost more CPU than the rest of the write.
Every operation queued is written; none is dropped or left for later, so what a restart reads
(calls/reconcile.py) is what it read before. A batch that loses a race for the database lock is run again
after a pause (`Database.run_retrying`), never dropped for it.

A row may bring rows that must commit with it (`Row.also`): the webhook outbox (webhooks/outbox.py) gives
the call events a hospital's systems subscribe to an outbox row written in the same transaction as the call
event itself, so an event is sent if and only if it was logged. Audit rows are not queued: each is written
in the transaction of the read or change it records (db.queries.add_audit_event).
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Insert, Table, bindparam, insert, update
from sqlalchemy import Update as UpdateStatement
from sqlalchemy.orm import Session

from .db.database import Database
from .db.models import Base, CallEvent
from .vocabulary import EVENT_TYPES

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class Row:
    """A row to insert as it is (no ORM object): consecutive Rows of one table become one INSERT."""
    table: Table
    values: dict[str, Any]
    also: tuple[Row, ...] = ()  # rows that commit with this one, in the same transaction


@dataclass(frozen=True, slots=True)
class Update:
    """UPDATE `table` SET `values` WHERE each `match` column equals its value and each `unset` column is
    NULL (a guard: "close the leg unless it is closed already"). Always of rows inserted before it."""
    table: Table
    match: tuple[tuple[str, Any], ...]
    values: dict[str, Any]
    unset: tuple[str, ...] = ()


# Rows another table needs written with a call event (the webhook outbox): given the table and the row's
# values, the rows to add (usually none). Wired in main.py.
Companion = Callable[[Table, dict[str, Any]], tuple[Row, ...]]


Operation = Callable[[Session], None] | Row | Update
CALL_EVENTS: Table = CallEvent.__table__
# Parents before children: a batch inserts its rows table by table in this order (foreign keys).
TABLE_ORDER = {table: i for i, table in enumerate(Base.metadata.sorted_tables)}


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

    def insert(self, table: Table, **values) -> None:
        """Queue a row to insert as it is (with its companions, as for a call event)."""
        self.write(self._row(table, values))

    def update(self, table: Table, match: dict[str, Any], *, unset: tuple[str, ...] = (), **values) -> None:
        """Queue an update of the rows whose `match` columns have these values (and whose `unset` columns are
        NULL), e.g. `update(CALLS, {"id": call_id}, status="queued")`."""
        self.write(Update(table, tuple(match.items()), values, unset))

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
                await self._db.run_retrying(_apply, batch, core=_core_only(batch))
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
                await self._db.run_retrying(_apply, [op], core=_core_only([op]))
            except Exception:
                log.exception("event log operation dropped after retry")


def _core_only(ops: list[Operation]) -> bool:
    """Rows and Updates only (no callable wants a Session): the batch runs on a plain Connection."""
    return all(isinstance(op, (Row, Update)) for op in ops)


def _apply(session: Session | Connection, ops: list[Operation]) -> None:
    """Write the operations: Rows and Updates as data (`_write_pending`), a callable as is, in its place.
    `session` is a plain Connection when there is no callable (`_core_only`): every statement here is Core."""
    rows: dict[Table, list[Row]] = {}
    updates: list[Update] = []
    for op in ops:
        if isinstance(op, Row):
            for row in (op, *op.also):
                rows.setdefault(row.table, []).append(row)
        elif isinstance(op, Update):
            updates.append(op)
        else:  # a callable may read or change what was queued before it: that is written first
            _write_pending(session, rows, updates)
            op(session)
            session.flush()
    _write_pending(session, rows, updates)


def _write_pending(session: Session | Connection, rows: dict[Table, list[Row]],
                   updates: list[Update]) -> None:
    """The rows, table by table (parents first; one INSERT per run of rows with the same columns, in the
    order queued), then the updates (each of a row inserted before it was queued)."""
    for table in sorted(rows, key=lambda t: TABLE_ORDER.get(t, len(TABLE_ORDER))):
        for _, run in itertools.groupby(rows[table], key=lambda row: row.values.keys()):
            session.execute(_insert_statement(table), [row.values for row in run])
    rows.clear()
    _update(session, updates)
    updates.clear()


def _update(session: Session | Connection, updates: list[Update]) -> None:
    """Updates of one row that follow each other become one (the later value of a column wins), unless one
    has a guard; then round by round (the first remaining update of every row, then the second...), one
    executemany per shape, so that each row's updates still run in the order they were queued."""
    per_row: dict[tuple, list[Update]] = {}
    for u in updates:
        queued = per_row.setdefault((u.table, u.match), [])
        if queued and not queued[-1].unset and not u.unset:
            queued[-1] = Update(u.table, u.match, queued[-1].values | u.values)
        else:
            queued.append(u)
    for round_ in itertools.zip_longest(*per_row.values()):
        shapes: dict[tuple, list[dict[str, Any]]] = {}
        for u in filter(None, round_):
            shape = (u.table, tuple(k for k, _ in u.match), u.unset, tuple(sorted(u.values)))
            shapes.setdefault(shape, []).append(
                {f"m_{k}": v for k, v in u.match} | {f"v_{k}": v for k, v in u.values.items()})
        for shape, params in shapes.items():
            session.execute(_update_statement(*shape), params)


@functools.cache
def _insert_statement(table: Table) -> Insert:
    """Built once per table: SQLAlchemy keeps a statement's cache key, a new statement's is computed again."""
    return insert(table)


@functools.lru_cache(maxsize=512)
def _update_statement(table: Table, match: tuple[str, ...], unset: tuple[str, ...],
                      columns: tuple[str, ...]) -> UpdateStatement:
    c = table.c
    statement = update(table).values({k: bindparam(f"v_{k}", type_=c[k].type) for k in columns})
    for k in match:
        statement = statement.where(c[k] == bindparam(f"m_{k}", type_=c[k].type))
    for k in unset:
        statement = statement.where(c[k].is_(None))
    return statement

"""Engine, sessions and migrations.

The event loop never waits on the database: `Database.run(fn, *args)` runs `fn(session, *args)` in a bounded
thread pool that the Database owns, inside one transaction. `fn` is plain synchronous SQLAlchemy code.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from ..private_files import make_private

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_WORKERS = 4
SQLITE_BUSY_TIMEOUT_MS = 5000
# run_retrying: attempts, and the first and longest pause between them (doubling, with jitter). With SQLite's
# busy timeout spent on each attempt first, a writer gives up only after about a minute of contention.
RETRY_ATTEMPTS = 10
RETRY_FIRST_DELAY = 0.05
RETRY_MAX_DELAY = 2.0
# PostgreSQL SQLSTATEs of a lost lock race: serialization failure, deadlock detected, lock not available.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
SQLITE_LOCK_MESSAGES = ("database is locked", "database table is locked", "database is busy")


class Database:
    def __init__(self, url: str | URL, *, max_workers: int = DEFAULT_WORKERS, echo: bool = False,
                 busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS):
        self.url = make_url(url)
        if _is_sqlite_memory(self.url):
            # One shared connection: every thread must see the same in-memory database.
            max_workers = 1
        self.engine = _create_engine(self.url, max_workers, echo, busy_timeout_ms)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="db")
        self.contention_retries = 0  # transactions run again after losing a lock race (for /metrics)
        # Called with the seconds each transaction of run() took (the DB latency of /metrics).
        self.observers: list[Callable[[float], None]] = []

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    async def run(self, fn: Callable[..., T], *args: Any, core: bool = False) -> T:
        """Run `fn(session, *args)` in the pool, in a transaction: commit on return, roll back on raise.

        Objects returned stay usable after the session closes (expire_on_commit=False) but are detached: load
        what the caller needs inside `fn`. If the awaiting task is cancelled, the work still completes in its
        thread; only the result is lost.

        `core=True` gives `fn` a plain Connection in its transaction instead of an ORM Session: for work that
        is Core statements only and runs on every call's path (the event log's batches), where the Session's
        own bookkeeping is a cost of its own.
        """
        loop = asyncio.get_running_loop()
        # Copy the context so log records written inside fn keep their call-id context.
        work = functools.partial(contextvars.copy_context().run, self._transaction, fn, args, core)
        return await loop.run_in_executor(self._executor, work)

    async def run_retrying(self, fn: Callable[..., T], *args: Any, attempts: int = RETRY_ATTEMPTS,
                           core: bool = False) -> T:
        """`run`, run again with a growing pause when the transaction lost a race for a lock (SQLite busy
        past its timeout, a PostgreSQL deadlock): what background jobs use, so contention under load slows
        them down instead of ending them. The transaction was rolled back, so `fn` must only touch the
        session (no other side effects), as `run` asks anyway."""
        delay = RETRY_FIRST_DELAY
        for attempt in range(1, attempts + 1):
            try:
                return await self.run(fn, *args, core=core)
            except DBAPIError as exc:
                if attempt == attempts or not is_contention(exc):
                    raise
                self.contention_retries += 1
                log.warning("%s lost a lock race (attempt %d of %d): %s; again in %.2f s",
                            getattr(fn, "__name__", "transaction"), attempt, attempts, exc.orig, delay)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, RETRY_MAX_DELAY)
        raise AssertionError("unreachable")

    def run_here(self, fn: Callable[..., T], *args: Any, core: bool = False) -> T:
        """`run` in the calling thread, blocking it: for work that already has a thread of its own (a
        connection of the MLLP listener), where the hand-over to the pool and back would cost more than the
        transaction."""
        return self._transaction(fn, args, core)

    def _transaction(self, fn: Callable[..., T], args: tuple, core: bool = False) -> T:
        started = time.perf_counter()
        try:
            with self.engine.begin() if core else self.sessionmaker.begin() as target:
                return fn(target, *args)
        finally:
            for observe in self.observers:
                observe(time.perf_counter() - started)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction for synchronous code (CLI, tests): commit on exit, roll back on error."""
        with self.sessionmaker.begin() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` with Alembic, over this Database's own engine."""
        with self.engine.begin() as connection:
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


def alembic_config(url: str | URL) -> Config:
    """An Alembic Config built in code: the migrations ship inside the package, no alembic.ini needed."""
    url = make_url(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = url
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    db = Database(url, max_workers=1)
    try:
        db.upgrade(revision)
    finally:
        db.close()


def is_contention(exc: BaseException) -> bool:
    """Did a transaction fail only because another held a lock it needed (so running it again can succeed)?"""
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:  # psycopg
        return True
    message = str(exc.orig).lower()
    return any(text in message for text in SQLITE_LOCK_MESSAGES)


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _create_engine(url: URL, pool_size: int, echo: bool, busy_timeout_ms: int) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, pool_size, echo, busy_timeout_ms)
    # Every worker thread holds at most one connection; a little overflow for the sync session() users.
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=2, pool_pre_ping=True,
                         pool_recycle=1800, pool_timeout=30)


def _create_sqlite_engine(url: URL, pool_size: int, echo: bool, busy_timeout_ms: int) -> Engine:
    # pysqlite's default (legacy) transaction handling is kept on purpose: it begins the transaction at the
    # first write, so concurrent writers wait on busy_timeout for the lock instead of failing at once with
    # SQLITE_BUSY_SNAPSHOT, which an explicit BEGIN before a read would cause under WAL.
    if _is_sqlite_memory(url):
        engine = create_engine(url, echo=echo, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        _private_database_files(Path(url.database))
        engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=2)
    event.listen(engine, "connect", functools.partial(_configure_sqlite_connection, busy_timeout_ms))
    return engine


def _private_database_files(path: Path) -> None:
    """The database holds patient records: owner-only before SQLite opens it (its -wal and -shm files take the
    database file's mode; ones left by an earlier run are tightened too)."""
    make_private(path)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            make_private(extra)


def _configure_sqlite_connection(busy_timeout_ms: int, dbapi_connection, connection_record) -> None:
    # WAL: readers never wait for the writer; the busy timeout: a writer waits for the lock that long before
    # SQLITE_BUSY, which run_retrying then turns into a pause and another attempt.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    finally:
        cursor.close()

"""The one lifecycle of an outbox worker (webhook deliveries, texts, and any outbox after them): start, kick,
a poll loop with one HTTP session, stop handing back its claims, and the retry delay with jitter.

What differs between outboxes (what a pass claims, how a row is sent and settled, how claims are handed
back) is a small `Outbox` object passed in; the worker gives it its name, clock and retry rule. Top-level, so
that a feature package needs no other feature package for it (tests/unit/test_import_graph.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp
from sqlalchemy.orm import Session

from .db.database import Database
from .db.types import utcnow

log = logging.getLogger(__name__)


class OutboxSettings(Protocol):
    """The fields every outbox's config section has (config.WebhooksConfig, config.SmsConfig)."""
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    timeout_seconds: float
    lease_seconds: float
    poll_seconds: float
    batch: int
    worker: str


class Outbox(Protocol):
    """What one kind of outbox does; `OutboxWorker` does the rest."""
    kind: str  # names the worker's task, its log lines and its default name in claims

    async def round(self, worker: OutboxWorker, http: aiohttp.ClientSession) -> bool:
        """One pass: claim what is due as `worker.name`, send it, settle it. True if more may be due now."""
        ...

    def release(self, session: Session, worker: str) -> object:
        """Hand back what `worker` still has claimed (in the given transaction)."""
        ...


class OutboxWorker:
    def __init__(self, db: Database, settings: OutboxSettings, outbox: Outbox, *, name: str = "",
                 rng: random.Random | None = None, clock: Callable[[], datetime] = utcnow):
        self.db, self.settings, self.outbox, self.clock = db, settings, outbox, clock
        default = f"{socket.gethostname()}-{os.getpid()}-{outbox.kind}-{id(self):x}"
        self.name = name or settings.worker or default
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"{self.outbox.kind}-outbox")

    def kick(self) -> None:
        """Look now instead of at the next poll (a row was just queued, or re-sent from the console)."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends under way (each bounded by the timeout), then hand back what is still claimed."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await self.db.run_retrying(self.outbox.release, self.name)

    async def round(self, http: aiohttp.ClientSession) -> bool:
        return await self.outbox.round(self, http)

    def lease(self) -> timedelta:
        """How long a claim is this worker's: past it, another worker may take the row."""
        return timedelta(seconds=self.settings.lease_seconds)

    def retry_at(self, attempts: int) -> datetime | None:
        """When to try again after `attempts` failed ones; None: that was the last ([...] max_attempts)."""
        if attempts >= self.settings.max_attempts:
            return None
        return self.clock() + timedelta(seconds=self.backoff(attempts))

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: doubling from backoff_seconds up to
        backoff_max_seconds, then a random half of it taken off, so receivers coming back are not hit by
        every sender at the same instant."""
        s = self.settings
        delay = min(s.backoff_max_seconds, s.backoff_seconds * 2 ** (attempts - 1))
        return delay * self._rng.uniform(0.5, 1.0)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stopping:
                if not await self._round_safely(http):
                    await self._idle()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
        self._wake.clear()

    async def _round_safely(self, http: aiohttp.ClientSession) -> bool:
        try:
            return await self.round(http)
        except Exception:  # the database away for a moment: the next round tries again
            log.exception("%s outbox: a round failed", self.outbox.kind)
            return False

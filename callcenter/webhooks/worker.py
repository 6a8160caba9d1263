"""The delivery worker: addresses outbox rows to subscriptions, claims due deliveries, POSTs each signed,
and settles it: delivered on a 2xx, else retried with exponential backoff and jitter, dead after
[webhooks] max_attempts.

Nothing is lost by a restart: deliveries live in the database; a worker stopping hands back its claims, and
one that died loses them when their lease ends. A delivery is marked delivered in the transaction right after
its 2xx, and a marked one is never claimed again, so none is sent twice after a receiver took it; the one
window left (a crash between the 2xx and that commit) is why each request names its event and delivery
(X-Callcenter-Event, X-Callcenter-Delivery), for receivers to de-duplicate.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from ..db.database import Database
from ..db.types import utcnow
from .signing import HEADER, signature
from .store import DEAD, DELIVERED, PENDING, Attempt, Claimed, address, claim, purge, release, settle

log = logging.getLogger(__name__)

OUTBOX_BATCH = 500
PURGE_EVERY_SECONDS = 3600.0


class DeliveryWorker:
    def __init__(self, db: Database, settings, *, name: str = "", rng: random.Random | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._settings = settings  # config.WebhooksConfig
        self.name = name or settings.worker or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._rng = rng or random.Random()
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._purged_at: float | None = None  # monotonic; None: at the first round

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="webhook-deliveries")

    def kick(self) -> None:
        """Look now instead of at the next poll (a re-send from the console)."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends under way (each bounded by the timeout), then hand back what is still claimed."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await self._db.run_retrying(release, self.name)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stopping:
                busy = await self._round_safely(http)
                if not busy:
                    await self._idle()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
        self._wake.clear()

    async def _round_safely(self, http: aiohttp.ClientSession) -> bool:
        try:
            return await self.round(http)
        except Exception:  # the database away for a moment: the next round tries again
            log.exception("webhook delivery round failed")
            return False

    async def round(self, http: aiohttp.ClientSession) -> bool:
        """One pass: address new events, send what is due. True if there may be more to do at once."""
        addressed = await self._db.run_retrying(address, OUTBOX_BATCH)
        await self._purge_now_and_then()
        lease = timedelta(seconds=self._settings.lease_seconds)
        batch = self._settings.batch
        claimed = await self._db.run_retrying(claim, self.name, self._clock(), lease, batch)
        await asyncio.gather(*(self._deliver(http, delivery) for delivery in claimed))
        return addressed == OUTBOX_BATCH or len(claimed) == batch

    async def _purge_now_and_then(self) -> None:
        if self._purged_at is not None and time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = time.monotonic()
        before = self._clock() - timedelta(days=self._settings.keep_days)
        if removed := await self._db.run_retrying(purge, before):
            log.info("webhooks: %d settled deliveries older than %g days deleted", removed,
                     self._settings.keep_days)

    async def _deliver(self, http: aiohttp.ClientSession, delivery: Claimed) -> None:
        status_code, error = await self._post(http, delivery)
        attempt = self._outcome(delivery, status_code, error)
        if attempt.status != DELIVERED:
            log.warning("webhook delivery %s (subscription %s, %s) attempt %d failed: %s; %s", delivery.id,
                        delivery.subscription_id, delivery.type, delivery.attempts + 1, error, attempt.status)
        if not await self._db.run_retrying(settle, self.name, delivery.id, attempt):
            log.warning("webhook delivery %s: claim lost before it was settled", delivery.id)

    async def _post(self, http: aiohttp.ClientSession, delivery: Claimed) -> tuple[int | None, str | None]:
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "callcenter-webhooks",
                   HEADER: signature(delivery.secret, int(time.time()), body),
                   "X-Callcenter-Event": delivery.event_id, "X-Callcenter-Event-Type": delivery.type,
                   "X-Callcenter-Delivery": str(delivery.id)}
        try:
            async with http.post(delivery.url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, (f"{type(exc).__name__}: {exc}")[:200]
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    def _outcome(self, delivery: Claimed, status_code: int | None, error: str | None) -> Attempt:
        now = self._clock()
        if error is None:
            return Attempt(DELIVERED, now, status_code)
        attempts = delivery.attempts + 1
        if attempts >= self._settings.max_attempts:
            return Attempt(DEAD, now, status_code, error)
        return Attempt(PENDING, now, status_code, error, now + timedelta(seconds=self.backoff(attempts)))

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: doubling from backoff_seconds up to
        backoff_max_seconds, then a random half of it taken off, so receivers coming back are not hit by
        every sender at the same instant."""
        s = self._settings
        delay = min(s.backoff_max_seconds, s.backoff_seconds * 2 ** (attempts - 1))
        return delay * self._rng.uniform(0.5, 1.0)

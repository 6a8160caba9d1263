"""The delivery worker: addresses outbox rows to subscriptions, claims due deliveries, POSTs each signed,
and settles it: delivered on a 2xx, else retried with exponential backoff and jitter, dead after
[webhooks] max_attempts.

Nothing is lost by a restart: deliveries live in the database; a worker stopping hands back its claims, and
one that died loses them when their lease ends. A delivery is marked delivered in the transaction right after
its 2xx, and a marked one is never claimed again, so none is sent twice after a receiver took it; the one
window left (a crash between the 2xx and that commit) is why each request names its event and delivery
(X-Callcenter-Event, X-Callcenter-Delivery), for receivers to de-duplicate. The loop, the stop and the
retry delay are every outbox's (callcenter/outbox.py).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from ..db.database import Database
from ..db.types import utcnow
from ..outbox import OutboxWorker
from .signing import HEADER, signature
from .store import DEAD, DELIVERED, PENDING, Attempt, Claimed, address, claim, purge, release, settle

log = logging.getLogger(__name__)

OUTBOX_BATCH = 500
PURGE_EVERY_SECONDS = 3600.0


class DeliveryOutbox:
    """The webhooks' part of an outbox worker: address new events, purge old deliveries now and then, claim
    due deliveries, POST each signed, settle it."""
    kind = "webhook"
    release = staticmethod(release)

    def __init__(self) -> None:
        self._purged_at: float | None = None  # monotonic; None: at the first round

    async def round(self, worker: OutboxWorker, http: aiohttp.ClientSession) -> bool:
        addressed = await worker.db.run_retrying(address, OUTBOX_BATCH)
        await self._purge_now_and_then(worker)
        batch = worker.settings.batch
        claimed = await worker.db.run_retrying(claim, worker.name, worker.clock(), worker.lease(), batch)
        await asyncio.gather(*(self._deliver(worker, http, delivery) for delivery in claimed))
        return addressed == OUTBOX_BATCH or len(claimed) == batch

    async def _purge_now_and_then(self, worker: OutboxWorker) -> None:
        if self._purged_at is not None and time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = time.monotonic()
        keep_days = worker.settings.keep_days
        if removed := await worker.db.run_retrying(purge, worker.clock() - timedelta(days=keep_days)):
            log.info("webhooks: %d settled deliveries older than %g days deleted", removed, keep_days)

    async def _deliver(self, worker: OutboxWorker, http: aiohttp.ClientSession, delivery: Claimed) -> None:
        status_code, error = await self._post(http, delivery)
        attempt = self._outcome(worker, delivery, status_code, error)
        if attempt.status != DELIVERED:
            log.warning("webhook delivery %s (subscription %s, %s) attempt %d failed: %s; %s", delivery.id,
                        delivery.subscription_id, delivery.type, delivery.attempts + 1, error, attempt.status)
        if not await worker.db.run_retrying(settle, worker.name, delivery.id, attempt):
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

    def _outcome(self, worker: OutboxWorker, delivery: Claimed, status_code: int | None,
                 error: str | None) -> Attempt:
        now = worker.clock()
        if error is None:
            return Attempt(DELIVERED, now, status_code)
        retry_at = worker.retry_at(delivery.attempts + 1)
        return Attempt(DEAD if retry_at is None else PENDING, now, status_code, error, retry_at)


class DeliveryWorker(OutboxWorker):
    """An outbox worker wired with the webhooks' outbox (settings: config.WebhooksConfig)."""

    def __init__(self, db: Database, settings, *, name: str = "", rng: random.Random | None = None,
                 clock: Callable[[], datetime] = utcnow):
        super().__init__(db, settings, DeliveryOutbox(), name=name, rng=rng, clock=clock)

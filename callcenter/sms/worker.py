"""The SMS worker: claims due texts from the outbox (store.py), hands each to the gateway, and settles it:
sent when the gateway took it (its delivery report comes later, http.py), else retried with exponential
backoff and jitter, dead after [sms] max_attempts; a text the gateway refused for good (a bad number) is
dead at once.

Nothing is lost by a restart: texts live in the database; a worker stopping hands back its claims, one that
died loses them when their lease ends. The one window left is a crash between the gateway's "accepted" and
the commit of `sent`: that text goes out twice rather than never.
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

import aiohttp

from ..db.database import Database
from ..db.types import utcnow
from . import store
from .exceptions import GatewayError
from .gateway import OutgoingText, SmsGateway

log = logging.getLogger(__name__)


class SmsWorker:
    def __init__(self, db: Database, gateway: SmsGateway, settings, report_url: Callable[[int], str], *,
                 hospital_zone: str = "UTC", clock: Callable[[], datetime] = utcnow,
                 rng: random.Random | None = None):
        self._db, self._gateway, self._settings = db, gateway, settings  # settings: config.SmsConfig
        self._report_url, self._zone, self._clock = report_url, hospital_zone, clock
        self.name = settings.worker or f"{socket.gethostname()}-{os.getpid()}-sms-{id(self):x}"
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="sms-worker")

    def kick(self) -> None:
        """Look now instead of at the next poll (a text was just queued)."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends under way (each bounded by the timeout), then hand back what is still claimed."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await self._db.run_retrying(store.release, self.name)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stopping:
                if not await self._round_safely(http):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                    self._wake.clear()

    async def _round_safely(self, http: aiohttp.ClientSession) -> bool:
        try:
            return await self.round(http)
        except Exception:  # the database away for a moment: the next round tries again
            log.exception("SMS round failed")
            return False

    async def round(self, http: aiohttp.ClientSession) -> bool:
        """One pass: claim what is due, send it. True if there may be more to do at once."""
        s = self._settings
        claimed = await self._db.run_retrying(store.claim, self.name, self._clock(),
                                              timedelta(seconds=s.lease_seconds), s.batch, self._zone)
        await asyncio.gather(*(self._send(http, text) for text in claimed))
        return len(claimed) == s.batch

    async def _send(self, http: aiohttp.ClientSession, text: store.Claimed) -> None:
        outgoing = OutgoingText(text.id, text.e164, text.body, self._report_url(text.id))
        try:
            await self._gateway.send(http, outgoing)
        except GatewayError as exc:
            retry_at = self._retry_at(text.attempts + 1) if exc.retry else None
            log.warning("text %s attempt %d not sent: %s; %s", text.id, text.attempts + 1, exc,
                        "again later" if retry_at else "dead")
            settled = await self._db.run_retrying(store.failed, self.name, text.id, str(exc), retry_at)
        else:
            settled = await self._db.run_retrying(store.sent, self.name, text.id, self._clock())
        if not settled:
            log.warning("text %s: claim lost before it was settled", text.id)

    def _retry_at(self, attempts: int) -> datetime | None:
        s = self._settings
        if attempts >= s.max_attempts:
            return None
        return self._clock() + timedelta(seconds=self.backoff(attempts))

    def backoff(self, attempts: int) -> float:
        """Doubling from backoff_seconds up to backoff_max_seconds, a random half taken off."""
        s = self._settings
        delay = min(s.backoff_max_seconds, s.backoff_seconds * 2 ** (attempts - 1))
        return delay * self._rng.uniform(0.5, 1.0)

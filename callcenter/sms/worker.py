"""The SMS worker: claims due texts from the outbox (store.py), hands each to the gateway, and settles it:
sent when the gateway took it (its delivery report comes later, http.py), else retried with exponential
backoff and jitter, dead after [sms] max_attempts; a text the gateway refused for good (a bad number) is
dead at once. The loop, the stop and the retry delay are every outbox's (callcenter/outbox.py).

Nothing is lost by a restart: texts live in the database; a worker stopping hands back its claims, one that
died loses them when their lease ends. The one window left is a crash between the gateway's "accepted" and
the commit of `sent`: that text goes out twice rather than never.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime

import aiohttp

from ..db.database import Database
from ..db.types import utcnow
from ..outbox import OutboxWorker
from . import store
from .exceptions import GatewayError
from .gateway import OutgoingText, SmsGateway

log = logging.getLogger(__name__)


class SmsOutbox:
    """The texts' part of an outbox worker: claim due texts (screened in the patient's zone), send, settle."""
    kind = "sms"
    release = staticmethod(store.release)

    def __init__(self, gateway: SmsGateway, report_url: Callable[[int], str], hospital_zone: str):
        self._gateway, self._report_url, self._zone = gateway, report_url, hospital_zone

    async def round(self, worker: OutboxWorker, http: aiohttp.ClientSession) -> bool:
        batch = worker.settings.batch
        claimed = await worker.db.run_retrying(store.claim, worker.name, worker.clock(), worker.lease(),
                                               batch, self._zone)
        await asyncio.gather(*(self._send(worker, http, text) for text in claimed))
        return len(claimed) == batch

    async def _send(self, worker: OutboxWorker, http: aiohttp.ClientSession, text: store.Claimed) -> None:
        outgoing = OutgoingText(text.id, text.e164, text.body, self._report_url(text.id))
        try:
            await self._gateway.send(http, outgoing)
        except GatewayError as exc:
            retry_at = worker.retry_at(text.attempts + 1) if exc.retry else None
            log.warning("text %s attempt %d not sent: %s; %s", text.id, text.attempts + 1, exc,
                        "again later" if retry_at else "dead")
            settled = await worker.db.run_retrying(store.failed, worker.name, text.id, str(exc), retry_at)
        else:
            settled = await worker.db.run_retrying(store.sent, worker.name, text.id, worker.clock())
        if not settled:
            log.warning("text %s: claim lost before it was settled", text.id)


class SmsWorker(OutboxWorker):
    """An outbox worker wired with the texts' outbox (settings: config.SmsConfig)."""

    def __init__(self, db: Database, gateway: SmsGateway, settings, report_url: Callable[[int], str], *,
                 hospital_zone: str = "UTC", clock: Callable[[], datetime] = utcnow,
                 rng: random.Random | None = None):
        super().__init__(db, settings, SmsOutbox(gateway, report_url, hospital_zone), rng=rng, clock=clock)

"""In-process scheduler: runs each campaign when its cron `schedule` (hospital time zone) comes due.

Enabled by `[campaigns] scheduler = true`; a site that prefers an external cron leaves it off and runs
`callcenter campaign run NAME` instead. A run still going when its next time comes is not started twice
(in this process; across processes the claims in the database keep patients from being dialed twice).
Times missed while the server was down are not caught up: the next due time after start counts.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from ..db.types import utcnow
from ..periodic import Periodic
from .schema import CampaignDef

log = logging.getLogger(__name__)

Run = Callable[[str], Awaitable[object]]
Definitions = Callable[[], Awaitable[dict[str, CampaignDef]]]


class Scheduler:
    def __init__(self, definitions: Definitions, run: Run, time_zone: str, *,
                 clock: Callable[[], datetime] = utcnow, tick_seconds: float = 20.0):
        self._definitions, self._run, self._clock = definitions, run, clock
        self._zone = ZoneInfo(time_zone or "UTC")
        self._checked: datetime | None = None
        self._running: dict[str, asyncio.Task] = {}
        self._ticker = Periodic(self.tick, tick_seconds, name="campaign-scheduler", wait_first=True)

    def start(self) -> None:
        self._checked = self._clock()
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self) -> list[str]:
        """Start every campaign due since the last tick; the names started."""
        now = self._clock()
        since, self._checked = self._checked or now, now
        started = []
        for name, campaign in (await self._definitions()).items():
            if campaign.schedule and self._due(campaign.schedule, since, now) and self._start(name):
                started.append(name)
        return started

    def _due(self, schedule: str, since: datetime, now: datetime) -> bool:
        """A cron time in (since, now], read on the hospital's wall clock."""
        following = croniter(schedule, since.astimezone(self._zone)).get_next(datetime)
        return following <= now.astimezone(self._zone)

    def _start(self, name: str) -> bool:
        running = self._running.get(name)
        if running and not running.done():
            log.warning("campaign %s is due but its previous run is still going; skipped", name)
            return False
        self._running[name] = asyncio.create_task(self._guarded(name), name=f"campaign-run-{name}")
        return True

    async def _guarded(self, name: str) -> None:
        log.info("campaign %s: scheduled run starts", name)
        try:
            await self._run(name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("campaign %s: scheduled run failed", name)

    def running(self, name: str) -> bool:
        task = self._running.get(name)
        return bool(task and not task.done())

"""The server's planning of care plans: every `every` seconds, the follow-ups now due are made and handed to
their campaigns or the desk (CarePlanService.plan is idempotent, so a second server or `callcenter careplans
plan` run at the same time makes nothing twice)."""
from __future__ import annotations

import asyncio
import logging

from .services import CarePlanService

log = logging.getLogger(__name__)


class PlanningLoop:
    def __init__(self, careplans: CarePlanService, every: float = 900.0):
        self._careplans, self._every = careplans, every
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="careplan-planning")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self._careplans.plan()
            except Exception:
                log.exception("care plan planning failed")

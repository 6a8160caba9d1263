"""The escalation job: every `tick_seconds`, overdue tickets go one level up (services.escalate_overdue).
Started by `callcenter serve` (main.py); tests call `tick()` with a moved clock instead of waiting."""
from __future__ import annotations

import asyncio
import logging

from .services import ComplaintService

log = logging.getLogger(__name__)


class EscalationJob:
    def __init__(self, tickets: ComplaintService, *, tick_seconds: float = 60.0):
        self._tickets, self._tick = tickets, tick_seconds
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="complaint-escalation")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def tick(self) -> list[int]:
        return await self._tickets.escalate_overdue()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a failing tick must not end the job: the next one tries again
                log.exception("ticket escalation tick failed")
            await asyncio.sleep(self._tick)

"""The escalation job: every `tick_seconds`, overdue tickets go one level up (services.escalate_overdue).
Started by `callcenter serve` (main.py) on the one periodic loop (periodic.py); tests call `tick()` with a
moved clock instead of waiting."""
from __future__ import annotations

from ..periodic import Periodic
from .services import ComplaintService


class EscalationJob:
    def __init__(self, tickets: ComplaintService, *, tick_seconds: float = 60.0):
        self._tickets = tickets
        self._ticker = Periodic(self.tick, tick_seconds, name="complaint-escalation")

    def start(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    async def tick(self) -> list[int]:
        return await self._tickets.escalate_overdue()

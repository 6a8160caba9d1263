"""The server's planning of care plans: every `every` seconds, the follow-ups now due are made and handed to
their campaigns or the desk (CarePlanService.plan is idempotent, so a second server or `callcenter careplans
plan` run at the same time makes nothing twice). The loop is the one periodic loop (periodic.py); the first
planning waits one interval, as before."""
from __future__ import annotations

from ..periodic import Periodic
from .services import CarePlanService


class PlanningLoop:
    def __init__(self, careplans: CarePlanService, every: float = 900.0):
        self._planner = Periodic(careplans.plan, every, name="careplan-planning", wait_first=True)

    def start(self) -> None:
        self._planner.start()

    async def stop(self) -> None:
        await self._planner.stop()

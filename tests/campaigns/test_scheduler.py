"""The in-process scheduler: cron in the hospital's time zone, never two runs of one campaign at once."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from callcenter.campaigns.scheduler import Scheduler
from callcenter.campaigns.schema import load_campaign_text

from .conftest import Clock, campaign_yaml

# 09:59 in New York (14:59 UTC, November: UTC-5).
START = datetime(2026, 11, 24, 14, 59, tzinfo=UTC)


def _definitions(schedule: str):
    campaign = load_campaign_text(campaign_yaml(extra=f"schedule: '{schedule}'\n"), "c.yaml")
    unscheduled = load_campaign_text(campaign_yaml("by-hand"), "c.yaml")

    async def definitions():
        return {"reminders": campaign, "by-hand": unscheduled}
    return definitions


async def test_given_a_cron_at_10_hospital_time_when_the_clock_passes_it_then_run_once():
    clock = Clock(START)
    runs: list[str] = []

    async def run(name: str) -> None:
        runs.append(name)
    scheduler = Scheduler(_definitions("0 10 * * *"), run, "America/New_York", clock=clock)
    scheduler.start()
    try:
        assert await scheduler.tick() == []                      # 09:59
        clock.advance(minutes=1)
        assert await scheduler.tick() == ["reminders"]           # 10:00 New York = 15:00 UTC
        clock.advance(minutes=1)
        assert await scheduler.tick() == []                      # not again at 10:01
        await asyncio.sleep(0)
    finally:
        await scheduler.stop()
    assert runs == ["reminders"]


async def test_given_a_run_still_going_when_due_again_then_not_started_twice():
    clock = Clock(START)
    release = asyncio.Event()
    runs: list[str] = []

    async def run(name: str) -> None:
        runs.append(name)
        await release.wait()
    scheduler = Scheduler(_definitions("* * * * *"), run, "America/New_York", clock=clock)
    scheduler.start()
    try:
        clock.advance(minutes=1)
        assert await scheduler.tick() == ["reminders"]
        await asyncio.sleep(0)
        clock.advance(minutes=1)
        assert await scheduler.tick() == []                      # the first run has not ended
        release.set()
        await asyncio.sleep(0.01)
        clock.advance(minutes=1)
        assert await scheduler.tick() == ["reminders"]
        await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    assert runs == ["reminders", "reminders"]

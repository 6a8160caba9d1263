"""Real calls through the sandbox Asterisk feed the KPIs: the wallboard's today and the report agree."""
from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.eventlog import utcnow

pytestmark = pytest.mark.asterisk

ENGLISH, NURSE = "1", "4"


async def test_given_one_answered_and_one_abandoned_call_when_kpis_read_then_live_report_and_wallboard_agree(
        center):
    await center.set_agent("1005", "available")
    # The caller stays long enough to be answered under load (the IVR alone takes about 14 s); the row is
    # taken once answered, whether or not it is still connected when the poll looks.
    await center.call("+14155550161", f"{ENGLISH},{NURSE}", hangup_after=30)
    answered = await center.wait_for(lambda: _answered(center), 60, "the first call to be answered")
    await center.wait_for(lambda: _ended(center, answered.id), 60, "the answered call to end")
    await center.set_agent("1005", "paused")
    await center.call("+14155550162", f"{ENGLISH},{NURSE}", hangup_after=24)
    await center.wait_for(lambda: _router_has_call(center), 30, "the second call")
    await center.wait_for(lambda: _all_ended(center), 60, "the abandoned call to end")
    await center.s.events.flush()

    kpi = center.s.kpi
    live = await kpi.live()
    report = await kpi.report(kpi.today_start(utcnow()), utcnow() + timedelta(seconds=1), by="queue")
    today = await center.s.wallboard.refresh_today()

    nurse = live.row("nurse").kpis
    assert (nurse["offered"], nurse["answered"], nurse["abandoned"], nurse["short_abandons"]) == (2, 1, 1, 0)
    assert nurse["service_level"] in (1 / 2, 0.0) and nurse["asa_seconds"] > 0
    assert nurse["aht_seconds"] > 0  # the answered call's handling ended with its wrap-up
    assert report.row("nurse").kpis == nurse
    assert today["nurse"] == {k: nurse[k] for k in ("offered", "answered", "abandoned", "service_level")}
    assert center.s.wallboard.snapshot()["today"]["nurse"]["offered"] == 2


async def _ended(center, call_id: str) -> bool:
    rows = await center.s.db.run(lambda s: [e.type for e in center_events(s, call_id)])
    return "ended" in rows


def center_events(session, call_id):
    from sqlalchemy import select

    from callcenter.db.models import CallEvent
    return session.scalars(select(CallEvent).where(CallEvent.call_id == call_id))


async def _router_has_call(center) -> bool:
    return bool(center.s.router.live_calls())


async def _all_ended(center) -> bool:
    return not center.s.router.live_calls()


async def _answered(center):
    row = await center.only_call()
    return row if row is not None and row.answered_at is not None else None

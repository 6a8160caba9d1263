"""The KPI store (kpi_facts, kpi_calls, kpi_days, kpi_state): stored figures give the same numbers as a fresh
fold, follow new events, apply the current settings, and the background refresh fills it ahead of reports."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update

from callcenter.db.models import KpiCall, KpiDay, KpiFact, KpiState, Queue

from . import synthetic as day
from .synthetic import at
from .test_compute import kpi_service, local_day


def _seed_queue(db) -> None:
    with db.session() as session:
        session.add(Queue(name="general", title="General", service_level_seconds=30))


def _add(db, *events) -> None:
    with db.session() as session:
        session.add_all(events)


async def test_given_stored_call_when_it_gets_a_new_event_then_the_next_report_counts_it(db):
    _seed_queue(db)
    _add(db, day.ev("x", "10:00:00", "queued", queue="general"))
    kpi = kpi_service(db)
    before = await kpi.report(*local_day(day.DAY), by="day")
    _add(db, day.ev("x", "10:00:20", "connected", day.A1, "general"),
         day.ev("y", "10:05:00", "queued", queue="general"))

    after = await kpi.report(*local_day(day.DAY), by="day")

    assert (before.totals["offered"], before.totals["answered"], before.totals["service_level"]) == (
        1, 0, None)
    assert (after.totals["offered"], after.totals["answered"], after.totals["asa_seconds"]) == (2, 1, 20.0)
    with db.session() as session:
        assert session.scalar(select(KpiCall.events).where(KpiCall.call_id == "x")) == 2


async def test_given_figures_stored_when_settings_change_then_the_report_applies_the_new_ones(db):
    with db.session() as session:
        day.seed(session)
    await kpi_service(db).report(*local_day(day.DAY), by="day")

    raised = await kpi_service(db, short_abandon_seconds=60).report(*local_day(day.DAY), by="day")
    with db.session() as session:
        session.execute(update(Queue).where(Queue.name == "clinical").values(service_level_seconds=200))
    longer_t = await kpi_service(db).report(*local_day(day.DAY), by="day")

    assert (raised.totals["abandoned"], raised.totals["short_abandons"], raised.totals["service_level"]) == (
        0, 3, 4 / 5)
    assert longer_t.totals["service_level"] == 5 / 7  # C2's 150 s wait is now within clinical's T


async def test_given_store_of_an_older_fold_version_when_reported_then_refolded_with_the_same_numbers(db):
    with db.session() as session:
        day.seed(session)
    kpi = kpi_service(db)
    first = await kpi.report(*local_day(day.DAY), by="interval")
    with db.session() as session:
        session.execute(update(KpiState).values(fold_version=0))

    again = await kpi.report(*local_day(day.DAY), by="interval")

    assert again.to_json() == first.to_json()
    with db.session() as session:
        assert session.scalar(select(KpiState.fold_version)) != 0


async def test_given_background_refresh_when_run_then_today_is_stored_before_any_report(db):
    with db.session() as session:
        day.seed(session)
    kpi = kpi_service(db, clock=lambda: at("12:00"))

    await kpi.refresh_today()

    with db.session() as session:
        days = set(session.scalars(select(KpiDay.day)))
        stored = session.scalar(select(func.count()).select_from(KpiFact))
    start, end = local_day(day.DAY)
    assert {start.date(), (end - timedelta(microseconds=1)).date()} <= days and stored > 0
    report = await kpi.report(start, end, by="day")
    assert (report.totals["offered"], report.totals["fcr_rate"]) == (8, 2 / 3)


async def test_given_background_task_when_started_then_it_refreshes_and_stops(db):
    with db.session() as session:
        day.seed(session)
    kpi = kpi_service(db, clock=lambda: at("12:00"))

    kpi.start(every=0.05)
    for _ in range(100):
        with db.session() as session:
            if session.scalar(select(func.count()).select_from(KpiDay)):
                break
        await asyncio.sleep(0.05)
    await kpi.stop()

    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(KpiDay)) >= 1


async def test_given_business_hours_off_the_quarter_hour_when_reported_then_figures_are_cut_by_the_minute(db):
    with db.session() as session:
        day.seed(session)
    kpi = kpi_service(db, business_hours="08:05-18:00")

    report = await kpi.report(*local_day(day.DAY), by="interval", business_hours=True)

    t = report.totals  # C1 (queued 08:00:10, answered within T) is now before opening
    assert (t["offered"], t["answered"], t["service_level"], t["outbound_dialed"]) == (6, 3, 2 / 5, 7)
    assert report.row("2026-11-23T08:00").kpis["offered"] == 0

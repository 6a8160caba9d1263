"""Every KPI of the synthetic day (tests/kpi/synthetic.py), worked out by hand, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from callcenter import config
from callcenter.db.models import CallEvent, Queue
from callcenter.kpi.compute import KpiError, KpiService, time_key
from callcenter.wallboard.services import WallboardService

from . import synthetic as day
from .synthetic import TZ, at


def kpi_service(db, clock=None, **kpi) -> KpiService:
    cfg = config.load(env={})
    cfg.site.time_zone = TZ.key
    for key, value in kpi.items():
        setattr(cfg.kpi, key, value)
    return KpiService(db, cfg, clock=clock or (lambda: at("12:00", date(2026, 12, 1))))


@pytest.fixture
def seeded(db):
    with db.session() as session:
        day.seed(session)
    return db


def local_day(d: date) -> tuple[datetime, datetime]:
    return at("00:00", d), at("00:00", d + timedelta(days=1))


async def test_given_synthetic_day_when_reported_by_day_then_every_kpi_is_the_hand_computed_value(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="day")

    assert [r.key for r in report.rows] == ["2026-11-23"]
    assert report.totals == report.rows[0].kpis
    assert report.totals == {
        # segments: C1, C3, C4, C5, C6 in scheduling; C2, C6 in clinical; C7 in general
        "offered": 8, "answered": 5, "abandoned": 2, "short_abandons": 1,
        "asa_seconds": (20 + 150 + 10 + 100 + 30) / 5,
        # C7's handling starts after midnight: not this day's
        "aht_seconds": (300 + 600 + 355 + 560) / 4,
        "service_level": 4 / 7, "abandon_rate": 2 / 7,
        "occupancy": (300 + 355 + 600 + 560) / (14700 + 10800 + 2100 + 600),
        "transfers": 1, "callbacks": 1,
        "fcr_rate": 2 / 3,  # C1 (patient 1 called again at 11:14) no; C2 yes; C6 yes
        "outbound_dialed": 7, "contact_rate": 4 / 7, "completion_rate": 2 / 4,
        "confirmations": 1, "cancellations": 1, "opt_outs": 1, "amd_human": 4, "amd_machine": 1,
        "outbound_abandon_rate": 1 / 4,
        "followup_rate": 1 / 2, "csat": 2 / 3, "red_flags": 1, "time_to_escalation_seconds": 45.0,
        "complaint_resolution_hours": (72 + 6) / 2,
        # time per agent state (ringing counts as available): Ana 1001 + Nia 1003 + 1002
        "available_seconds": ((320 + 10 + 11370 + 5 + 2340) + (750 + 5 + 7140 + 5 + 1740)
                              + (310 + 15 + 1775 + 600)),
        "on_call_seconds": (240 + 295) + (480 + 500), "wrapup_seconds": (60 + 60) + (120 + 60),
        "paused_seconds": 44400,  # 1002 paused 11:30-23:50
    }


async def test_given_synthetic_day_when_reported_by_queue_then_transfer_counts_in_both_queues(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="queue")

    rows = {r.key: r for r in report.rows}
    assert list(rows) == ["clinical", "general", "scheduling"]
    assert rows["clinical"].label == "Clinical advice"
    pick = ("offered", "answered", "abandoned", "short_abandons", "asa_seconds", "aht_seconds",
            "service_level", "abandon_rate", "transfers", "callbacks", "red_flags")
    assert {k: rows["scheduling"].kpis[k] for k in pick} == {
        "offered": 5, "answered": 2, "abandoned": 2, "short_abandons": 1, "asa_seconds": 15.0,
        "aht_seconds": 327.5, "service_level": 2 / 4, "abandon_rate": 2 / 4, "transfers": 1, "callbacks": 1,
        "red_flags": 0}
    assert {k: rows["clinical"].kpis[k] for k in pick} == {
        "offered": 2, "answered": 2, "abandoned": 0, "short_abandons": 0, "asa_seconds": 125.0,
        "aht_seconds": 580.0, "service_level": 1 / 2, "abandon_rate": 0.0, "transfers": 0, "callbacks": 0,
        "red_flags": 1}
    assert {k: rows["general"].kpis[k] for k in pick} == {
        "offered": 1, "answered": 1, "abandoned": 0, "short_abandons": 0, "asa_seconds": 30.0,
        "aht_seconds": None, "service_level": 1.0, "abandon_rate": 0.0, "transfers": 0, "callbacks": 0,
        "red_flags": 0}
    # Occupancy belongs to agents, not queues; outbound to campaigns: in the totals only.
    assert rows["general"].kpis["occupancy"] is None and report.totals["outbound_dialed"] == 7


async def test_given_synthetic_day_when_reported_by_interval_then_calls_count_where_they_were_queued(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="interval")

    assert len(report.rows) == 96 and report.rows[0].key == "2026-11-23T00:00"
    offered = {r.key: r.kpis["offered"] for r in report.rows if r.kpis["offered"]}
    assert offered == {"2026-11-23T08:00": 1, "2026-11-23T09:00": 1, "2026-11-23T10:00": 1,
                       "2026-11-23T10:30": 1, "2026-11-23T11:00": 2, "2026-11-23T11:15": 1,
                       "2026-11-23T23:45": 1}
    eleven = report.row("2026-11-23T11:00").kpis
    assert (eleven["answered"], eleven["abandoned"], eleven["service_level"]) == (1, 1, 1 / 2)
    assert report.row("2026-11-23T11:15").kpis["transfers"] == 1  # at 11:20, in the 11:15 interval
    assert report.row("2026-11-23T11:15").label == "2026-11-23 11:15"


async def test_given_call_crossing_midnight_when_two_days_reported_then_handling_counts_on_the_second(seeded):
    start, _ = local_day(day.DAY)
    report = await kpi_service(seeded).report(start, start + timedelta(days=2), by="day")

    first, second = report.rows
    assert (first.kpis["offered"], first.kpis["answered"], first.kpis["aht_seconds"]) == (8, 5, 1815 / 4)
    assert (second.key, second.kpis["offered"], second.kpis["aht_seconds"]) == ("2026-11-24", 0, 340.0)
    assert second.kpis["occupancy"] == 340 / 1800  # 1002 staffed 00:00-00:30 local, busy 00:00:20-00:06
    assert report.totals["aht_seconds"] == (1815 + 340) / 5


async def test_given_queues_with_their_own_targets_when_reported_by_queue_then_asa_judged_per_queue(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="queue")

    rows = {r.key: r for r in report.rows}
    assert rows["clinical"].thresholds == {"asa_seconds": (120, 240, False)}   # its 120 s target, amber to 2T
    assert rows["scheduling"].thresholds == {"asa_seconds": (30, 60, False)}
    data = report.to_json()
    clinical = next(r for r in data["rows"] if r["key"] == "clinical")
    assert clinical["thresholds"] == {"asa_seconds": {"green": 120, "amber": 240, "higher_is_better": False}}
    assert data["thresholds"]["asa_seconds"]["green"] == 30                    # totals keep the default
    by_day = await kpi_service(seeded).report(*local_day(day.DAY), by="day")
    assert by_day.rows[0].thresholds == {} and "thresholds" not in by_day.to_json()["rows"][0]


async def test_given_synthetic_day_when_reported_by_agent_then_each_desk_has_its_calls(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="agent")

    rows = {r.key: r for r in report.rows}
    assert list(rows) == ["1001", "1002", "1003"] and rows["1001"].label == "1001 Ana"
    ana = rows["1001"].kpis
    assert (ana["offered"], ana["answered"], ana["aht_seconds"], ana["occupancy"], ana["transfers"],
            ana["callbacks"], ana["fcr_rate"]) == (2, 2, 327.5, 655 / 14700, 1, 1, 1 / 2)
    nia = rows["1003"].kpis
    assert (nia["answered"], nia["asa_seconds"], nia["red_flags"], nia["time_to_escalation_seconds"]) == (
        2, 125.0, 1, 45.0)
    assert rows["1002"].kpis["answered"] == 1 and rows["1002"].kpis["occupancy"] == 0.0
    states = ("available_seconds", "on_call_seconds", "wrapup_seconds", "paused_seconds")
    assert [ana[s] for s in states] == [14045, 535, 120, 0]          # 14700 s staffed, as occupancy's
    assert [rows["1002"].kpis[s] for s in states] == [2700, 0, 0, 44400]


async def test_given_campaign_attempts_when_reported_by_campaign_then_outbound_kpis_per_campaign(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="campaign")

    rows = {r.key: r.kpis for r in report.rows}
    assert list(rows) == ["cardio-followup", "reminders", "satisfaction"]
    cardio = rows["cardio-followup"]
    names = ("outbound_dialed", "contact_rate", "completion_rate", "amd_human", "amd_machine",
             "outbound_abandon_rate", "opt_outs")
    assert [cardio[n] for n in names] == [6, 3 / 6, 1 / 3, 3, 1, 1 / 3, 1]
    assert (rows["reminders"]["cancellations"], rows["reminders"]["completion_rate"]) == (1, 1.0)
    assert rows["satisfaction"]["csat"] == 2 / 3 and rows["satisfaction"]["outbound_dialed"] == 0


async def test_given_business_hours_filter_when_reported_then_the_call_at_midnight_is_left_out(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="day", business_hours=True)

    t = report.totals
    assert (t["offered"], t["answered"], t["service_level"], t["outbound_dialed"]) == (7, 4, 3 / 6, 7)
    # 1001's 07:55-08:00 and 1002's 23:50-24:00 are outside business hours
    assert t["occupancy"] == 1815 / (14400 + 10800 + 2100)


async def test_given_queue_filter_when_reported_by_interval_then_only_that_queue_counts(seeded):
    report = await kpi_service(seeded).report(*local_day(day.DAY), by="day", queue="clinical")

    t = report.totals
    assert (t["offered"], t["answered"], t["outbound_dialed"]) == (2, 2, 0)


async def test_given_short_abandon_threshold_raised_when_reported_then_a_40_second_abandon_is_short(seeded):
    report = await kpi_service(seeded, short_abandon_seconds=60).report(*local_day(day.DAY), by="day")

    assert (report.totals["abandoned"], report.totals["short_abandons"], report.totals["service_level"]) == (
        0, 3, 4 / 5)


async def test_given_repeat_call_outside_fcr_window_when_reported_then_first_call_resolved(seeded):
    report = await kpi_service(seeded, fcr_days=0).report(*local_day(day.DAY), by="day")

    assert report.totals["fcr_rate"] == 3 / 3


async def test_given_report_when_serialised_then_interface_fields_and_thresholds(seeded):
    data = (await kpi_service(seeded).report(*local_day(day.DAY), by="day")).to_json()

    assert data["from"] == "2026-11-23T05:00:00+00:00" and data["time_zone"] == "America/New_York"
    assert data["totals"]["service_level"] == 0.5714
    assert data["thresholds"]["outbound_abandon_rate"] == {"green": 0.02, "amber": 0.03,
                                                           "higher_is_better": False}
    assert data["rows"][0]["key"] == "2026-11-23" and set(data) == {
        "from", "to", "time_zone", "by", "definitions_version", "totals", "rows", "thresholds"}


async def test_given_wallboard_when_refreshed_then_today_per_queue_equals_the_report(seeded):
    now = at("23:59:59")
    kpi = kpi_service(seeded, clock=lambda: now)
    board = WallboardService(queues=None, router=None, kpi=kpi)

    today = await board.refresh_today()

    report = await kpi.report(at("00:00"), now + timedelta(microseconds=1), by="queue")
    assert today == {r.key: {k: r.kpis[k] for k in ("offered", "answered", "abandoned", "service_level")}
                     for r in report.rows}
    assert today["scheduling"] == {"offered": 5, "answered": 2, "abandoned": 2, "service_level": 0.5}
    # C7 (queued 23:59:50) is answered after `now` in this synthetic log: a call counts where it was queued
    assert today["general"] == {"offered": 1, "answered": 1, "abandoned": 0, "service_level": 1.0}


# -- daylight saving time in the hospital's zone ------------------------------------------------------------


async def test_given_dst_fall_back_day_when_reported_by_interval_then_100_intervals_and_both_1am(db):
    fall = date(2026, 11, 1)  # 02:00 EDT becomes 01:00 EST
    with db.session() as session:
        session.add(Queue(name="general", title="General", service_level_seconds=30))
        for call_id, utc in (("d1", datetime(2026, 11, 1, 5, 10, tzinfo=UTC)),
                             ("d2", datetime(2026, 11, 1, 6, 10, tzinfo=UTC))):
            session.add_all([
                CallEvent(call_id=call_id, ts=utc, type="queued", queue_name="general", data={}),
                CallEvent(call_id=call_id, ts=utc + timedelta(seconds=12), type="connected", agent_id=1,
                          queue_name="general", data={})])
    kpi = kpi_service(db)

    intervals = await kpi.report(*local_day(fall), by="interval")
    days = await kpi.report(*local_day(fall), by="day")

    assert len(intervals.rows) == 100
    assert {r.key: r.kpis["offered"] for r in intervals.rows if r.kpis["offered"]} == {
        "2026-11-01T01:00-04:00": 1, "2026-11-01T01:00-05:00": 1}
    assert [(r.key, r.kpis["offered"], r.kpis["service_level"]) for r in days.rows] == [
        ("2026-11-01", 2, 1.0)]


def test_given_spring_forward_day_when_keys_listed_then_92_intervals_without_2am():
    spring = date(2026, 3, 8)
    keys = [time_key(at("00:00", spring) + timedelta(minutes=15 * n), "interval", TZ) for n in range(92)]
    assert len(set(keys)) == 92 and "2026-03-08T02:00" not in keys and keys[8] == "2026-03-08T03:00"
    assert time_key(at("00:00", spring), "week", TZ) == "2026-W10"


async def test_given_bad_cut_or_range_when_reported_then_refused(db):
    kpi = kpi_service(db)
    with pytest.raises(KpiError):
        await kpi.report(at("00:00"), at("01:00"), by="year")
    with pytest.raises(KpiError):
        await kpi.report(at("01:00"), at("00:00"), by="day")


async def test_given_warm_transfer_when_reported_then_one_offer_one_transfer_and_a_handling_per_agent(db):
    with db.session() as session:
        session.add(Queue(name="general", title="General", service_level_seconds=30))
        session.add_all([
            day.ev("w", "10:00:00", "queued", queue="general"),
            day.state("w", "10:00:10", day.A1, "on_call"),
            day.ev("w", "10:00:10", "connected", day.A1, "general"),
            day.ev("w", "10:02:00", "transfer_started", day.A1, "general", mode="warm", to_agent="1002"),
            day.state("w", "10:02:00", day.A2, "ringing"),
            day.state("w", "10:02:05", day.A2, "on_call"),
            day.ev("w", "10:03:00", "transfer_completed", day.A1, "general", mode="warm", to_agent="1002"),
            day.state("w", "10:03:00", day.A1, "wrapup"),
            day.state("w", "10:04:00", day.A1, "available"),
            day.ev("w", "10:08:00", "ended", day.A2, "general", outcome="completed", reason="caller_hangup"),
            day.state("w", "10:08:00", day.A2, "wrapup"),
            day.state("w", "10:08:30", day.A2, "available"),
        ])
    report = await kpi_service(db).report(*local_day(day.DAY), by="queue")

    t = report.totals
    assert (t["offered"], t["answered"], t["transfers"], t["asa_seconds"]) == (1, 1, 1, 10.0)
    assert t["aht_seconds"] == (230 + 385) / 2
    assert report.row("general").kpis["aht_seconds"] == (230 + 385) / 2


def _red_flag(call_id, clock, disposition, rank, satisfied_by):
    return day.ev(call_id, clock, "triage_disposition", day.A1, "general", protocol="p", version=1,
                  disposition=disposition, decided_by="q1", escalation_required=True, rank=rank,
                  satisfied_by=satisfied_by)


async def test_given_escalations_that_do_not_count_when_reported_then_escalation_time_is_the_one_that_did(db):
    """Issue 13 defect 5 in the KPI: the time is that of the action that satisfied the governing disposition
    (as the call page shows), not the first escalation clicked after the first red flag."""
    with db.session() as session:
        session.add(Queue(name="general", title="General", service_level_seconds=30))
        session.add_all([
            # "nurse now": reading the instruction does not count, the warm transfer 50 s later does
            day.ev("n", "10:00:00", "queued", queue="general"),
            _red_flag("n", "10:01:00", "nurse_now", 2, ["nurse_transfer", "emergency_conference"]),
            day.ev("n", "10:01:10", "escalation_performed", day.A1, "general", kind="instruction_read"),
            day.ev("n", "10:01:50", "escalation_performed", day.A1, "general", kind="nurse_transfer"),
            # a later, more urgent result governs: its time runs from that result
            day.ev("e", "11:00:00", "queued", queue="general"),
            _red_flag("e", "11:01:00", "emergency_department_now", 1, ["instruction_read"]),
            _red_flag("e", "11:02:00", "call_emergency_services_now", 0, ["emergency_conference"]),
            day.ev("e", "11:02:20", "escalation_performed", day.A1, "general", kind="emergency_conference"),
            # an emergency nobody escalated: a red flag, no time to escalation
            day.ev("o", "12:00:00", "queued", queue="general"),
            _red_flag("o", "12:01:00", "call_emergency_services_now", 0, ["emergency_conference"]),
            day.ev("o", "12:01:05", "escalation_performed", day.A1, "general", kind="nurse_transfer"),
        ])
    report = await kpi_service(db).report(*local_day(day.DAY), by="queue")

    t = report.totals
    assert t["red_flags"] == 4
    assert t["time_to_escalation_seconds"] == (50 + 20) / 2

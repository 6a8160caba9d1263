"""The KPI report over HTTP (aiohttp test client, SQLite and PostgreSQL): /api/kpi and /api/kpi.csv give the
numbers of KpiService for the same parameters, worked out by hand for a seeded day (tests/browser/kpi_day.py);
bad parameters are refused with a message; CSV cells a spreadsheet would run are quoted."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.db.database import Database
from callcenter.db.models import Queue
from callcenter.demo import seed_demo
from callcenter.kpi.http import report_csv
from callcenter.main import build, init_app

from .browser import kpi_day
from .browser.live import API_TOKEN, ROLE_USERS, console_config, seed_role_users, sign_in

# A Monday in a zone with a UTC offset, so local days and intervals differ from UTC ones.
DAY = date(2026, 3, 2)
ZONE = "America/New_York"


@dataclass
class Kpi:
    client: object
    services: object

    async def get(self, path: str, **params):
        return await self.client.get(path, params=params, headers={"Authorization": f"Bearer {API_TOKEN}"})

    async def json(self, **params) -> dict:
        response = await self.get("/api/kpi", **params)
        assert response.status == 200, await response.text()
        return await response.json()

    async def expected(self, by: str, first: date = DAY, last: date = DAY, **filters) -> dict:
        """What KpiService itself answers for the same local days."""
        tz = ZoneInfo(ZONE)
        start = datetime.combine(first, time(0), tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tz)
        return (await self.services.kpi.report(start, end, by=by, **filters)).to_json()


@pytest.fixture
async def kpi(tmp_path, database_url, aiohttp_client) -> Kpi:
    seed_role_users(database_url)
    seeding = Database(database_url)
    with seeding.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    kpi_day.seed_day(seeding, DAY, ZoneInfo(ZONE))
    seeding.close()
    cfg = console_config(tmp_path, database_url)
    cfg.site.time_zone = ZONE
    services = build(cfg)
    client = await aiohttp_client(init_app(cfg, services, ari=False))
    return Kpi(client, services)


def _row(report: dict, key: str) -> dict:
    return next(r["kpis"] for r in report["rows"] if r["key"] == key)


def _subset(kpis: dict, expected: dict) -> dict:
    return {name: kpis[name] for name in expected}


# -- JSON --------------------------------------------------------------------------------------------------


async def test_given_seeded_day_when_asked_by_interval_then_hand_computed_numbers_and_service_agrees(kpi):
    report = await kpi.json(**{"from": DAY.isoformat(), "to": DAY.isoformat(), "by": "interval"})

    assert _subset(report["totals"], kpi_day.TOTALS) == kpi_day.TOTALS
    for hhmm, expected in kpi_day.INTERVALS.items():
        assert _subset(_row(report, f"{DAY.isoformat()}T{hhmm}"), expected) == expected
    assert len(report["rows"]) == 96  # every 15 minutes of the local day, empty ones too
    assert report["from"] == "2026-03-02T05:00:00+00:00" and report["time_zone"] == ZONE
    assert report["thresholds"]["service_level"] == {"green": 0.8, "amber": 0.7, "higher_is_better": True}
    assert report == await kpi.expected("interval")


async def test_given_seeded_day_when_asked_by_queue_then_rows_per_queue_match_hand_and_service(kpi):
    report = await kpi.json(**{"from": DAY.isoformat(), "to": DAY.isoformat(), "by": "queue"})

    for queue, expected in kpi_day.QUEUES.items():
        assert _subset(_row(report, queue), expected) == expected
    assert report == await kpi.expected("queue")


async def test_given_filters_when_asked_then_passed_to_the_computation(kpi):
    params = {"from": DAY.isoformat(), "to": DAY.isoformat(), "by": "day", "queue": "general",
              "agent": "9001", "business_hours": "1"}
    report = await kpi.json(**params)

    assert report["totals"]["offered"] == 1 and report["totals"]["answered"] == 1  # c1 only
    assert report == await kpi.expected("day", queue="general", agent="9001", business_hours=True)


async def test_given_no_dates_when_asked_then_today_in_hospital_time(kpi):
    report = await kpi.json(by="day")

    today = datetime.now(ZoneInfo(ZONE)).date()
    assert [r["key"] for r in report["rows"]] == [today.isoformat()]


async def test_given_week_range_when_asked_by_day_then_seven_rows_and_seeded_day_holds_the_calls(kpi):
    report = await kpi.json(**{"from": "2026-02-27", "to": "2026-03-05", "by": "day"})

    assert [r["key"] for r in report["rows"]] == [f"2026-02-{d}" for d in (27, 28)] + [
        f"2026-03-0{d}" for d in range(1, 6)]
    assert _row(report, DAY.isoformat())["offered"] == 7 and report["totals"]["offered"] == 7


@pytest.mark.parametrize("params, message", [
    ({"from": "2026-13-01"}, "'from' must be a date"),
    ({"to": "yesterday"}, "'to' must be a date"),
    ({"from": "2026-03-02T08:00"}, "'from' must be a date"),
    ({"from": "2026-03-05", "to": "2026-03-02"}, "is after 'to'"),
    ({"from": "2025-01-01", "to": "2026-03-02"}, "at most 400 days"),
    ({"by": "hour"}, "'by' must be one of interval, day, week, month, queue, agent, campaign"),
    ({"queue": "gen eral"}, "'queue' must be"),
    ({"business_hours": "maybe"}, "'business_hours' must be 1 or 0"),
])
async def test_given_bad_parameters_when_asked_then_400_with_message(kpi, params, message):
    for path in ("/api/kpi", "/api/kpi.csv"):
        response = await kpi.get(path, **params)

        assert response.status == 400
        assert message in (await response.json())["error"]


async def test_given_400_days_when_asked_then_answered(kpi):
    response = await kpi.get("/api/kpi", **{"from": "2025-02-01", "to": "2026-03-07", "by": "month"})

    assert response.status == 200, await response.text()


# -- CSV ---------------------------------------------------------------------------------------------------


async def test_given_seeded_day_when_csv_then_same_numbers_as_json_and_filename_has_range(kpi):
    params = {"from": DAY.isoformat(), "to": DAY.isoformat(), "by": "queue"}
    response = await kpi.get("/api/kpi.csv", **params)

    assert response.status == 200 and response.content_type == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="kpi-queue-2026-03-02-to-2026-03-02.csv"')
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    report = await kpi.json(**params)
    assert [r["key"] for r in rows] == [r["key"] for r in report["rows"]] + ["total"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["general"]["offered"] == "4" and by_key["general"]["service_level"] == "0.3333"
    assert by_key["total"]["abandon_rate"] == "0.3333" and by_key["total"]["asa_seconds"] == "43.75"
    for row in report["rows"]:
        assert by_key[row["key"]] == {"key": row["key"], "label": row["label"],
                                      **{k: _csv(v) for k, v in row["kpis"].items()}}


def _csv(value) -> str:
    return "" if value is None else str(value)


async def test_given_queue_title_like_a_formula_when_csv_then_cell_quoted(kpi):
    with kpi.services.db.session() as session:
        session.query(Queue).filter(Queue.name == "general").update({"title": "=HYPERLINK(\"x\")"})
    day = DAY.isoformat()
    response = await kpi.get("/api/kpi.csv", **{"from": day, "to": day, "by": "queue"})

    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(await response.text()))}
    assert rows["general"]["label"] == "'=HYPERLINK(\"x\")"
    assert rows["general"]["offered"] == "4"


def test_given_negative_number_and_texts_when_csv_then_only_texts_quoted():
    report = {"totals": {"offered": -1, "csat": None},
              "rows": [{"key": "+1", "label": "@sum", "kpis": {"offered": 2, "csat": 0.5}}]}

    lines = report_csv(report).splitlines()

    assert lines == ["key,label,offered,csat", "'+1,'@sum,2,0.5", "total,Total,-1,"]


# -- who may ask -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role, status",
                         [("agent", 403), ("nurse", 403), ("supervisor", 200), ("admin", 200)])
async def test_given_role_when_opening_kpi_page_and_api_then_only_supervisors_and_admins(
        kpi, aiohttp_client, role, status):
    client = await aiohttp_client(kpi.client.server)
    await sign_in(client, ROLE_USERS[role].username)

    for path in ("/supervisor/kpi", "/api/kpi", "/api/kpi.csv"):
        response = await client.get(path, headers={"Accept": "text/html" if "api" not in path else "*/*"})
        assert response.status == status, path

"""The KPI dashboard page and its data: /supervisor/kpi, JSON /api/kpi and CSV /api/kpi.csv.

The JSON and the CSV are two renderings of the same KpiReport (callcenter/kpi/compute.py), asked for with the
same parameters, so a downloaded file always holds the numbers the dashboard shows:

    from, to        hospital-local dates (YYYY-MM-DD), both included; default today
    by              interval (15 min) | day | week | month | queue | agent | campaign; default interval
    queue, agent, campaign   optional filters
    business_hours  1/true/on: only calls inside the hospital's business hours

Days are the hospital's ([site] time_zone): `from` starts at local midnight, `to` ends at the next one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Campaign
from ..errors import Refused
from ..web.csvfile import csv_response, csv_text
from ..web.request import services
from ..web.templating import render

CUTS = ("interval", "day", "week", "month", "queue", "agent", "campaign")
# A year and a bit: enough for "this year against last December", small enough to answer quickly.
MAX_DAYS = 400
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("", "0", "false", "off", "no")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/supervisor/kpi", kpi_page, name="kpi_page")
    app.router.add_get("/api/kpi", kpi_json, name="api_kpi")
    app.router.add_get("/api/kpi.csv", kpi_csv, name="api_kpi_csv")


@dataclass(frozen=True)
class KpiQuery:
    first: date            # first local day, included
    last: date             # last local day, included
    by: str
    queue: str | None
    agent: str | None
    campaign: str | None
    business_hours: bool

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: local midnight of `first` to local midnight after `last`."""
        return (datetime.combine(self.first, time(0), tz),
                datetime.combine(self.last + timedelta(days=1), time(0), tz))

    def filename(self) -> str:
        return f"kpi-{self.by}-{self.first.isoformat()}-to-{self.last.isoformat()}.csv"


def parse_query(query, today: date) -> KpiQuery:
    """The request's parameters, or Refused(400) naming what is wrong."""
    first = query_date(query, "from", today)
    last = query_date(query, "to", today)
    if first > last:
        raise Refused(400, f"'from' ({first}) is after 'to' ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise Refused(400, f"the range is {(last - first).days + 1} days; at most {MAX_DAYS} days per report")
    by = query.get("by") or "interval"
    if by not in CUTS:
        raise Refused(400, f"'by' must be one of {', '.join(CUTS)}, not {by[:40]!r}")
    return KpiQuery(first, last, by, _name(query, "queue"), _name(query, "agent"), _name(query, "campaign"),
                    _flag(query, "business_hours"))


def query_date(query, key: str, default: date) -> date:
    """A hospital day (YYYY-MM-DD) of the query string, or Refused(400) naming the parameter (the reports'
    pages take their days the same way)."""
    text = query.get(key, "")
    if not text:
        return default
    try:
        return date.fromisoformat(text) if len(text) == 10 else _bad_date(key, text)
    except ValueError:
        return _bad_date(key, text)


def _bad_date(key: str, text: str):
    raise Refused(400, f"'{key}' must be a date like 2026-11-23, not {text[:40]!r}")


def _name(query, key: str) -> str | None:
    text = query.get(key, "")
    if not text:
        return None
    if not _NAME.match(text):
        raise Refused(400, f"'{key}' must be a {key} name or number (letters, digits, - _ . :)")
    return text


def _flag(query, key: str) -> bool:
    text = query.get(key, "").lower()
    if text not in _TRUE + _FALSE:
        raise Refused(400, f"'{key}' must be 1 or 0")
    return text in _TRUE


# -- views ---------------------------------------------------------------------------------------------------


async def kpi_page(request: web.Request) -> web.Response:
    s = services(request)
    return await render(request, "kpi.html", {
        "queues": sorted(s.queues.queues.values(), key=lambda q: q.name),
        "agents": sorted(s.queues.agents.values(), key=lambda a: a.number),
        "campaigns": await s.db.run(_campaigns),
        "today": _today(request).isoformat(),
        "time_zone": _zone(request).key,
        "cuts": CUTS,
    })


async def kpi_json(request: web.Request) -> web.Response:
    report = await _report(request, parse_query(request.query, _today(request)))
    return web.json_response(report.to_json(), headers={"Cache-Control": "no-store"})


async def kpi_csv(request: web.Request) -> web.Response:
    query = parse_query(request.query, _today(request))
    report = (await _report(request, query)).to_json()
    return csv_response(report_csv(report), query.filename())


async def _report(request: web.Request, q: KpiQuery):
    start, end = q.bounds(_zone(request))
    return await services(request).kpi.report(start, end, by=q.by, queue=q.queue, agent=q.agent,
                                              campaign=q.campaign, business_hours=q.business_hours)


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(services(request).cfg.site.time_zone)


def _today(request: web.Request) -> date:
    return datetime.now(_zone(request)).date()


def _campaigns(session: Session) -> list[dict]:
    rows = session.execute(select(Campaign.name, Campaign.title).order_by(Campaign.name))
    return [{"name": name, "title": title} for name, title in rows]


# -- CSV -----------------------------------------------------------------------------------------------------


def report_csv(report: dict) -> str:
    """One line per row of the report, then the totals; the KPI columns in the report's own order."""
    names = list(report["totals"])
    rows = [[row["key"], row["label"], *(row["kpis"].get(n) for n in names)] for row in report["rows"]]
    rows.append(["total", "Total", *(report["totals"][n] for n in names)])
    return csv_text(["key", "label", *names], rows)



"""The report catalogue and its reports: /supervisor/reports, each report a page with a chart and its table,
and the same report as JSON, CSV (web/csvfile.py, the one CSV writer) and PDF (web/pdffile.py).

Parameters, the same for every rendering so that a download holds what the page shows:

    from, to    hospital days (YYYY-MM-DD), both included; default the first of this month to today
    by          department | ward | attending | staff (the reports over discharges), department | kind |
                channel (care-plan adherence); default department
    code        a question code of the bank (answers by question code)

A report that names patients (the overdue list) is a read of their records: the service writes its audit rows,
naming this reader, in the transaction that reads it, for every rendering.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import aiohttp_jinja2
from aiohttp import web

from ..errors import Refused
from ..kpi.http import MAX_DAYS, query_date
from ..web.csvfile import csv_response, csv_text
from ..web.pdffile import pdf_of, pdf_response
from ..web.request import audit_actor, services
from ..web.templating import render
from .services import CATALOGUE, Report, ReportQuery, ReportService

NAME = r"{name:[a-z][a-z-]{0,39}}"
CUT_LABELS = {"department": "Department", "ward": "Ward", "attending": "Attending doctor",
              "staff": "Staff member", "kind": "Kind of plan", "channel": "Channel"}


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/supervisor/reports", catalogue_page, name="reports_page")
    r.add_get(f"/supervisor/reports/{NAME}", report_page, name="report_page")
    r.add_get(f"/api/reports/{NAME}", report_json, name="api_report")
    r.add_get(f"/api/reports/{NAME}/csv", report_csv, name="api_report_csv")
    r.add_get(f"/api/reports/{NAME}/pdf", report_pdf, name="api_report_pdf")


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    def bounds(self, reports: ReportService) -> tuple[datetime, datetime]:
        tz = reports.settings.tz
        return (datetime.combine(self.first, time(0), tz),
                datetime.combine(self.last + timedelta(days=1), time(0), tz))


def parse_period(query, today: date) -> Period:
    first = query_date(query, "from", today.replace(day=1))
    last = query_date(query, "to", today)
    if first > last:
        raise Refused(400, f"'from' ({first}) is after 'to' ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise Refused(400, f"the range is {(last - first).days + 1} days; at most {MAX_DAYS} days per report")
    return Period(first, last)


def _query(request: web.Request) -> tuple[ReportQuery, Period]:
    reports = _reports(request)
    info = reports.info(request.match_info["name"])
    period = parse_period(request.query, reports.today())
    by = request.query.get("by") or "department"
    if info.cuts and by not in info.cuts:
        raise Refused(400, f"'by' must be one of {', '.join(info.cuts)}, not {by[:40]!r}")
    code = (request.query.get("code") or "").strip()[:64] or None
    start, end = period.bounds(reports)
    return ReportQuery(info.name, start, end, by, code), period


async def _report(request: web.Request) -> tuple[Report, Period]:
    q, period = _query(request)
    return await _reports(request).report(q, audit_actor(request)), period


def _reports(request: web.Request) -> ReportService:
    return services(request).reports


def _filename(report: Report, period: Period, ext: str) -> str:
    cut = report.params.get("by") or report.params.get("code") or ""
    parts = [report.name, cut, period.first.isoformat(), "to", period.last.isoformat()]
    return "-".join(p for p in parts if p) + f".{ext}"


# -- views ---------------------------------------------------------------------------------------------------


async def catalogue_page(request: web.Request) -> web.Response:
    reports = _reports(request)
    today = reports.today()
    return await render(request, "reports.html", {
        "catalogue": CATALOGUE, "first": today.replace(day=1).isoformat(), "today": today.isoformat()})


async def report_page(request: web.Request) -> web.Response:
    report, period = await _report(request)
    return await render(request, "report.html", _context(request, report, period))


def _context(request: web.Request, report: Report, period: Period) -> dict:
    info = _reports(request).info(report.name)
    return {"report": report, "info": info, "data": report.to_json(), "period": period,
            "cuts": [(c, CUT_LABELS[c]) for c in info.cuts or ()],
            "query": request.query_string, "generated": _reports(request).now()}


async def report_json(request: web.Request) -> web.Response:
    report, _ = await _report(request)
    return web.json_response(report.to_json(), headers={"Cache-Control": "no-store"})


async def report_csv(request: web.Request) -> web.Response:
    report, period = await _report(request)
    return csv_response(csv_text([c.label for c in report.columns], report.table()),
                        _filename(report, period, "csv"))


async def report_pdf(request: web.Request) -> web.Response:
    """The page's figures laid out for print; WeasyPrint's layout is slow work, done off the event loop."""
    report, period = await _report(request)
    html = aiohttp_jinja2.render_string("report_pdf.html", request, _context(request, report, period))
    return pdf_response(await asyncio.to_thread(pdf_of, html), _filename(report, period, "pdf"))

"""The campaign console: progress of every campaign for supervisors and admins (page and CSV), "Run now",
and for admins the YAML editor, switching a campaign on or off, and the do-not-call list.

Server-rendered forms, like the admin pages: a form that succeeds redirects (303) to a page with a one-time
notice; a refused form is rendered again with the message and everything typed still in place (the YAML
editor keeps the whole text and lists every problem with its line).
"""
from __future__ import annotations

import logging
import re

from aiohttp import web

from ..db.models import CAMPAIGN_KINDS
from ..eventlog import utcnow
from ..web.csvfile import csv_response
from ..web.guard import USER
from ..web.request import audit_actor, services, user_id
from ..web.templating import form_text as _text
from ..web.templating import redirect_with_notice, render_with_notice
from ..yamlsource import SourceError
from .catalog import CatalogError, campaign_row, campaign_rows
from .dnc import DncRequest
from .exceptions import DoNotCallError
from .http import rows_to_csv
from .pacing import abandon_rate

log = logging.getLogger(__name__)

FLASH = "campaign_notice"
# Counts of the progress table, in order: (report key, label).
PROGRESS = (("targets", "Targets"), ("reached", "Reached"), ("completed", "Completed"),
            ("confirmed", "Confirmed"), ("cancelled", "Cancelled"), ("opted_out", "Opted out"),
            ("red_flags", "Red flags"))
ATTEMPT_RESULTS = ("person", "machine", "no_answer", "busy", "failed", "abandoned", "dialing")
_LINE = re.compile(r"^[^:\n]*:(\d+):\s*(.*)$", re.S)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/campaigns", list_page, name="campaigns")
    r.add_get("/do-not-call", dnc_page, name="campaign_dnc")
    r.add_post("/do-not-call", dnc_add, name="campaign_dnc_add")
    r.add_post("/do-not-call/{entry:\\d+}/delete", dnc_remove, name="campaign_dnc_remove")
    r.add_get("/campaigns/{name}", detail_page, name="campaign")
    r.add_get("/campaigns/{name}/report.csv", report_csv, name="campaign_csv")
    r.add_post("/campaigns/{name}/run", run_now, name="campaign_run")
    r.add_get("/campaigns/{name}/edit", edit_page, name="campaign_edit")
    r.add_post("/campaigns/{name}/edit", edit_save, name="campaign_save")
    r.add_post("/campaigns/{name}/enabled", set_enabled, name="campaign_enabled")


# -- progress -----------------------------------------------------------------------------------------------


async def list_page(request: web.Request) -> web.Response:
    s = services(request)
    rows = await campaign_rows(s.db)
    progress = {row.name: await _progress(request, row.name) for row in rows}
    return await _page(request, "campaigns.html", rows=rows, progress=progress, labels=PROGRESS,
                       running=_running(request))


async def detail_page(request: web.Request) -> web.Response:
    row = await _row(request)
    progress = await _progress(request, row.name)
    return await _page(request, "campaign_detail.html", row=row, p=progress, labels=PROGRESS,
                       results=ATTEMPT_RESULTS, running=row.name in _running(request))


async def _progress(request: web.Request, name: str) -> dict:
    """The service's report, plus the 30-day abandon rate against the campaign's cap and what it runs."""
    s = services(request)
    report = dict(await s.campaigns.report(name))
    try:
        definition = await s.campaigns.get(name)
    except Exception:  # a stored text that no longer validates still has its counts shown
        definition = None
    rate = await s.db.run(abandon_rate, name, utcnow())
    report["abandon_rate"] = rate.rate
    report["abandon_cap"] = definition.pacing.abandon_cap if definition else None
    report["mode"] = definition.mode if definition else None
    report["schedule"] = definition.schedule if definition else None
    report["attempts_by_result"] = _by_result(report)
    return report


def _by_result(report: dict) -> dict[str, int]:
    found = report.get("attempts_by_result") or report.get("attempts")
    return {k: int(v) for k, v in found.items()} if isinstance(found, dict) else {}


async def report_csv(request: web.Request) -> web.Response:
    """The same CSV as the API's (http.rows_to_csv): one row per target, no names or numbers."""
    row = await _row(request)
    rows = await services(request).campaigns.report_rows(row.name, audit_actor(request))
    return csv_response(rows_to_csv(rows), f"campaign-{row.name}.csv")


# -- run now ------------------------------------------------------------------------------------------------


async def run_now(request: web.Request) -> web.Response:
    """Plan and dial in the background (campaigns/runs.py dispatches by mode); the page says it started."""
    row = await _row(request)
    here = _url(request, "campaign", row.name)
    if not row.enabled:
        return await _done(request, f"{row.title} is switched off: switch it on to run it.", here)
    runs = services(request).campaign_runs
    if row.name in runs.running():
        return await _done(request, f"{row.title} is already running.", here)
    await services(request).campaigns.audit_run(row.name, audit_actor(request))  # before anyone is dialed
    await runs.start(row.name)
    return await _done(request, f"{row.title}: run started.", here)


def _running(request: web.Request) -> set[str]:
    runs = services(request).campaign_runs
    return runs.running() if runs is not None else set()


# -- admin: YAML editor and on/off --------------------------------------------------------------------------


async def edit_page(request: web.Request, *, text: str | None = None, problems: list | None = None,
                    status: int = 200) -> web.Response:
    row = await _row(request)
    return await _page(request, "campaign_edit.html", status=status, row=row,
                       text=row.source_yaml if text is None else text, problems=problems or [])


async def edit_save(request: web.Request) -> web.Response:
    row = await _row(request)
    data = await request.post()
    text = data.get("source", "")
    text = text.replace("\r\n", "\n") if isinstance(text, str) else ""
    try:
        await services(request).campaigns.save_text(row.name, text, audit_actor(request))
    except SourceError as exc:
        return await edit_page(request, text=text, problems=[_problem(p) for p in exc.problems], status=400)
    except CatalogError:
        raise
    except ValueError as exc:  # a save the service refuses for another reason (e.g. a renamed campaign)
        return await edit_page(request, text=text, problems=[_problem(str(exc))], status=400)
    saved = await campaign_row(services(request).db, row.name)
    return await _done(request, f"Saved: {saved.title} is now version {saved.version}.",
                       _url(request, "campaign", row.name))


def _problem(message: str) -> dict:
    """{line, message} from 'file:line: message' (line None when the problem has none)."""
    found = _LINE.match(message)
    if found:
        return {"line": int(found.group(1)), "message": found.group(2)}
    return {"line": None, "message": message}


async def set_enabled(request: web.Request) -> web.Response:
    row = await _row(request)
    enabled = (await request.post()).get("enabled") == "1"
    await services(request).campaign_catalog.set_enabled(user_id(request), row.name, enabled)
    verb = "switched on" if enabled else "switched off: no run will dial it"
    return await _done(request, f"{row.title} {verb}.", _url(request, "campaign", row.name))


# -- admin: do-not-call list --------------------------------------------------------------------------------


async def dnc_page(request: web.Request, *, form: DncRequest | None = None,
                   error: DoNotCallError | None = None, status: int = 200) -> web.Response:
    entries = await services(request).dnc.entries(audit_actor(request))
    return await _page(request, "campaign_dnc.html", status=status, entries=entries,
                       form=form or DncRequest(), error=error, kinds=CAMPAIGN_KINDS)


async def dnc_add(request: web.Request) -> web.Response:
    data = await request.post()
    form = DncRequest(*(_text(data, k) for k in ("number", "mrn", "campaign_kind", "reason")))
    try:
        await services(request).dnc.add(form, audit_actor(request))
    except DoNotCallError as exc:
        return await dnc_page(request, form=form, error=exc, status=exc.status)
    return await _done(request, "Added to the do-not-call list.", _url(request, "campaign_dnc"))


async def dnc_remove(request: web.Request) -> web.Response:
    data = await request.post()
    try:
        await services(request).dnc.remove(int(request.match_info["entry"]), audit_actor(request),
                                           _text(data, "reason"))
    except DoNotCallError as exc:
        return await dnc_page(request, error=exc, status=exc.status)
    return await _done(request, "Removed from the do-not-call list.", _url(request, "campaign_dnc"))


# -- helpers ------------------------------------------------------------------------------------------------


async def _row(request: web.Request):
    try:
        return await campaign_row(services(request).db, request.match_info["name"])
    except CatalogError as exc:
        raise web.HTTPNotFound(reason=str(exc)) from None


async def _page(request: web.Request, template: str, *, status: int = 200, **context) -> web.Response:
    user = request.get(USER)
    is_admin = bool(user and user.role == "admin")
    return await render_with_notice(request, template, FLASH, context | {"is_admin": is_admin}, status=status)


async def _done(request: web.Request, notice: str, location: str) -> web.Response:
    await redirect_with_notice(request, FLASH, notice, location)


def _url(request: web.Request, route: str, name: str | None = None) -> str:
    resource = request.app.router[route]
    return str(resource.url_for(name=name) if name is not None else resource.url_for())



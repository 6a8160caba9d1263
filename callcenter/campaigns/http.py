"""Campaign JSON API, used by `callcenter campaign ...` (API token) and scripts. The console's HTML pages are
in console_http.py. Supervisors and admins run, plan and read reports; only admins edit campaigns and the
do-not-call list (auth/permissions.py). Refusals are ServiceErrors answered by errors_middleware.
"""
from __future__ import annotations

from aiohttp import web

from ..errors import BadRequestBody
from ..web.csvfile import csv_response, csv_text
from ..web.request import audit_actor, json_object, services
from .dnc import DncRequest
from .services import REPORT_FIELDS

NO_STORE = {"Cache-Control": "no-store"}


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/campaigns", list_campaigns, name="api_campaigns")
    r.add_put("/api/campaigns/{name}", save_campaign, name="api_campaign_save")
    r.add_post("/api/campaigns/{name}/plan", plan, name="api_campaign_plan")
    r.add_post("/api/campaigns/{name}/run", run, name="api_campaign_run")
    r.add_get("/api/campaigns/{name}/report", report, name="api_campaign_report")
    r.add_get("/api/campaigns/{name}/report.csv", report_csv, name="api_campaign_report_csv")
    r.add_get("/api/do-not-call", dnc_list, name="api_dnc")
    r.add_post("/api/do-not-call", dnc_add, name="api_dnc_add")
    r.add_post("/api/do-not-call/import", dnc_import, name="api_dnc_import")
    r.add_delete("/api/do-not-call/{entry:\\d+}", dnc_remove, name="api_dnc_remove")


async def list_campaigns(request: web.Request) -> web.Response:
    s = services(request)
    running = s.campaign_runs.running() if s.campaign_runs else set()
    items = [{"name": c.name, "kind": c.kind, "title": c.title, "mode": c.mode, "schedule": c.schedule,
              "running": c.name in running} for c in (await s.campaigns.definitions()).values()]
    return web.json_response({"campaigns": items}, headers=NO_STORE)


async def save_campaign(request: web.Request) -> web.Response:
    """The body is the campaign's YAML text; every problem comes back with its line."""
    text = await request.text()
    name = request.match_info["name"]
    campaign = await services(request).campaigns.save_text(name, text, audit_actor(request))
    return web.json_response({"saved": campaign.name})


async def plan(request: web.Request) -> web.Response:
    report_ = await services(request).campaigns.plan(request.match_info["name"])
    return web.json_response(report_.to_json(), headers=NO_STORE)


async def run(request: web.Request) -> web.Response:
    """Starts a run (plan, then dial in the background); `?wait=1` answers when the run has ended."""
    s = services(request)
    name = request.match_info["name"]
    await s.campaigns.audit_run(name, audit_actor(request))  # written before anyone is dialed
    if request.query.get("wait") in ("1", "true", "yes"):
        result = await s.campaign_runs.run(name)
    else:
        result = await s.campaign_runs.start(name)
    return web.json_response(result, status=200 if "run" in result else 202, headers=NO_STORE)


async def report(request: web.Request) -> web.Response:
    return web.json_response(await services(request).campaigns.report(request.match_info["name"]),
                             headers=NO_STORE)


async def report_csv(request: web.Request) -> web.Response:
    s = services(request)
    name = request.match_info["name"]
    rows = await s.campaigns.report_rows(name, audit_actor(request))
    return csv_response(rows_to_csv(rows), f"campaign-{name}.csv")


def rows_to_csv(rows: list[dict]) -> str:
    """The report's CSV (API, console page and CLI alike), header always; a cell a spreadsheet would run as a
    formula is quoted."""
    return csv_text(REPORT_FIELDS, ([row.get(f) for f in REPORT_FIELDS] for row in rows))


async def dnc_list(request: web.Request) -> web.Response:
    entries = await services(request).dnc.entries(audit_actor(request))
    return web.json_response({"entries": [e.to_json() for e in entries]}, headers=NO_STORE)


async def dnc_add(request: web.Request) -> web.Response:
    body = await json_object(request, '{"number": "+15555550123", "campaign_kind": null, "reason": "..."}')
    fields = {k: body.get(k) or "" for k in ("number", "mrn", "campaign_kind", "reason")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise BadRequestBody("number, mrn, campaign_kind and reason must be text")
    entry = await services(request).dnc.add(DncRequest(**fields), audit_actor(request))
    return web.json_response({"id": entry}, status=201)


async def dnc_import(request: web.Request) -> web.Response:
    """The body is the CSV file; nothing is written unless every row is right."""
    count = await services(request).dnc.import_csv(await request.text(), audit_actor(request),
                                                   request.query.get("file", "import"))
    return web.json_response({"imported": count}, status=201)


async def dnc_remove(request: web.Request) -> web.Response:
    """The reason comes as `?reason=...` or a JSON body {"reason": "..."}; without one: 400."""
    reason = request.query.get("reason")
    if reason is None and request.can_read_body:
        reason = (await json_object(request, '{"reason": "asked to be called again"}')).get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadRequestBody("reason must be text")
    await services(request).dnc.remove(int(request.match_info["entry"]), audit_actor(request), reason)
    return web.json_response({"removed": int(request.match_info["entry"])})

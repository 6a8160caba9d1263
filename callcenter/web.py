"""HTTP: routes, middlewares, the JSON API, agent websockets and the console pages.

Views are short: they call a service and translate its errors. Every route has a `name=` with a line in
`auth/permissions.py` (init_app refuses to start otherwise); the auth middleware checks it on every request.

To add a page: a view that returns `await render(request, "x.html", {...})`, one `add_get(..., name=...)`
line in `setup_routes`, one line in the permission table, the template under agent_ui/templates/ extending
base.html. tests/test_permissions.py then checks it for every role by itself.
"""
from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy import select
from sqlalchemy.orm import Session

from .admin import http as admin_http
from .auth import http as auth_http
from .auth.middleware import auth_middleware as _guard
from .auth.middleware import wants_html, watch_session
from .auth.pages import STATIC_DIR, render
from .calls import http as calls_http
from .campaigns import console_http as campaign_console
from .campaigns import http as campaigns_http
from .db.models import Call as CallRow
from .db.queries import add_audit_event, call_events
from .desk import http as desk_http
from .errors import ServiceError
from .eventlog import utcnow
from .hl7 import http as hl7_http
from .httputil import SERVICES, Reader, is_desk_role, json_value, reader, require_own_desk
from .kpi import http as kpi_http
from .metrics import http as metrics_http
from .review import http as review_http
from .supervision import http as supervision_http
from .triage import http as triage_http
from .wallboard import http as wallboard_http

log = logging.getLogger(__name__)


# Content-Security-Policy: everything from this server only; no inline script or style.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


HSTS_SECONDS = 365 * 24 * 3600  # with secure cookies: browsers use HTTPS only, for a year


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health, name="health")
    app.router.add_static("/static", app[SERVICES].cfg.path(STATIC_DIR), name="static")
    auth_http.setup_routes(app)
    # console pages: placeholders until the agent, supervisor and admin views land
    app.router.add_get("/", home, name="home")
    admin_http.setup_routes(app, app[SERVICES])
    # JSON API: Bearer API token (machine clients) or a console session
    app.router.add_get("/api/agents", list_agents, name="api_agents")
    app.router.add_post("/api/agents/{number}/state", set_agent_state, name="api_agent_state")
    app.router.add_get("/api/agents/{number}/ws", agent_socket, name="api_agent_socket")
    app.router.add_get("/api/queues", list_queues, name="api_queues")
    app.router.add_get("/api/calls", find_call, name="api_call_find")
    app.router.add_get("/api/calls/{call_id}", get_call, name="api_call")
    desk_http.setup_routes(app)  # the agent desk page (/agent) and its API
    calls_http.setup_routes(app, app[SERVICES].controls)  # call controls: hold, transfer, hang up, dial
    # supervision (issue 4): wallboard + supervisor page, recording review, live monitoring
    wallboard_http.setup_routes(app)
    review_http.setup_routes(app)
    supervision_http.setup_routes(app)
    triage_http.setup_routes(app)  # triage panel API and call scripts (issue 5)
    campaigns_http.setup_routes(app)  # campaign JSON API: run, plan, reports, do-not-call (issue 6)
    campaign_console.setup_routes(app)  # campaign console pages (issue 6)
    kpi_http.setup_routes(app)  # KPI dashboard, JSON and CSV reports (issue 7)
    metrics_http.setup_routes(app)  # Prometheus /api/metrics (issue 12)
    hl7_http.setup_routes(app)  # the HL7 inbound log for admins (issue 15)


# The guard of auth/middleware.py, reading its settings from the Services of the application.
auth_middleware = _guard(lambda app: app[SERVICES].auth)


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ServiceError as exc:  # every feature's refusals, translated here once
        return await _error(request, exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            response = await _error(request, exc.status, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.match_info.route.name)
        return await _error(request, 500, "internal error")


async def _error(request: web.Request, status: int, message: str) -> web.Response:
    """An error page for a browser, JSON {"error": ...} for everyone else (and for every /api/* path)."""
    env = request.config_dict.get(aiohttp_jinja2.APP_KEY)
    if env is None or not wants_html(request):
        return web.json_response({"error": message}, status=status)
    template = env.select_template([f"errors/{status}.html", "errors/error.html"])
    return await render(request, template.name, {"status": status, "message": message}, status=status)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if _route_name(request) != "static":
        # Pages and API answers may carry patient data: never kept by a browser or a proxy cache.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.app[SERVICES].auth.settings.secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")


def _route_name(request: web.Request) -> str | None:
    return request.match_info.route.name if request.match_info.http_exception is None else None


class AccessLogger(AbstractAccessLogger):
    """The access log without query strings (websocket tickets, search and filter values) and without the
    Referer, which carries the previous page's query string: address, method, path, status, size, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %d %d %.1fms", request.remote, request.method, request.path,
                         response.status, response.body_length, time * 1000)


# -- console pages -----------------------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    return await render(request, "home.html", {"section": None})


def placeholder(section: str):
    async def view(request: web.Request) -> web.Response:
        return await render(request, "home.html", {"section": section})
    return view


# -- API ---------------------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    return web.json_response({
        "ari_connected": s.ari.connected.is_set(), "ari_connections": s.ari.connections,
        "active_calls": len(s.router.live_calls()), "event_log_failures": s.events.failures,
    })


async def list_agents(request: web.Request) -> web.Response:
    queues = request.app[SERVICES].queues
    return web.json_response([a.public() for a in queues.agents.values()])


async def set_agent_state(request: web.Request) -> web.Response:
    require_own_desk(request)
    body = await json_value(request, '{"state": "available"}')
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        return _json_error(400, "'state' is required: available, paused or logged_out")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        return _json_error(400, "'reason' must be a short text")
    queues = request.app[SERVICES].queues
    agent = queues.request_state(request.match_info["number"], body["state"], reason)
    return web.json_response(agent.public())


async def list_queues(request: web.Request) -> web.Response:
    """Each queue's waiting callers. Desk roles get positions and waits only: a waiting call is on no desk
    yet, and its id would open its record elsewhere."""
    queues = request.app[SERVICES].queues
    with_ids = not is_desk_role(request)
    now = utcnow()
    out = []
    for name, info in queues.queues.items():
        waiting = [{"position": i, "waiting_seconds": (now - e.since).total_seconds()}
                   | ({"call_id": e.call.id} if with_ids else {})
                   for i, e in enumerate(queues.waiting(name), 1)]
        out.append({"name": name, "title": info.title, "waiting": waiting})
    return web.json_response(out)


async def get_call(request: web.Request) -> web.Response:
    """The call and its events (triage answers, red flags, override reasons: patient data). Desk roles read
    the calls that are or were on their own desk only; every read is audited with it."""
    s = request.app[SERVICES]
    found = await s.db.run(_call_with_events, request.match_info["call_id"], reader(request))
    if found is None:
        return _json_error(404, "no such call")
    if found is FORBIDDEN:
        return _json_error(403, "you may see the calls of your own desk only")
    live = s.router.find(found["id"])  # held / consulting are live states, not stored statuses
    found["state"] = live.state.name if live is not None and not live.ended.is_set() else found["status"]
    return web.json_response(found)


async def find_call(request: web.Request) -> web.Response:
    """`?channel=ID`: the call that a channel is (or was) the caller of, so a tool that placed a call
    (`callcenter simulate-call`) can name it by the call id. A channel id is Asterisk's, no patient data."""
    channel_id = request.query.get("channel", "")
    if not channel_id:
        return _json_error(400, "give the channel: /api/calls?channel=<channel id>")
    s = request.app[SERVICES]
    owner = s.router.find_by_channel(channel_id)  # a call, or a monitoring session's channel
    live = owner if owner is not None and s.router.find(owner.id) is owner else None
    if live is None:
        await s.events.flush()  # a call that just started: its row is in the writer's queue
    call_id = live.id if live is not None else await s.db.run(_call_id_for_channel, channel_id)
    if call_id is None:
        return _json_error(404, "no call on that channel")
    url = request.app.router["api_call"].url_for(call_id=call_id)
    return web.json_response({"id": call_id, "url": str(url)})


def _call_id_for_channel(session: Session, channel_id: str) -> str | None:
    return session.scalar(select(CallRow.id).where(CallRow.channel_id == channel_id)
                          .order_by(CallRow.started_at.desc()).limit(1))


FORBIDDEN = object()  # _call_with_events: the call is not the reader's to see


def _call_with_events(session: Session, call_id: str, who: Reader) -> dict | object | None:
    """The call as JSON with its events, audited in this transaction; FORBIDDEN when not `who`'s to see."""
    row = session.get(CallRow, call_id)
    if row is None:
        return None
    events = call_events(session, call_id)
    if not who.may_see({e.agent_id for e in events if e.agent_id is not None} | {row.agent_id}):
        return FORBIDDEN
    add_audit_event(session, "call_view", call_id=call_id, **who.audit_fields())
    fields = ("id", "direction", "caller_status", "patient_id", "candidate_patient_ids", "language",
              "ivr_path", "queue_name", "status", "outcome", "agent_id", "end_reason")
    times = ("started_at", "queued_at", "offered_at", "answered_at", "ended_at")
    data = {f: getattr(row, f) for f in fields}
    data |= {t: getattr(row, t).isoformat() if getattr(row, t) else None for t in times}
    data["events"] = [{"type": e.type, "ts": e.ts.isoformat(), "agent_id": e.agent_id, "data": e.data}
                      for e in events]
    return data


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    s = request.app[SERVICES]
    number = request.match_info["number"]
    require_own_desk(request)
    s.queues.agent(number)  # 404 for an unknown agent
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    s.notifier.attach(number, ws)
    try:
        async with watch_session(request, ws):  # closed when the user signs out or is deactivated
            await ws.send_json({"type": "hello", "agent": number})
            agent = s.queues.agent(number)
            for message in s.pops.replay(s.router.find(agent.call_id), agent):
                await ws.send_json(message)
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
    finally:
        s.notifier.detach(number, ws)
    return ws


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)

"""HTTP API and agent websockets (aiohttp). Views are short: they call a service and translate its errors."""
from __future__ import annotations

import hmac
import json
import logging

from aiohttp import WSMsgType, web
from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import Call as CallRow
from .db.models import CallEvent
from .eventlog import utcnow
from .queues.exceptions import QueueError

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", object)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents/{number}/state", set_agent_state)
    app.router.add_get("/api/agents/{number}/ws", agent_socket)
    app.router.add_get("/api/queues", list_queues)
    app.router.add_get("/api/calls/{call_id}", get_call)


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except QueueError as exc:
        return _error(exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return _error(exc.status, exc.reason)
        raise


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.path.startswith("/api/"):
        token = request.app[SERVICES].cfg.http.api_token
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        given = given or request.query.get("token", "")
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return _error(401, "missing or wrong API token")
    return await handler(request)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def health(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    return web.json_response({
        "ari_connected": s.ari.connected.is_set(), "ari_connections": s.ari.connections,
        "active_calls": len(s.router.calls), "event_log_failures": s.events.failures,
    })


async def list_agents(request: web.Request) -> web.Response:
    queues = request.app[SERVICES].queues
    return web.json_response([a.public() for a in queues.agents.values()])


async def set_agent_state(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _error(400, "the body must be JSON like {\"state\": \"available\"}")
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        return _error(400, "'state' is required: available, paused or logged_out")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        return _error(400, "'reason' must be a short text")
    queues = request.app[SERVICES].queues
    agent = queues.request_state(request.match_info["number"], body["state"], reason)
    return web.json_response(agent.public())


async def list_queues(request: web.Request) -> web.Response:
    queues = request.app[SERVICES].queues
    now = utcnow()
    out = []
    for name, info in queues.queues.items():
        waiting = [{"call_id": e.call.id, "position": i, "waiting_seconds": (now - e.since).total_seconds()}
                   for i, e in enumerate(queues.waiting(name), 1)]
        out.append({"name": name, "title": info.title, "waiting": waiting})
    return web.json_response(out)


async def get_call(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    found = await s.db.run(_call_with_events, request.match_info["call_id"])
    if found is None:
        return _error(404, "no such call")
    return web.json_response(found)


def _call_with_events(session: Session, call_id: str) -> dict | None:
    row = session.get(CallRow, call_id)
    if row is None:
        return None
    events = session.scalars(select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id))
    fields = ("id", "direction", "caller_status", "patient_id", "candidate_patient_ids", "language", "ivr_path",
              "queue_name", "status", "outcome", "agent_id", "end_reason")
    times = ("started_at", "queued_at", "offered_at", "answered_at", "ended_at")
    data = {f: getattr(row, f) for f in fields}
    data |= {t: getattr(row, t).isoformat() if getattr(row, t) else None for t in times}
    data["events"] = [{"type": e.type, "ts": e.ts.isoformat(), "agent_id": e.agent_id, "data": e.data}
                      for e in events]
    return data


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    s = request.app[SERVICES]
    number = request.match_info["number"]
    s.queues.agent(number)  # 404 for an unknown agent
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    s.notifier.attach(number, ws)
    try:
        await ws.send_json({"type": "hello", "agent": number})
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        s.notifier.detach(number, ws)
    return ws

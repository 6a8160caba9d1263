"""Monitoring API: start listen / whisper / barge on a call, stop it.

The supervisor's phone is their users.phone_endpoint, else the service's default. An API-token client (no
user) may name the phone in the body, since it has no user row to carry one.
"""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ..auth.middleware import USER
from ..db.models import User
from ..httputil import json_object
from ..httputil import services as _services
from .exceptions import InvalidEndpoint


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/calls/{call_id}/monitor", start_monitor, name="api_call_monitor")
    app.router.add_post("/api/monitors/{session_id}/stop", stop_monitor, name="api_monitor_stop")
    app.router.add_get("/api/monitors", list_monitors, name="api_monitors")


async def start_monitor(request: web.Request) -> web.Response:
    s = _services(request)
    body = await json_object(request, '{"mode": "listen"}')
    user = request.get(USER)
    endpoint = await _phone_of(s, user, body)
    session = await s.monitors.start(request.match_info["call_id"], str(body.get("mode", "")), endpoint,
                                     user.id if user else None)
    return web.json_response(session.public(), status=201)


async def stop_monitor(request: web.Request) -> web.Response:
    s = _services(request)
    user = request.get(USER)
    session = s.monitors.get(request.match_info["session_id"])
    if user is not None and user.role != "admin" and session.user_id != user.id:
        raise web.HTTPForbidden(reason="this monitoring session belongs to another supervisor")
    session = await s.monitors.stop(session.id)
    return web.json_response(session.public())


async def list_monitors(request: web.Request) -> web.Response:
    s = _services(request)
    return web.json_response([m.public() for m in s.monitors.sessions.values()])


async def _phone_of(s, user, body: dict) -> str | None:
    if user is None:
        endpoint = body.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            raise InvalidEndpoint()
        return endpoint
    return await s.db.run(lambda session: session.scalar(
        select(User.phone_endpoint).where(User.id == user.id)))


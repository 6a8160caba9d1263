"""Monitoring API: start listen / whisper / barge on a call, stop it.

The phone that rings is always a configured one: the supervisor's users.phone_endpoint, else the service's
default ([telephony] supervisor_phone), which is also an API client's. A request never names it: a phone from
the body would let any caller of this route ring an arbitrary dial string into a patient's call.
"""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ..db.models import User
from ..web.guard import USER
from ..web.request import audit_actor, json_object
from ..web.request import services as _services
from .exceptions import EndpointNotConfigurable


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/calls/{call_id}/monitor", start_monitor, name="api_call_monitor")
    app.router.add_post("/api/monitors/{session_id}/stop", stop_monitor, name="api_monitor_stop")
    app.router.add_get("/api/monitors", list_monitors, name="api_monitors")


async def start_monitor(request: web.Request) -> web.Response:
    s = _services(request)
    body = await json_object(request, '{"mode": "listen"}')
    if "endpoint" in body:
        raise EndpointNotConfigurable()
    user = request.get(USER)
    endpoint = await _phone_of(s, user)
    session = await s.monitors.start(request.match_info["call_id"], str(body.get("mode", "")), endpoint,
                                     user.id if user else None, actor=audit_actor(request))
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


async def _phone_of(s, user) -> str | None:
    """The user's own phone; None: the service's default (an API client has no user row)."""
    if user is None:
        return None
    return await s.db.run(lambda session: session.scalar(
        select(User.phone_endpoint).where(User.id == user.id)))


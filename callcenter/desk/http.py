"""The agent desk page (/agent) and its JSON API under /api/agents/{number}/...

Desk roles act on their own desk only. Searches are POSTs so that search terms (patient data) never appear
in a URL, an access log or the browser history.
"""
from __future__ import annotations

import json

from aiohttp import web

from ..auth.middleware import USER
from ..auth.pages import render
from ..auth.permissions import DESK_ROLES, may_act_for_desk
from ..queues.exceptions import AgentNotFound
from .exceptions import DeskError, InvalidRequest
from .services import Actor, DeskService


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/agent", desk_page, name="agent_console")
    app.router.add_get("/api/agents/{number}/desk", desk_snapshot, name="api_desk")
    app.router.add_post("/api/agents/{number}/patients/search", search_patients, name="api_desk_search")
    app.router.add_post("/api/agents/{number}/patients/{patient_id:\\d+}/view", view_patient,
                        name="api_desk_patient_view")
    app.router.add_post("/api/agents/{number}/disposition", save_disposition, name="api_desk_disposition")
    app.router.add_get("/api/agents/{number}/callbacks", list_callbacks, name="api_desk_callbacks")


def _desk(request: web.Request) -> DeskService:
    from ..web import SERVICES  # web.py imports this module to wire its routes
    return request.app[SERVICES].desk


def _actor(request: web.Request) -> Actor:
    from ..web import SERVICES
    user = request.get(USER)
    number = request.match_info["number"]
    if user is not None and not may_act_for_desk(user.role, user.desk, number):
        raise web.HTTPForbidden(reason="you may act on your own desk only")
    try:
        agent = request.app[SERVICES].queues.agent(number)
    except AgentNotFound:
        raise _error(404, "no such agent") from None
    if user is not None and user.role in DESK_ROLES:
        _desk(request).staff(number)
    return Actor(user.id if user else None, agent)


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise _error(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _error(400, "the body must be a JSON object")
    return body


_HTTP_ERRORS = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}


def _error(status: int, message: str) -> web.HTTPException:
    """A JSON error the errors middleware lets through as it is."""
    return _HTTP_ERRORS[status](text=json.dumps({"error": message}), content_type="application/json")


def _failed(exc: DeskError) -> web.Response:
    return web.json_response({"error": str(exc)}, status=exc.status)


# -- views -------------------------------------------------------------------------------------------------


async def desk_page(request: web.Request) -> web.Response:
    user = request[USER]
    if user.desk:
        _desk(request).staff(user.desk)
    return await render(request, "agent.html", {"desk": user.desk or ""})


async def desk_snapshot(request: web.Request) -> web.Response:
    actor = _actor(request)
    return web.json_response(await _desk(request).snapshot(actor))


async def list_callbacks(request: web.Request) -> web.Response:
    actor = _actor(request)
    return web.json_response(await _desk(request).callbacks(actor))


async def search_patients(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await _body(request)
    desk = _desk(request)
    try:
        terms = desk.search_terms(body)
        found = await desk.search(actor, terms, _call_id(body))
    except DeskError as exc:
        return _failed(exc)
    return web.json_response({"patients": found, "limited": len(found) >= 25})


async def view_patient(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await _body(request)
    try:
        summary = await _desk(request).view(actor, int(request.match_info["patient_id"]), _call_id(body),
                                            body.get("via", "search"))
    except DeskError as exc:
        return _failed(exc)
    return web.json_response(summary)


async def save_disposition(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await _body(request)
    desk = _desk(request)
    try:
        saved = await desk.save_disposition(actor, desk.disposition_request(body))
    except DeskError as exc:
        return _failed(exc)
    return web.json_response({"disposition": saved, "agent": actor.agent.public(),
                              "disposition_owed": desk.owed(actor.agent.number)}, status=201)


def _call_id(body: dict) -> str | None:
    call_id = body.get("call_id")
    if call_id is not None and (not isinstance(call_id, str) or not 0 < len(call_id) <= 32):
        raise InvalidRequest("'call_id' must be a call id")
    return call_id

"""The agent desk page (/agent) and its JSON API under /api/agents/{number}/...

Desk roles act on their own desk only; releasing a desk from wrap-up (and writing the disposition it then
owes, /api/disposition-tasks) is for supervisors. Searches are POSTs so that search terms (patient data)
never appear in a URL, an access log or the browser history.
"""
from __future__ import annotations

from aiohttp import web

from ..errors import Refused
from ..queues.exceptions import AgentNotFound
from ..web.guard import USER
from ..web.request import json_object, own_desk_agent, reader, services
from ..web.templating import render
from .exceptions import InvalidRequest
from .services import Actor, DeskService


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/agent", desk_page, name="agent_console")
    app.router.add_get("/api/agents/{number}/desk", desk_snapshot, name="api_desk")
    app.router.add_post("/api/agents/{number}/patients/search", search_patients, name="api_desk_search")
    app.router.add_post("/api/agents/{number}/patients/{patient_id:\\d+}/view", view_patient,
                        name="api_desk_patient_view")
    app.router.add_post("/api/agents/{number}/disposition", save_disposition, name="api_desk_disposition")
    app.router.add_get("/api/agents/{number}/callbacks", list_callbacks, name="api_desk_callbacks")
    app.router.add_get("/api/agents/{number}/disposition-tasks", list_tasks, name="api_desk_tasks")
    app.router.add_post("/api/agents/{number}/release", release_desk, name="api_desk_release")
    app.router.add_get("/api/disposition-tasks", list_all_tasks, name="api_disposition_tasks")
    app.router.add_post("/api/disposition-tasks/{task_id:\\d+}/complete", complete_task,
                        name="api_disposition_task_complete")


def _desk(request: web.Request) -> DeskService:
    return services(request).desk


def _actor(request: web.Request) -> Actor:
    agent = own_desk_agent(request)
    who = reader(request)
    if who.restricted:  # an agent or nurse at their desk: its calls now need a disposition
        _desk(request).staff(agent.number)
    return Actor(who.user_id, agent, who.api_client)


# -- views -------------------------------------------------------------------------------------------------


async def desk_page(request: web.Request) -> web.Response:
    user = request[USER]
    if user.desk:
        _desk(request).staff(user.desk)
    scripts = services(request).triage.guide.call_types()  # the script panel's choices
    routing = services(request).complaints.routing  # the ticket panel's choices (issue 17)
    return await render(request, "agent.html", {"desk": user.desk or "", "call_scripts": scripts,
                                                "ticket_categories": routing.categories,
                                                "ticket_departments": routing.departments})


async def desk_snapshot(request: web.Request) -> web.Response:
    actor = _actor(request)
    return web.json_response(await _desk(request).snapshot(actor))


async def list_callbacks(request: web.Request) -> web.Response:
    actor = _actor(request)
    return web.json_response(await _desk(request).callbacks(actor))


async def list_tasks(request: web.Request) -> web.Response:
    actor = _actor(request)
    return web.json_response(await _desk(request).tasks(actor))


async def list_all_tasks(request: web.Request) -> web.Response:
    return web.json_response(await _desk(request).all_tasks())


async def complete_task(request: web.Request) -> web.Response:
    """A supervisor saves a task's disposition ({"code", "notes"}) for the desk that owes it."""
    body = await json_object(request, '{"code": "other", "notes": "..."}')
    user = request.get(USER)
    saved = await _desk(request).complete_task(int(request.match_info["task_id"]), user.id if user else None,
                                               body)
    return web.json_response({"disposition": saved}, status=201)


async def release_desk(request: web.Request) -> web.Response:
    """A supervisor ends a desk's wrap-up ({"state": "available" | "logged_out"}, default available)."""
    body = await json_object(request, '{"state": "available"}')
    user = request.get(USER)
    number = request.match_info["number"]
    try:
        released = await _desk(request).release(number, user.id if user else None,
                                                str(body.get("state") or "available"))
    except AgentNotFound:
        raise Refused(404, "no such agent") from None
    return web.json_response(released)


async def search_patients(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await json_object(request)
    desk = _desk(request)
    terms = desk.search_terms(body)
    found = await desk.search(actor, terms, _call_id(body))
    return web.json_response({"patients": found, "limited": len(found) >= 25})


async def view_patient(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await json_object(request)
    summary = await _desk(request).view(actor, int(request.match_info["patient_id"]), _call_id(body),
                                        body.get("via", "search"), body.get("reason"))
    return web.json_response(summary)


async def save_disposition(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await json_object(request)
    desk = _desk(request)
    saved = await desk.save_disposition(actor, desk.disposition_request(body))
    return web.json_response({"disposition": saved, "agent": actor.agent.public(),
                              "disposition_owed": desk.owed(actor.agent.number)}, status=201)


def _call_id(body: dict) -> str | None:
    call_id = body.get("call_id")
    if call_id is not None and (not isinstance(call_id, str) or not 0 < len(call_id) <= 32):
        raise InvalidRequest("'call_id' must be a call id")
    return call_id

"""The follow-up desk (/followups: the page; its module followups.js works the JSON API below) and the care
plans' JSON API: enrolment, the end of a plan, planning, a patient's plan history.

Who sees which follow-up is the service's rule (services.Viewer, from web/request.py's `reader`); a call is
placed from the signed-in user's own desk only, through the console's click-to-dial. Ids only in URLs: the
patient's data travels in answers, each read audited by the service in its transaction.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from ..errors import Refused
from ..web.request import audit_actor, json_object, reader, services
from ..web.templating import render
from .exceptions import CarePlanError
from .services import OUTCOMES, VIEWS, CarePlanService, Enrolment, Viewer

ENROL_EXAMPLE = ('{"patient_id": 12, "condition": "Hypertension", "department": "Cardiology", '
                 '"starts_on": "2026-12-01", "schedule": "every 14 days", "questionnaire": "hypertension", '
                 '"channel": "agent", "nurse_user_id": 5}')


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/followups", page, name="followup_desk")
    r.add_get("/api/careplans/followups", api_work_list, name="api_careplan_followups")
    r.add_get(r"/api/careplans/followups/{id:\d+}", api_preview, name="api_careplan_followup")
    r.add_post(r"/api/careplans/followups/{id:\d+}/dial", api_dial, name="api_careplan_followup_dial")
    r.add_post(r"/api/careplans/followups/{id:\d+}/outcome", api_outcome,
               name="api_careplan_followup_outcome")
    r.add_post(r"/api/careplans/followups/{id:\d+}/reschedule", api_reschedule,
               name="api_careplan_followup_reschedule")
    r.add_post("/api/careplans", api_enrol, name="api_careplan_enrol")
    r.add_post(r"/api/careplans/{id:\d+}/end", api_end, name="api_careplan_end")
    r.add_post("/api/careplans/plan", api_plan, name="api_careplans_plan")
    r.add_get(r"/api/patients/{id:\d+}/careplans", api_history, name="api_patient_careplans")


def _careplans(request: web.Request) -> CarePlanService:
    return services(request).careplans


def _viewer(request: web.Request) -> Viewer:
    who = reader(request)
    return Viewer(who.user_id, who.role, who.api_client, who.client_id)


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


# Who sees the enrolment form and "End plan": auth/permissions.py's api_careplan_enrol and api_careplan_end.
ENROLLING_ROLES = ("nurse", "supervisor", "admin")


async def page(request: web.Request) -> web.Response:
    who = reader(request)
    context = {"views": VIEWS, "outcomes": OUTCOMES, "desk": who.desk,
               "may_enrol": who.role in ENROLLING_ROLES}
    if context["may_enrol"]:
        # The enrolment form's choices: staff names and questionnaire titles, no patient data.
        context["nurses"] = await _careplans(request).nurses()
        context["questionnaires"] = await services(request).questionnaires.catalogue()
    return await render(request, "followups.html", context)


async def api_work_list(request: web.Request) -> web.Response:
    query = request.query
    plan = query.get("plan", "")
    if plan and not plan.isdigit():
        raise CarePlanError("plan: a care plan's id")
    rows = await _careplans(request).work_list(_viewer(request), view=query.get("view", "due_today"),
                                               department=query.get("department") or None,
                                               plan_id=int(plan) if plan else None)
    return web.json_response({"followups": rows})


async def api_preview(request: web.Request) -> web.Response:
    return web.json_response(await _careplans(request).preview(_id(request), _viewer(request)))


async def api_dial(request: web.Request) -> web.Response:
    desk = reader(request).desk
    if not desk:
        raise Refused(409, "you have no desk to call from")
    call_id = await _careplans(request).dial(_id(request), _viewer(request), desk)
    return web.json_response({"call_id": call_id, "desk": desk}, status=201)


async def api_outcome(request: web.Request) -> web.Response:
    body = await json_object(request, '{"outcome": "completed", "call_id": "..."}')
    call_id = body.get("call_id")
    if call_id is not None and (not isinstance(call_id, str) or len(call_id) > 32):
        raise CarePlanError("call_id: a call's id")
    outcome = str(body.get("outcome"))
    return web.json_response(await _careplans(request).record_outcome(_id(request), outcome, _viewer(request),
                                                                      call_id))


async def api_reschedule(request: web.Request) -> web.Response:
    body = await json_object(request, '{"when": "2026-12-10T14:30"}')
    when = _when(body.get("when"), services(request).cfg.site.time_zone or "UTC")
    return web.json_response(await _careplans(request).reschedule(_id(request), when, _viewer(request)))


def _when(value, zone: str) -> datetime:
    """An ISO date-time; without an offset it is the hospital's wall clock (what the desk staff read)."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise CarePlanError("when: a date and time, e.g. 2026-12-10T14:30 (hospital time)")
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(zone))


async def api_enrol(request: web.Request) -> web.Response:
    enrolment = Enrolment.from_json(await json_object(request, ENROL_EXAMPLE))
    plan_id = await _careplans(request).enrol(enrolment, audit_actor(request))
    return web.json_response({"plan_id": plan_id}, status=201)


async def api_end(request: web.Request) -> web.Response:
    body = await json_object(request, '{"reason": "patient_request"}')
    reason = body.get("reason") or "ended"
    if not isinstance(reason, str) or len(reason) > 32:
        raise CarePlanError("reason: a short code")
    await _careplans(request).end(_id(request), audit_actor(request), reason)
    return web.json_response({"plan_id": _id(request), "status": "ended"})


async def api_plan(request: web.Request) -> web.Response:
    body = await json_object(request, '{"days_ahead": 0}')
    days = body.get("days_ahead", 0)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 366:
        raise CarePlanError("days_ahead: 0 to 366")
    return web.json_response((await _careplans(request).plan(days_ahead=days)).to_json())


async def api_history(request: web.Request) -> web.Response:
    return web.json_response(await _careplans(request).history(_id(request), _viewer(request)))


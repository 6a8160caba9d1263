"""The admin pages: plain server-rendered forms (every POST form carries the csrf_token hidden input).

A form that succeeds redirects (303) to a page showing a one-time notice; a refused form is rendered again,
with the message next to the field at fault and everything the admin typed still in place.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from ..db.models import USER_ROLES
from ..web.csvfile import csv_response, csv_text
from ..web.guard import USER
from ..web.request import services
from ..web.templating import form_text as _text
from ..web.templating import redirect_with_notice, render_with_notice
from .exceptions import AdminError, NotFound
from .services import ENDPOINT_TECHS, AdminService, AgentForm, AuditFilter, QueueForm, UserForm

FLASH = "admin_notice"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin", overview, name="admin_console")
    r.add_get("/admin/users", users_page, name="admin_users")
    r.add_post("/admin/users", user_create, name="admin_user_create")
    r.add_get("/admin/users/{username}", user_page, name="admin_user")
    r.add_post("/admin/users/{username}/role", user_role, name="admin_user_role")
    r.add_post("/admin/users/{username}/active", user_active, name="admin_user_active")
    r.add_post("/admin/users/{username}/password", user_password, name="admin_user_password")
    r.add_post("/admin/users/{username}/phone", user_phone, name="admin_user_phone")
    r.add_get("/admin/desks", desks_page, name="admin_desks")
    r.add_post("/admin/desks", desk_create, name="admin_desk_create")
    r.add_get("/admin/desks/new", desk_new, name="admin_desk_new")
    r.add_get("/admin/desks/{number}", desk_page, name="admin_desk")
    r.add_post("/admin/desks/{number}", desk_update, name="admin_desk_update")
    r.add_post("/admin/desks/{number}/delete", desk_delete, name="admin_desk_delete")
    r.add_get("/admin/queues", queues_page, name="admin_queues")
    r.add_post("/admin/queues", queue_create, name="admin_queue_create")
    r.add_get("/admin/queues/new", queue_new, name="admin_queue_new")
    r.add_get("/admin/queues/{name}", queue_page, name="admin_queue")
    r.add_post("/admin/queues/{name}", queue_update, name="admin_queue_update")
    r.add_get("/admin/audit", audit_page, name="admin_audit")
    r.add_post("/admin/audit", audit_filter, name="admin_audit_filter")
    r.add_get("/admin/audit.csv", audit_csv, name="admin_audit_csv")


def _admin(request: web.Request) -> AdminService:
    return services(request).admin


# -- overview ---------------------------------------------------------------------------------------------


async def overview(request: web.Request) -> web.Response:
    admin = _admin(request)
    users, desks, queues = await admin.users(), await admin.desks(), await admin.queues()
    recent = await admin.audit_page(AuditFilter())
    counts = {"users": len(users), "active": sum(u.active for u in users),
              "desks": len(desks), "queues": len(queues)}
    return await _page(request, "admin.html", tab="overview", counts=counts, recent=recent.rows[:8])


# -- users ------------------------------------------------------------------------------------------------


async def users_page(request: web.Request, form: UserForm | None = None, error: AdminError | None = None,
                     status: int = 200) -> web.Response:
    users = await _admin(request).users()
    return await _page(request, "admin_users.html", status=status, tab="users", users=users,
                       form=form or UserForm(), error=error, roles=USER_ROLES)


async def user_create(request: web.Request) -> web.Response:
    data = await request.post()
    form = UserForm(_text(data, "username"), _text(data, "display_name"), _text(data, "role"),
                    _text(data, "password", strip=False))
    try:
        username = await _admin(request).create_user(request[USER], form)
    except AdminError as exc:
        return await users_page(request, form, exc, exc.status)
    return await _done(request, f"User {username} created: they can sign in now.",
                       request.app.router["admin_user"].url_for(username=username))


async def user_page(request: web.Request, error: AdminError | None = None, which: str = "",
                    typed: dict | None = None, status: int = 200) -> web.Response:
    info = await _found(_admin(request).user(request.match_info["username"]))
    return await _page(request, "admin_user.html", status=status, tab="users", info=info, roles=USER_ROLES,
                       error=error, which=which, typed=typed or {},
                       is_self=info.username == request[USER].username)


async def user_role(request: web.Request) -> web.Response:
    role = _text(await request.post(), "role")
    return await _user_action(request, "role", {"role": role},
                              lambda admin, actor, name: admin.set_role(actor, name, role), "Role changed")


async def user_active(request: web.Request) -> web.Response:
    active = _text(await request.post(), "active")
    if active not in ("0", "1"):
        return await user_page(request, AdminError("choose activate or deactivate"), "active", status=400)
    verb = "reactivated" if active == "1" else "deactivated"
    return await _user_action(request, "active", {},
                              lambda admin, actor, name: admin.set_active(actor, name, active == "1"),
                              f"Account {verb}")


async def user_password(request: web.Request) -> web.Response:
    password = _text(await request.post(), "password", strip=False)
    return await _user_action(request, "password", {"password": password},
                              lambda admin, actor, name: admin.reset_password(actor, name, password),
                              "Password set; their open sessions have ended")


async def user_phone(request: web.Request) -> web.Response:
    endpoint = _text(await request.post(), "phone_endpoint")
    return await _user_action(request, "phone", {"phone_endpoint": endpoint},
                              lambda admin, actor, name: admin.set_phone(actor, name, endpoint),
                              "Phone saved")


async def _user_action(request: web.Request, which: str, typed: dict, action, done: str) -> web.Response:
    username = request.match_info["username"]
    try:
        await action(_admin(request), request[USER], username)
    except NotFound as exc:
        raise web.HTTPNotFound(reason=str(exc)) from None
    except AdminError as exc:
        return await user_page(request, exc, which, typed, exc.status)
    return await _done(request, f"{done}: {username}.", request.app.router["admin_user"].url_for(
        username=username))


# -- desks ------------------------------------------------------------------------------------------------


async def desks_page(request: web.Request) -> web.Response:
    desks = await _admin(request).desks()
    running = _admin(request).running_agents()
    return await _page(request, "admin_desks.html", tab="desks", desks=desks, running=running)


async def desk_new(request: web.Request) -> web.Response:
    return await _desk_form(request, AgentForm(), creating=True)


async def desk_page(request: web.Request) -> web.Response:
    form = await _found(_admin(request).desk_form(request.match_info["number"]))
    return await _desk_form(request, form, creating=False)


async def desk_create(request: web.Request) -> web.Response:
    return await _save_desk(request, _agent_form(await request.post()), creating=True)


async def desk_update(request: web.Request) -> web.Response:
    form = _agent_form(await request.post())
    form.number = request.match_info["number"]   # the number is the desk's identity: not editable
    await _found(_admin(request).desk_form(form.number))
    return await _save_desk(request, form, creating=False)


async def desk_delete(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    admin = _admin(request)
    form = await _found(admin.desk_form(number))
    try:
        await admin.delete_desk(request[USER], number)
    except AdminError as exc:
        return await _desk_form(request, form, creating=False, error=exc, status=exc.status)
    return await _done(request, f"Desk {number} deleted.", request.app.router["admin_desks"].url_for())


async def _save_desk(request: web.Request, form: AgentForm, *, creating: bool) -> web.Response:
    try:
        number = await _admin(request).save_desk(request[USER], form, creating=creating)
    except AdminError as exc:
        return await _desk_form(request, form, creating=creating, error=exc, status=exc.status)
    verb = "created" if creating else "saved"
    return await _done(request, f"Desk {number} {verb}; the queues use it from now on.",
                       request.app.router["admin_desk"].url_for(number=number))


async def _desk_form(request: web.Request, form: AgentForm, *, creating: bool,
                     error: AdminError | None = None, status: int = 200) -> web.Response:
    admin = _admin(request)
    options = await admin.desk_options(None if creating else form.number)
    running = admin.running_agents().get(form.number)
    return await _page(request, "admin_desk.html", status=status, tab="desks", form=form, creating=creating,
                       error=error, options=options, running=running, techs=ENDPOINT_TECHS)


def _agent_form(data: MultiDictProxy) -> AgentForm:
    skills = [s for s in data.getall("skills", []) if isinstance(s, str)]
    return AgentForm(_text(data, "number"), _text(data, "name"), _text(data, "username"),
                     _text(data, "endpoint"), skills, _text(data, "languages"))


# -- queues -----------------------------------------------------------------------------------------------


async def queues_page(request: web.Request) -> web.Response:
    admin = _admin(request)
    queues = await admin.queues()
    return await _page(request, "admin_queues.html", tab="queues", queues=queues,
                       running=admin.running_queues(), waiting=admin.waiting())


async def queue_new(request: web.Request) -> web.Response:
    return await _queue_form(request, QueueForm(), creating=True)


async def queue_page(request: web.Request) -> web.Response:
    form = await _found(_admin(request).queue_form(request.match_info["name"]))
    return await _queue_form(request, form, creating=False)


async def queue_create(request: web.Request) -> web.Response:
    return await _save_queue(request, _queue_form_data(await request.post()), creating=True)


async def queue_update(request: web.Request) -> web.Response:
    form = _queue_form_data(await request.post())
    form.name = request.match_info["name"]   # the name is what calls and reports refer to: not editable
    await _found(_admin(request).queue_form(form.name))
    return await _save_queue(request, form, creating=False)


async def _save_queue(request: web.Request, form: QueueForm, *, creating: bool) -> web.Response:
    try:
        name = await _admin(request).save_queue(request[USER], form, creating=creating)
    except AdminError as exc:
        return await _queue_form(request, form, creating=creating, error=exc, status=exc.status)
    verb = "created" if creating else "saved"
    return await _done(request, f"Queue {name} {verb}; callers are routed with it from now on.",
                       request.app.router["admin_queues"].url_for())


async def _queue_form(request: web.Request, form: QueueForm, *, creating: bool,
                      error: AdminError | None = None, status: int = 200) -> web.Response:
    return await _page(request, "admin_queue.html", status=status, tab="queues", form=form, creating=creating,
                       error=error)


def _queue_form_data(data: MultiDictProxy) -> QueueForm:
    return QueueForm(_text(data, "name"), _text(data, "title"), _text(data, "skill"),
                     _text(data, "service_level_seconds"), _text(data, "moh_class"),
                     _text(data, "post_call_survey") == "1")


# -- audit log --------------------------------------------------------------------------------------------


async def audit_page(request: web.Request) -> web.Response:
    filt = _audit_filter(request.query)
    filt.mrn = await _admin(request).audit_form_mrn(filt)  # shown in the form, not taken from the URL
    return await _audit_results(request, filt)


async def audit_filter(request: web.Request) -> web.Response:
    """The filter form is a POST, so that an MRN typed into it never reaches a URL, an access log or the
    browser history: answered with a redirect to the page that names the patient by id."""
    filt = _audit_filter(await request.post(), form=True)
    try:
        linked = await _admin(request).audit_link_filter(filt)
    except AdminError:
        return await _audit_results(request, filt)  # the page shows the error, the form keeps the input
    raise web.HTTPSeeOther(request.app.router["admin_audit"].url_for().with_query(linked.query_args()))


async def _audit_results(request: web.Request, filt: AuditFilter) -> web.Response:
    admin = _admin(request)
    try:
        found, error, status = await admin.audit_page(filt), None, 200
    except AdminError as exc:
        found, error, status = None, exc, exc.status
    args = filt.query_args()
    return await _page(request, "admin_audit.html", status=status, tab="audit", filt=filt, found=found,
                       error=error, actions=await admin.audit_actions(), users=await admin.users(),
                       args=args, pager=_pager(found, args))


def _pager(found, args: dict[str, str]) -> dict[str, str | None]:
    """Query strings of the newer and older pages (the filter kept), or None at either end."""
    if found is None:
        return {"prev": None, "next": None}
    prev_page, next_page = found.page - 1, found.page + 1
    return {"prev": urlencode(args | {"page": prev_page}) if prev_page >= 1 else None,
            "next": urlencode(args | {"page": next_page}) if next_page <= found.pages else None}


async def audit_csv(request: web.Request) -> web.StreamResponse:
    filt = _audit_filter(request.query)
    try:
        rows = await _admin(request).audit_export(request[USER], filt)
    except AdminError as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from None
    return csv_response(audit_rows_csv(rows), "audit-log.csv")


AUDIT_CSV_COLUMNS = ("id", "time_utc", "action", "actor", "desk", "mrn", "patient", "call_id", "recording_id",
                     "reason", "detail")


def audit_rows_csv(rows) -> str:
    """The audit log export: one line per row of the filter."""
    return csv_text(AUDIT_CSV_COLUMNS, ((
        r.id, r.ts.isoformat(), r.action, r.actor, r.desk, r.mrn, r.patient_name, r.call_id, r.recording_id,
        r.reason, json.dumps(r.detail, sort_keys=True) if r.detail else None) for r in rows))


def _audit_filter(q: MultiDictProxy, *, form: bool = False) -> AuditFilter:
    """From the page's query string or the filter form's POST (`form`): only the form's MRN counts; a
    URL names the patient by id."""
    page = q.get("page", "1")
    mrn = q.get("mrn", "") if form else ""
    return AuditFilter(q.get("date_from", ""), q.get("date_to", ""), q.get("actor", ""), q.get("action", ""),
                       mrn, q.get("call_id", ""), q.get("recording_id", ""),
                       int(page) if page.isdigit() and len(page) < 7 else 1, q.get("patient", ""))


# -- helpers ----------------------------------------------------------------------------------------------


async def _page(request: web.Request, template: str, *, status: int = 200, **context) -> web.Response:
    return await render_with_notice(request, template, FLASH, context, status=status)


async def _done(request: web.Request, notice: str, location) -> web.Response:
    await redirect_with_notice(request, FLASH, notice, location)


async def _found(awaitable):
    try:
        return await awaitable
    except NotFound as exc:
        raise web.HTTPNotFound(reason=str(exc)) from None



"""Tickets over HTTP (issue 17): the public web form, the patient-relations team's queue and handler console,
letter entry with the scanned attachment, and the desk's "open a ticket from this call" (its serial read out
to the caller).

Text fields are stored as written and escaped wherever shown (Jinja autoescape). The public form needs no
sign-in; it is held back per address (a flood waits, the submitter's text is given back with the wait, so a
person loses nothing) and a honeypot field that people never see catches form-filling robots. Serials and
ticket ids go into URLs; names, numbers and texts never do.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web
from aiohttp.web_request import FileField

from ..auth.permissions import PERMISSIONS, allowed
from ..auth.throttle import AddressRate
from ..calls.exceptions import ControlError
from ..config import ComplaintsConfig
from ..db.models import COMPLAINT_KINDS, COMPLAINT_SEVERITIES, COMPLAINT_STATUSES
from ..ivr.say import say_media
from ..web.guard import USER
from ..web.middlewares import allow_upload
from ..web.request import SERVICES, json_object, reader, require_call_visible, services
from ..web.templating import form_text, redirect_with_notice, render, render_with_notice
from . import serial as serials
from .exceptions import ComplaintError, InvalidTicket
from .services import COMMUNICATED_BY, QUEUE_FILTERS, Actor, Upload

log = logging.getLogger(__name__)

FLASH = "complaints_notice"
LETTER_ROUTE = "complaint_letter_submit"
HONEYPOT = "website"  # hidden from people by the page's CSS and aria-hidden; robots fill every field
FORM_FIELDS = ("kind", "category", "department", "text", "contact_name", "contact_phone", "contact_email")
PUBLIC_RATE = web.AppKey("complaint_form_rate", AddressRate)
READ_OUT_PROMPT = "sound:callcenter/ticket-number"
UPLOAD_SLACK = 256 * 1024  # the form's other fields beside the file


def setup_routes(app: web.Application) -> None:
    cfg = app_cfg(app)
    app[PUBLIC_RATE] = AddressRate(cfg.web_per_address, cfg.web_window_seconds)
    r = app.router
    r.add_get("/complaints/new", public_form, name="complaint_form")
    r.add_post("/complaints/new", public_submit, name="complaint_form_submit")
    r.add_get("/complaints", queue_page, name="complaints_queue")
    r.add_get("/complaints/letter", letter_form, name="complaint_letter")
    r.add_post("/complaints/letter", letter_submit, name=LETTER_ROUTE)
    r.add_get("/complaints/{id:\\d+}", ticket_page, name="complaint_page")
    r.add_post("/complaints/{id:\\d+}/step", ticket_step, name="complaint_step")
    r.add_get("/complaints/{id:\\d+}/attachments/{attachment:\\d+}", attachment, name="complaint_attachment")
    r.add_post("/complaints/{id:\\d+}/recording", ticket_recording, name="complaint_recording")
    r.add_post("/api/calls/{call_id}/complaint", from_call, name="api_call_complaint")
    r.add_get("/api/complaints", api_list, name="api_complaints")
    r.add_post("/api/complaints", api_create, name="api_complaint_create")
    r.add_get("/api/complaints/{id:\\d+}", api_detail, name="api_complaint")
    r.add_post("/api/complaints/{id:\\d+}/steps", api_step, name="api_complaint_step")
    allow_upload(app, LETTER_ROUTE, cfg.max_attachment_bytes + UPLOAD_SLACK)


def app_cfg(app: web.Application) -> ComplaintsConfig:
    return app[SERVICES].cfg.complaints


# -- the public web form -----------------------------------------------------------------------------------


async def public_form(request: web.Request, *, values: dict | None = None, error: str = "", wait: int = 0,
                      status: int = 200) -> web.Response:
    routing = services(request).complaints.routing
    context = {"kinds": COMPLAINT_KINDS, "categories": routing.categories, "departments": routing.departments,
               "values": values or {}, "error": error, "wait": wait, "honeypot": HONEYPOT}
    return await render(request, "complaint_form.html", context, status=status)


async def public_submit(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: form_text(form, name) for name in FORM_FIELDS}
    if form_text(form, HONEYPOT):
        log.info("web form: honeypot filled, not stored")
        return await render(request, "complaint_thanks.html", {"ticket": None})
    rate = request.app[PUBLIC_RATE]
    wait = rate.wait(request.remote)
    if wait:
        return await public_form(request, values=values, wait=wait, status=429,
                                 error=f"Many forms came from your network just now. Your text is kept "
                                       f"below: please send it again in {wait} seconds.")
    try:
        ticket = await services(request).complaints.create_ticket("web", actor=Actor(origin="web"), **values)
    except InvalidTicket as exc:
        return await public_form(request, values=values, error=str(exc), status=400)
    rate.taken(request.remote)
    return await render(request, "complaint_thanks.html", {"ticket": ticket}, status=201)


# -- the patient-relations team: queue, handler console, letters --------------------------------------------


async def queue_page(request: web.Request) -> web.Response:
    tickets = services(request).complaints
    group = request.query.get("group", "")
    group = group if group in tickets.routing.groups else ""
    now = tickets.clock()
    context = {"rows": await tickets.queue(group=group or None), "group": group, "now": now,
               "groups": tickets.routing.groups, "routing": tickets.routing,
               "kpis": await tickets.kpis(now - timedelta(days=30), now + timedelta(seconds=1))}
    return await render_with_notice(request, "complaints.html", FLASH, context)


async def ticket_page(request: web.Request) -> web.Response:
    tickets = services(request).complaints
    detail = await tickets.detail(int(request.match_info["id"]), reader(request).audit_actor())
    context = {"d": detail, "t": detail.ticket, "display": serials.display(detail.ticket.serial),
               "now": tickets.clock(), "communicated_by": COMMUNICATED_BY,
               "overdue": _overdue(detail.ticket, tickets.clock()),
               "may_open_call": allowed("call_detail", request[USER].role),
               "may_play": allowed("complaint_recording", request[USER].role)}
    return await render_with_notice(request, "complaint.html", FLASH, context)


def _overdue(ticket, now) -> bool:
    return ticket.status in ("received", "assigned", "in_progress") and ticket.due_at is not None \
        and ticket.due_at < now


# The resolve form: the handler's notes (`text`), how the patient was told, and the summary for the patient
# (spoken by the hotline to a caller who types the serial) with its language.
RESOLUTION_FIELDS = ("text", "communicated_by", "summary", "summary_language")


async def ticket_step(request: web.Request) -> web.Response:
    ticket_id = int(request.match_info["id"])
    form = await request.post()
    name = form_text(form, "step")
    detail = {field: form_text(form, field) for field in RESOLUTION_FIELDS} if name == "resolve" else {}
    if name == "assign":
        detail["user_id"] = request[USER].id  # the handler takes the ticket
    if name == "reopen":
        detail["reason"] = form_text(form, "reason")[:500]
    back = request.app.router["complaint_page"].url_for(id=str(ticket_id))
    try:
        ticket = await services(request).complaints.step(ticket_id, name, _actor(request), **detail)
    except (InvalidTicket, ComplaintError) as exc:
        if getattr(exc, "status", 400) == 404:
            raise
        await redirect_with_notice(request, FLASH, f"Not done: {exc}", back)
    await redirect_with_notice(request, FLASH, f"Ticket {serials.display(ticket.serial)}: "
                                               f"{ticket.status.replace('_', ' ')}", back)


async def letter_form(request: web.Request, *, values: dict | None = None, error: str = "",
                      status: int = 200) -> web.Response:
    routing = services(request).complaints.routing
    context = {"kinds": COMPLAINT_KINDS, "categories": routing.categories, "departments": routing.departments,
               "severities": COMPLAINT_SEVERITIES, "values": values or {"severity": "medium"}, "error": error,
               "max_mb": app_cfg(request.app).max_attachment_bytes // (1024 * 1024)}
    return await render_with_notice(request, "complaint_letter.html", FLASH, context, status=status)


async def letter_submit(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: form_text(form, name) for name in (*FORM_FIELDS, "severity")}
    scan = form.get("scan")
    if not isinstance(scan, FileField):
        return await letter_form(request, values=values, error="attach the scanned letter", status=400)
    upload = Upload(scan.filename or "", scan.content_type or "", scan.file.read())
    try:
        ticket = await services(request).complaints.create_letter([upload], actor=_actor(request), **values)
    except ComplaintError as exc:
        return await letter_form(request, values=values, error=str(exc), status=exc.status)
    await redirect_with_notice(request, FLASH, f"Letter entered as ticket {serials.display(ticket.serial)}",
                               request.app.router["complaint_page"].url_for(id=str(ticket.id)))


async def attachment(request: web.Request) -> web.Response:
    row, data = await services(request).complaints.read_attachment(
        int(request.match_info["id"]), int(request.match_info["attachment"]), reader(request).audit_actor())
    return web.Response(body=data, content_type=row.content_type, headers={
        "Content-Disposition": f'inline; filename="attachment-{row.id}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


async def ticket_recording(request: web.Request) -> web.Response:
    """The recording of the call a ticket came from, for its handler: played through the recording review's
    short-lived grant, bound to this user and this recording, its audit row written with the ticket as the
    reason. The team may hear no other recording (the review's search is not theirs)."""
    ticket_id = int(request.match_info["id"])
    reason = form_text(await request.post(), "reason")[:300]
    s = services(request)
    recording_id = await s.complaints.recording_of(ticket_id)
    token = await s.review.grant_play(recording_id, f"ticket {ticket_id}: {reason}".rstrip(": "),
                                      reader(request).audit_actor())
    audio = request.app.router["api_recording_audio"].url_for(recording_id=str(recording_id))
    raise web.HTTPSeeOther(location=str(audio.with_query(grant=token)))


def _actor(request: web.Request) -> Actor:
    return Actor(reader(request).audit_actor())


# -- the desk: a ticket opened from the call, its serial read out --------------------------------------------


async def from_call(request: web.Request) -> web.Response:
    """The agent opens a ticket from the call on the desk: caller, patient, call and recording linked; the
    serial is read out to the caller while the agent stays on the line (when the caller is still there)."""
    call_id = request.match_info["call_id"]
    body = await json_object(request)
    s = services(request)
    facts = await s.complaints.call_facts(call_id)
    if facts is None:
        raise web.HTTPNotFound(reason="no such call")
    who = reader(request)
    require_call_visible(who, [facts.agent_id])
    fields = {name: str(body[name]) for name in ("kind", "category", "department", "severity", "text")
              if body.get(name) is not None}
    ticket = await s.complaints.create_ticket(
        "phone", actor=Actor(who.audit_actor()), call_id=call_id, patient_id=facts.patient_id,
        contact_phone=facts.caller_e164, recording_id=facts.recording_id, **fields)
    read_out = await _read_out(request, call_id, ticket) if body.get("read_out", True) is not False else None
    return web.json_response({"id": ticket.id, "serial": ticket.serial, "display": ticket.display,
                              "status": ticket.status, "group": ticket.handling_group,
                              "read_out": read_out}, status=201)


async def _read_out(request: web.Request, call_id: str, ticket) -> dict:
    media = [READ_OUT_PROMPT, *say_media(ticket.serial, "digits", "en")]
    try:
        playback_id = await services(request).controls.read_out(call_id, media, ticket.id, request.get(USER))
    except ControlError as exc:  # the caller hung up meanwhile, or is on hold: the agent tells the number
        return {"playing": False, "reason": str(exc)}
    return {"playing": True, "playback_id": playback_id}


# -- the JSON API (issue 17): the same tickets and steps as the console, for the team and API clients --------

API_FIELDS = ("channel", *FORM_FIELDS, "severity")
API_LIMIT = 500


async def api_list(request: web.Request) -> web.Response:
    """Tickets by filters (status, the QUEUE_FILTERS, overdue), escalated first then due soonest. The list
    holds no contact, text or patient, so it is not a patient read; a ticket's detail is (audited)."""
    q = request.query
    statuses = tuple(q.getall("status", ())) or None
    if statuses and not set(statuses) <= set(COMPLAINT_STATUSES):
        raise InvalidTicket(f"status must be among {', '.join(COMPLAINT_STATUSES)}", "status")
    tickets = services(request).complaints
    filters = {name: q[name] for name in QUEUE_FILTERS if q.get(name)}
    rows = await tickets.queue(statuses=statuses or COMPLAINT_STATUSES, limit=_limit(q.get("limit", "")),
                               overdue_at=tickets.clock() if q.get("overdue") == "true" else None, **filters)
    now = tickets.clock()
    return web.json_response({"tickets": [_summary(row, now) for row in rows]})


def _limit(text: str) -> int:
    if not text:
        return 200
    if not text.isdigit() or not 1 <= int(text) <= API_LIMIT:
        raise InvalidTicket(f"limit must be a number from 1 to {API_LIMIT}", "limit")
    return int(text)


async def api_detail(request: web.Request) -> web.Response:
    """One ticket with its text, contact, history and attachments: audited for the reader (user or client)."""
    tickets = services(request).complaints
    d = await tickets.detail(int(request.match_info["id"]), reader(request).audit_actor())
    return web.json_response(_detail(d, tickets.clock()))


async def api_create(request: web.Request) -> web.Response:
    body = await json_object(request, '{"channel": "letter", "text": "..."}')
    fields = {name: str(body[name]) for name in API_FIELDS if body.get(name) is not None}
    ticket = await services(request).complaints.create_ticket(fields.pop("channel", "letter"),
                                                              actor=_actor(request), **fields)
    return web.json_response({"id": ticket.id, "serial": ticket.serial, "display": ticket.display,
                              "status": ticket.status, "group": ticket.handling_group,
                              "due_at": _iso(ticket.due_at)}, status=201)


async def api_step(request: web.Request) -> web.Response:
    """One workflow step, as the console's: assign (to `user_id`, or the signed-in user), start,
    wait_patient, resolve (`text`, `communicated_by`), close, reopen (`reason`)."""
    body = await json_object(request, '{"step": "start"}')
    name = str(body.get("step") or "")
    detail = {}
    if name == "resolve":
        detail = {"text": body.get("text"), "communicated_by": body.get("communicated_by")}
    elif name == "assign":
        detail = {"user_id": await _assignee(request, body.get("user_id"))}
    elif name == "reopen":
        detail = {"reason": str(body.get("reason") or "")[:500]}
    tickets = services(request).complaints
    ticket = await tickets.step(int(request.match_info["id"]), name, _actor(request), **detail)
    return web.json_response(_summary(ticket, tickets.clock()))


async def _assignee(request: web.Request, user_id) -> int:
    user = request.get(USER)
    if user_id is None and user is not None:
        return user.id   # the handler takes the ticket, as on the console
    roles = PERMISSIONS["complaint_step"]
    if not isinstance(user_id, int) or not await services(request).complaints.assignable(user_id, roles):
        raise InvalidTicket("user_id must name an active user who works tickets", "user_id")
    return user_id


def _summary(t, now) -> dict:
    return {"id": t.id, "serial": t.serial, "display": serials.display(t.serial), "kind": t.kind,
            "channel": t.channel, "category": t.category, "department": t.department, "severity": t.severity,
            "status": t.status, "group": t.handling_group, "escalation_level": t.escalation_level,
            "assigned_user_id": t.assigned_user_id, "opened_at": _iso(t.opened_at), "due_at": _iso(t.due_at),
            "resolved_at": _iso(t.resolved_at), "overdue": _overdue(t, now)}


def _detail(d, now) -> dict:
    t = d.ticket
    return _summary(t, now) | {
        "text": t.text, "patient_id": t.patient_id, "call_id": t.call_id, "recording_id": t.recording_id,
        "contact": {"name": t.contact_name, "phone": t.contact_phone, "email": t.contact_email},
        "resolution": {"text": t.resolution_text, "communicated_by": t.resolution_channel}
        if t.resolved_at else None,
        "holder": d.holder, "steps": d.steps,
        "events": [{"ts": _iso(e.ts), "type": e.type, "actor": e.actor, "from_status": e.from_status,
                    "to_status": e.to_status, "detail": e.detail or {}} for e in d.events],
        "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size}
                        for a in d.attachments]}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


__all__ = ["setup_routes"]

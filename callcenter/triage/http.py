"""The triage panel's JSON API. Desk-scoped like the agent desk: the call is the one on the desk's line
(ringing, connected or in wrap-up), and desk roles act on their own desk only.

- GET  /api/triage/protocols?language=es        the protocols to pick from, by title
- GET  /api/agents/{number}/triage              {call_id, suggestions, suggested, reason, session, script,
                                                governing}
                                                (suggestions: protocol ids best first; suggested: the same
                                                with why, see triage/suggestions.py; reason: as typed)
                                                (session: see TriageSession.view(); null before a protocol
                                                is started; script: the call script of the call's campaign
                                                or queue; governing: the call's most urgent disposition and
                                                the escalations that satisfy it, see _governing)
- POST /api/agents/{number}/triage              {"protocol": "chest_pain", "language": "en"} -> same shape
- POST /api/agents/{number}/triage/answer       {"question": "unresponsive", "answer": "yes" | "no"}
- POST /api/agents/{number}/triage/age          {"value": 6, "unit": "days" | "weeks" | "months" | "years"}
                                                -> same shape: the age an age-dependent protocol asks first
                                                (a confirmed patient's record gives it at the start instead)
- POST /api/agents/{number}/triage/reason       {"reason": "my baby is hot"} -> same shape: the protocols
                                                re-ranked by what the caller says (kept in memory only)
- GET  /api/agents/{number}/script/{call_type}  {steps: [{id, html, missing}]} for the desk's call, live or
                                                the ended one of its wrap-up: the patient the agent
                                                confirmed (record fields), else the call's single candidate
                                                or ?patient=ID of its candidates (identity fields only);
                                                audited
- POST /api/agents/{number}/triage/escalate     {"kind": "nurse_transfer" | "emergency_conference" |
                                                "instruction_read" | "urgent_callback"} (escalation.py);
                                                after the caller hung up (the desk's owed call):
                                                {"kind": "urgent_callback"} or {"kind": "other_means",
                                                "reason": "..."}; GET .../triage then answers for that
                                                call with call_ended: true and governing.offer
- POST /api/agents/{number}/triage/escalate/complete   complete the warm transfer to the nurse
- POST /api/calls/{call_id}/triage/override     {"reason": "..."}: a nurse lifts the wrap-up rule
- GET  /calls/{call_id}                         the call's detail page with its triage record
- GET  /calls/{call_id}/triage.json|.csv        the record, exported

Errors are {"error": "..."} with the status of the TriageError (404 unknown protocol, 409 out of order...),
answered by web.errors_middleware.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import select

from ..db.models import Call as CallRow
from ..db.queries import add_audit_event
from ..errors import Refused, ServiceError
from ..patients.timeline import timeline
from ..vocabulary import ENDED
from ..web.csvfile import csv_response, csv_text
from ..web.guard import USER
from ..web.request import Reader, json_object, own_desk_agent, reader, require_call_visible
from ..web.request import services as _services
from ..web.request import user_id as _user_id
from ..web.templating import render
from .escalation import (
    EMERGENCY_CONFERENCE,
    LABELS,
    NURSE_QUEUES,
    NURSE_TRANSFER,
    OTHER_MEANS,
    URGENT_CALLBACK,
    EscalationService,
    emergency_leg,
    record,
    task_view,
)
from .services import TriageService, months_of


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/triage/protocols", protocols, name="api_triage_protocols")
    app.router.add_get("/api/agents/{number}/triage", triage_state, name="api_triage")
    app.router.add_post("/api/agents/{number}/triage", triage_start, name="api_triage_start")
    app.router.add_post("/api/agents/{number}/triage/answer", triage_answer, name="api_triage_answer")
    app.router.add_post("/api/agents/{number}/triage/reason", triage_reason, name="api_triage_reason")
    app.router.add_post("/api/agents/{number}/triage/age", triage_age, name="api_triage_age")
    app.router.add_get("/api/agents/{number}/script/{call_type}", script, name="api_triage_script")
    app.router.add_post("/api/agents/{number}/triage/escalate", escalate, name="api_triage_escalate")
    app.router.add_post("/api/agents/{number}/triage/escalate/complete", escalate_complete,
                        name="api_triage_escalate_complete")
    app.router.add_post("/api/calls/{call_id}/triage/override", override, name="api_triage_override")
    app.router.add_get("/calls/{call_id}", call_detail, name="call_detail")
    app.router.add_get("/calls/{call_id}/triage.json", call_triage_json, name="call_triage_json")
    app.router.add_get("/calls/{call_id}/triage.csv", call_triage_csv, name="call_triage_csv")


def _triage(request: web.Request) -> TriageService:
    return _services(request).triage



def _desk_call(request: web.Request):
    """(agent, live call) of the desk in the URL; 403 for another desk, 409 when no call is on the desk."""
    agent = own_desk_agent(request)
    call = _services(request).router.find(agent.call_id)
    if _over(call):
        raise Refused(409, "no call on this desk")
    return agent, call


def _over(call) -> bool:
    """No live call: gone, or ending (the console hears 'ended' while the call still finishes)."""
    return call is None or getattr(getattr(call, "state", None), "name", None) == ENDED


def _ended_call(request: web.Request) -> tuple[object, str]:
    """(agent, call id) of the call the desk still owes a disposition for after its caller hung up; 409
    when the desk has no call at all."""
    agent, services = own_desk_agent(request), _services(request)
    call_id = services.desk.owed(agent.number) or (agent.call_id if agent.state == "wrapup" else None)
    if call_id is None or not _over(services.router.find(call_id)):
        raise Refused(409, "no call on this desk")
    return agent, call_id


async def _state(request: web.Request, call) -> dict:
    triage = _triage(request)
    session = triage.sessions.get(call.id)
    # A progressive campaign's call carries its campaign's script; any other call gets its queue's.
    call_script = triage.script_for(call.queue_name, call.flavour.script)
    gov, events = await _escalations(request).governing(call.id)
    suggested = triage.suggestions_for(call)
    language = session.language if session else call.language
    return {"call_id": call.id, "call_ended": False, "suggestions": [s.protocol for s in suggested],
            "suggested": [s.public() for s in suggested], "reason": triage.reasons.get(call.id, ""),
            "session": session.view() if session else None, "script": call_script,
            "governing": _governing(request, gov, events, language, call, ended=False)}


@dataclass(frozen=True)
class _EndedCall:
    """What the script needs of a call that ended (its row): the live call is gone from the router."""
    id: str
    queue_name: str | None
    language: str | None
    patients: list[dict]
    campaign_name: str | None


def _ended_row(session, call_id: str) -> _EndedCall:
    row = session.get(CallRow, call_id)
    if row is None:
        raise Refused(409, "no call on this desk")
    ids = [row.patient_id] if row.patient_id is not None else list(row.candidate_patient_ids or [])
    return _EndedCall(row.id, row.queue_name, row.language, [{"id": i} for i in ids], row.campaign_name)


async def _ended_script(request: web.Request, call: _EndedCall) -> str:
    """The script the call showed while live: its progressive campaign's own, else its queue's."""
    campaigns, campaign_script = _services(request).campaigns, None
    if call.campaign_name and campaigns is not None:
        try:
            campaign_script = (await campaigns.get(call.campaign_name)).desk_script
        except ServiceError:  # the campaign was deleted since: the queue's script
            pass
    return _triage(request).script_for(call.queue_name, campaign_script)


async def _ended_state(request: web.Request, call_id: str) -> dict:
    """The panel of a call whose caller hung up: the governing disposition and what can still be done."""
    triage = _triage(request)
    session = triage.sessions.get(call_id)
    gov, events = await _escalations(request).governing(call_id)
    call = await _services(request).db.run(_ended_row, call_id)
    return {"call_id": call_id, "call_ended": True, "suggestions": [], "suggested": [],
            "reason": triage.reasons.get(call_id, ""), "session": session.view() if session else None,
            "script": await _ended_script(request, call),
            "governing": _governing(request, gov, events, session.language if session else "en", None,
                                    ended=True)}


def _governing(request: web.Request, gov, events, language: str, call, *, ended: bool) -> dict | None:
    """What the panel's escalation buttons answer to: the most urgent disposition of the call, which a
    later, milder protocol does not replace. `emergency`: the emergency conference (dialing, answered,
    failed with its result, ended; escalation.emergency_leg); `emergency_dialed`: one rings or was answered,
    so a reload must not offer it again (a failed one may be retried). `offer`: the actions that work now,
    in the ladder's terms (only those that count), with their words."""
    if gov is None:
        return None
    rung = _triage(request).ladder[gov.disposition["disposition"]]
    emergency = emergency_leg(call, events)
    dialed = bool(emergency and emergency["blocked"])
    nurse_free = _nurse_free(request)
    return {"id": rung.id, "protocol": gov.disposition.get("protocol"),
            "label": rung.label.get(language, rung.label["en"]),
            "instruction": rung.instruction.get(language, rung.instruction["en"]),
            "escalation_required": bool(gov.disposition.get("escalation_required")),
            "satisfied_by": list(gov.satisfied_by), "owed": gov.owed,
            "overridden": gov.overridden is not None, "satisfied_kind": gov.satisfied_kind,
            "emergency": emergency, "emergency_dialed": dialed, "task": task_view(gov),
            "nurse_free": nurse_free,
            "offer": [{"kind": k, "label": LABELS[k]} for k in _offer(gov, ended, nurse_free, dialed)]}


def _offer(gov, ended: bool, nurse_free: bool, dialed: bool) -> list[str]:
    if not gov.owed:
        return []
    if ended:  # the caller is gone: call them back, or say how the emergency service was reached
        if gov.task is not None:
            return []
        return [URGENT_CALLBACK] + ([OTHER_MEANS] if gov.counts(EMERGENCY_CONFERENCE) else [])
    kinds = [k for k in gov.satisfied_by if not (k == EMERGENCY_CONFERENCE and dialed)]
    # With a nurse free the warm transfer is the way; with none, only what works without one.
    unwanted = URGENT_CALLBACK if nurse_free else NURSE_TRANSFER
    return [k for k in kinds if k != unwanted]


def _nurse_free(request: web.Request) -> bool:
    queues = _services(request).queues
    return any(queues.free_agents(q) > 0 for q in NURSE_QUEUES if q in queues.queues)


# -- views -------------------------------------------------------------------------------------------------

async def protocols(request: web.Request) -> web.Response:
    return web.json_response({"protocols": _triage(request).catalogue(request.query.get("language", "en"))})


async def triage_state(request: web.Request) -> web.Response:
    try:
        _, call = _desk_call(request)
    except Refused:  # the caller hung up: the panel still shows what is owed (and after a reload)
        _, call_id = _ended_call(request)
        return web.json_response(await _ended_state(request, call_id))
    return web.json_response(await _state(request, call))


async def triage_start(request: web.Request) -> web.Response:
    agent, call = _desk_call(request)
    body = await json_object(request)
    triage = _triage(request)
    protocol = triage.protocol(str(body.get("protocol")))
    age = await triage.patient_age(call.id, actor_user_id=_user_id(request), actor_agent_id=agent.id,
                                   time_zone=_services(request).cfg.site.time_zone) \
        if protocol.age_dependent else None
    triage.start(call.id, protocol.id, str(body.get("language") or call.language),
                 agent_id=agent.id, user_id=_user_id(request),
                 suggested=[s.protocol for s in triage.suggestions_for(call)], age_months=age)
    return web.json_response(await _state(request, call))


async def triage_age(request: web.Request) -> web.Response:
    agent, call = _desk_call(request)
    body = await json_object(request)
    months = months_of(body.get("value"), str(body.get("unit")))
    _triage(request).give_age(call.id, months, agent_id=agent.id, user_id=_user_id(request))
    return web.json_response(await _state(request, call))


REASON_MAX = 500


async def triage_reason(request: web.Request) -> web.Response:
    _, call = _desk_call(request)
    reason = (await json_object(request)).get("reason")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise Refused(400, f"'reason' must be text of at most {REASON_MAX} characters")
    _triage(request).set_reason(call.id, reason)
    return web.json_response(await _state(request, call))


async def triage_answer(request: web.Request) -> web.Response:
    agent, call = _desk_call(request)
    body = await json_object(request)
    if body.get("answer") not in ("yes", "no"):
        raise Refused(400, "answer must be 'yes' or 'no'")
    triage = _triage(request)
    triage.answer(call.id, str(body.get("question")), body["answer"] == "yes", agent_id=agent.id,
                  user_id=_user_id(request))
    return web.json_response(await _state(request, call))


async def _script_call(request: web.Request):
    """(agent, call) whose script is asked for: the desk's live call, else the ended one it owes a
    disposition for (its script stays on screen through the wrap-up, and after a reload)."""
    try:
        return _desk_call(request)
    except Refused:
        agent, call_id = _ended_call(request)
        return agent, await _services(request).db.run(_ended_row, call_id)


async def script(request: web.Request) -> web.Response:
    agent, call = await _script_call(request)
    patient_id = request.query.get("patient")
    if patient_id is not None and not patient_id.isdigit():
        raise Refused(400, "patient must be a patient id")
    # Only a patient this call matched: the script must not become a way to read any record.
    patients = [p["id"] for p in call.patients]
    chosen = int(patient_id) if patient_id else (patients[0] if len(patients) == 1 else None)
    if chosen is not None and chosen not in patients:
        raise Refused(403, "that patient is not a match of this call")
    site = _services(request).cfg.site
    fields = {"id": call.id, "queue": call.queue_name, "language": call.language,
              "part_of_day": _part_of_day(datetime.now()),
              "hospital_name": site.hospital_name or None, "callback_number": site.callback_number or None}
    steps = await _triage(request).script(
        request.match_info["call_type"], call=fields, agent={"first_name": agent.name.split()[0]},
        patient_id=chosen, actor_user_id=_user_id(request), actor_agent_id=agent.id, time_zone=site.time_zone)
    return web.json_response({"call_type": request.match_info["call_type"],
                              "steps": [step.public() for step in steps]})


def _part_of_day(now: datetime) -> str:
    return "morning" if now.hour < 12 else "afternoon" if now.hour < 18 else "evening"


# -- escalation -------------------------------------------------------------------------------------------

def _escalations(request: web.Request) -> EscalationService:
    return _services(request).escalations


async def escalate(request: web.Request) -> web.Response:
    body = await json_object(request)
    kind, reason = str(body.get("kind")), body.get("reason")
    try:
        agent, call = _desk_call(request)
    except Refused:  # the caller hung up with the escalation owed: a task, or reached by other means
        agent, call_id = _ended_call(request)
        done = await _escalations(request).after_hangup(call_id, agent, kind, request.get(USER),
                                                        reason if isinstance(reason, str) else "")
        return web.json_response(done)
    done = await _escalations(request).escalate(call, agent, kind, request.get(USER))
    return web.json_response(done)


async def escalate_complete(request: web.Request) -> web.Response:
    agent, call = _desk_call(request)
    done = await _escalations(request).complete_nurse(call, agent, request.get(USER))
    return web.json_response(done)


async def override(request: web.Request) -> web.Response:
    body = await json_object(request)
    reason = body.get("reason")
    if not isinstance(reason, str):
        raise Refused(400, "'reason' is required: why the escalation is not needed")
    done = await _escalations(request).override(request.match_info["call_id"], request.get(USER), reason)
    return web.json_response(done)


# -- the call's record ------------------------------------------------------------------------------------

async def _record(request: web.Request, fmt: str) -> dict:
    """The record, for supervisors and admins, and for a desk role whose desk took part in the call."""
    services = _services(request)
    await services.events.flush()
    rec = await services.db.run(_audited_record, request.match_info["call_id"], reader(request), fmt)
    if rec is None:
        raise web.HTTPNotFound(reason="no such call")
    return rec


def _audited_record(session, call_id: str, who: Reader, fmt: str) -> dict | None:
    """The record, audited in the same transaction as the read (403 when not `who`'s to see)."""
    rec = record(session, call_id)
    if rec is None:
        return None
    require_call_visible(who, rec["call"]["agent_ids"])
    add_audit_event(session, "call_triage_record_view", call_id=call_id, actor=who.audit_actor(),
                    detail={"format": fmt})
    if fmt == "page":
        rec["history"] = _patient_history(session, call_id, who)
    return rec


def _patient_history(session, call_id: str, who: Reader) -> list[dict]:
    """The page shows the history of the call's patient (issue 17): a read of their record, audited."""
    patient_id = session.scalar(select(CallRow.patient_id).where(CallRow.id == call_id))
    if patient_id is None:
        return []
    add_audit_event(session, "patient_viewed", actor=who.audit_actor(), patient_id=patient_id,
                    call_id=call_id, detail={"via": "call_page"})
    return timeline(session, patient_id)


async def call_detail(request: web.Request) -> web.Response:
    rec = await _record(request, "page")
    return await render(request, "call_detail.html", {"rec": rec})


async def call_triage_json(request: web.Request) -> web.Response:
    rec = await _record(request, "json")
    return web.json_response(rec, headers={
        "Content-Disposition": f'attachment; filename="call-{rec["call"]["id"]}-triage.json"'})


async def call_triage_csv(request: web.Request) -> web.Response:
    rec = await _record(request, "csv")
    return csv_response(record_csv(rec), f"call-{rec['call']['id']}-triage.csv")


CSV_COLUMNS = ("at", "type", "agent_id", "user_id", "protocol", "version", "question", "text", "answer",
               "disposition", "kind", "detail")


def record_csv(rec: dict) -> str:
    """One line per triage/escalation event of the call's record."""
    call_id = rec["call"]["id"]
    return csv_text(("call_id",) + CSV_COLUMNS,
                    ([call_id, *(_flat(row[c]) for c in CSV_COLUMNS)] for row in rec["events"]))


def _flat(value):
    """A detail dict as k=v;k=v (one cell), anything else as it is."""
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in sorted(value.items()))
    return value

"""The agent desk: state pushes, patient search and record views (audited), dispositions and callbacks.

The rule that matters most: a person at a desk saves the disposition of a call they talked on before they
take the next one. The queue service asks `why_not_available` before an agent goes available (and keeps a
timed wrap-up going). The rule applies to desks *staffed through the console* (a signed-in agent or nurse
opened the desk since the server started): desks driven only by the API token (CLI, benchmarks, the
integration tests) have nobody to type a disposition and keep the plain timed wrap-up.

Wrap-up has a bound, so that a closed browser cannot hold a desk (and the callers behind it) forever: a
supervisor can release a desk from wrap-up (`release`, audited), and a staffed desk whose console has been
closed for `[desk] away_logout_seconds` is logged out (`sweep`, run by a background watch). Either way the
disposition still owed is kept as a task (`disposition_tasks`), listed on the desk and the supervisor page,
and saving that call's disposition later completes it.

Patient data never goes to the log: searches are audited with the fields used, never the terms.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..callbacks import services as callbacks
from ..callbacks.services import NewCallback
from ..db.database import Database
from ..db.models import Agent, CallEvent, Disposition, DispositionTask, Patient, PatientPhone
from ..db.models import Call as CallRow
from ..db.queries import AuditActor, add_audit_event, patient_summary
from ..eventlog import EventLog, utcnow
from ..patients.timeline import timeline
from ..phones import normalize
from ..queues.services import AgentRuntime, QueueService
from ..screenpop.notifier import AgentNotifier
from ..triage.escalation import wrapup_refusal
from .access import RecentResults, ViewRate
from .codes import DISPOSITION_CODES, DISPOSITIONS, PAUSE_REASONS
from .exceptions import DispositionConflict, InvalidRequest, NotFound, NotInWrapup, NotPermitted, TooManyViews

log = logging.getLogger(__name__)

SEARCH_LIMIT = 25
CALLBACK_LIMIT = 30
NOTES_MAX = 4000
VIEW_VIA = ("pop", "search", "callback", "break_glass")
REASON_MAX = 500
RELEASE_TO = ("available", "logged_out")
TASK_LIMIT = 50
# A desk left alone on a call is not logged out mid-call: the phone works without the console.
BUSY_STATES = ("ringing", "on_call")


@dataclass(frozen=True)
class Actor:
    """Who acts at a desk: the signed-in user (None for the API token) and the desk's agent; `api_client`
    names an API client as web.request.api_client_name does (None: not one)."""
    user_id: int | None
    agent: AgentRuntime
    api_client: str | None = None

    def audited_as(self) -> AuditActor:
        """Whom an audit row of this desk's reads names."""
        return AuditActor(self.user_id, self.agent.id, self.api_client)


@dataclass(frozen=True)
class SearchTerms:
    name: str = ""
    date_of_birth: date | None = None
    mrn: str = ""
    phone_e164: str | None = None

    def fields(self) -> list[str]:
        """Which fields were used: what the audit row keeps (the terms themselves are patient data)."""
        used = {"name": self.name, "date_of_birth": self.date_of_birth, "mrn": self.mrn,
                "phone": self.phone_e164}
        return [name for name, value in used.items() if value]


@dataclass(frozen=True)
class DispositionRequest:
    call_id: str
    code: str
    notes: str
    patient_id: int | None = None
    callback_due_at: datetime | None = None
    callback_reason: str = ""
    callback_phone: str | None = None
    next_state: str | None = None
    pause_reason: str | None = None


class DeskService:
    def __init__(self, db: Database, events: EventLog, queues: QueueService, notifier: AgentNotifier,
                 default_region: str, *, away_logout_seconds: float = 0.0,
                 clock: Callable[[], datetime] = utcnow, view_rate: ViewRate | None = None,
                 recent: RecentResults | None = None):
        self._db = db
        self._events = events
        self._queues = queues
        self._notifier = notifier
        self._region = default_region
        self._staffed: set[str] = set()
        self._owed: dict[str, str] = {}  # agent number -> the call whose disposition is owed
        self._pushes: set[asyncio.Task] = set()
        self._away_after = away_logout_seconds
        self.clock = clock  # the away bound's clock (a test moves it)
        self._left_at: dict[str, datetime] = {}  # staffed desk -> when it was first seen without a console
        self._watch: asyncio.Task | None = None
        self._recent = recent or RecentResults()  # what each user's searches returned: those may be opened
        self._view_rate = view_rate or ViewRate(30, 600.0)

    # -- the disposition rule (called by the queue service) ----------------------------------------------

    def staff(self, number: str) -> None:
        """A signed-in agent or nurse opened this desk: from now on its calls need a disposition."""
        self._staffed.add(number)

    def owed(self, number: str) -> str | None:
        return self._owed.get(number)

    def why_not_available(self, agent: AgentRuntime) -> str | None:
        call_id = self._owed.get(agent.number)
        if call_id is None:
            return None
        return "save the disposition of your last call (code and notes) before taking the next call"

    def agent_state_changed(self, agent: AgentRuntime) -> None:
        if agent.state == "on_call" and agent.call_id and agent.number in self._staffed:
            self._owed[agent.number] = agent.call_id
        self._push(agent.number, self.state_message(agent))

    def state_message(self, agent: AgentRuntime) -> dict:
        return {"type": "agent_state", "agent": agent.public(),
                "disposition_owed": self._owed.get(agent.number), "sent_at": utcnow().isoformat()}

    def _push(self, number: str, message: dict) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous unit test): nobody can be listening
        task = loop.create_task(self._notifier.send(number, message))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    # -- the bound on wrap-up -----------------------------------------------------------------------------

    async def release(self, number: str, user_id: int | None, state: str = "available") -> dict:
        """A supervisor ends a desk's wrap-up: the disposition it owes becomes a task; audited."""
        agent = self._queues.agent(number)
        if state not in RELEASE_TO:
            raise InvalidRequest(f"'state' must be one of {', '.join(RELEASE_TO)}")
        if agent.state != "wrapup":
            raise NotInWrapup(f"desk {number} is not in wrap-up")
        task_id = await self._keep_owed(agent, "supervisor_release", user_id, {"state": state})
        self._queues.set_state(agent, state)
        return {"agent": agent.public(), "task_id": task_id}

    async def sweep(self) -> list[str]:
        """Log out the staffed desks whose console has been closed for longer than the bound (the desks it
        logged out). A desk on a call is left alone until the call ends."""
        now, gone = self.clock(), []
        for number in sorted(self._staffed):
            if self._notifier.connected(number):
                self._left_at.pop(number, None)
                continue
            left = self._left_at.setdefault(number, now)
            agent = self._queues.agents.get(number)
            if agent is None or agent.state in BUSY_STATES or (now - left).total_seconds() < self._away_after:
                continue
            if agent.state != "logged_out" or number in self._owed:
                await self._log_out_away(agent)
                gone.append(number)
        return gone

    async def _log_out_away(self, agent: AgentRuntime) -> None:
        await self._keep_owed(agent, "agent_away", None, {"away_seconds": self._away_after})
        if agent.state not in BUSY_STATES + ("logged_out",):  # offered a call meanwhile: the next sweep
            self._queues.set_state(agent, "logged_out")
        log.info("desk %s logged out: its console was closed for %g s", agent.number, self._away_after)

    async def _keep_owed(self, agent: AgentRuntime, reason: str, user_id: int | None,
                         detail: dict) -> int | None:
        """The owed disposition (if any) as a task row, and the audit row of why the desk moved on."""
        call_id = self._owed.get(agent.number)
        await self._events.flush()  # the call's row is written by the event log's writer
        task_id = await self._db.run(_keep_task, agent, call_id, reason, user_id, detail)
        if self._owed.get(agent.number) == call_id:
            self._owed.pop(agent.number, None)
        return task_id

    def start(self) -> None:
        """The background watch for desks whose console was closed ([desk] away_logout_seconds > 0)."""
        if self._away_after > 0 and self._watch is None:
            self._watch = asyncio.create_task(self._watch_away(), name="desk-away")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None

    async def _watch_away(self) -> None:
        tick = min(5.0, max(0.5, self._away_after / 4))  # logged out at most a tick late
        while True:
            await asyncio.sleep(tick)
            try:
                await self.sweep()
            except Exception:  # one failed check must not end the watch for every desk
                log.exception("desk: the check for closed consoles failed")

    async def tasks(self, actor: Actor) -> list[dict]:
        """The dispositions this desk still owes as tasks, oldest first (audited: they name patients)."""
        return await self._db.run(_tasks, actor)

    async def all_tasks(self) -> dict:
        """Every open task, for supervisors: desk, call and why, no patient data; and the codes to close
        one with (`complete_task`)."""
        return {"tasks": await self._db.run(_all_tasks), "dispositions": list(DISPOSITIONS)}

    async def complete_task(self, task_id: int, user_id: int | None, body: dict) -> dict:
        """A supervisor writes a task's disposition for its desk (the agent may not come back): saved as the
        desk's, with the supervisor as its user."""
        owner = await self._db.run(_open_task, task_id)
        if owner is None:
            raise NotFound("no such open task")
        call_id, agent_id = owner
        request = self.disposition_request({**body, "call_id": call_id, "next_state": None})
        return await self.save_disposition(Actor(user_id, self._queues.agent_by_id(agent_id)), request)

    # -- what the desk page loads ------------------------------------------------------------------------

    async def snapshot(self, actor: Actor) -> dict:
        return {
            "agent": actor.agent.public(),
            "disposition_owed": self._owed.get(actor.agent.number),
            "dispositions": list(DISPOSITIONS),
            "pause_reasons": list(PAUSE_REASONS),
            "queues": [{"name": q.name, "title": q.title} for q in self._queues.queues.values()],
            "callbacks": await self.callbacks(actor),
            "tasks": await self.tasks(actor),
        }

    async def callbacks(self, actor: Actor) -> list[dict]:
        """Scheduled callbacks for this agent or the queues they serve, due soonest first."""
        return await self._db.run(_callbacks, actor, self._served_queues(actor.agent))

    def _searched(self, actor: Actor, patient_id: int) -> bool:
        return actor.user_id is not None and self._recent.returned(actor.user_id, patient_id)

    def _served_queues(self, agent: AgentRuntime) -> list[str]:
        return [q.name for q in self._queues.queues.values() if q.skill in agent.skills]

    # -- patients ----------------------------------------------------------------------------------------

    def search_terms(self, body: dict) -> SearchTerms:
        name = _text(body, "name", 100)
        mrn = _text(body, "mrn", 32)
        dob = _date(body.get("date_of_birth"))
        phone_raw = _text(body, "phone", 40)
        phone = normalize(phone_raw, self._region).e164 if phone_raw else None
        if phone_raw and phone is None:
            raise InvalidRequest("that phone number is not valid")
        if name and len(name.replace(" ", "")) < 2:
            raise InvalidRequest("type at least two letters of the name")
        terms = SearchTerms(name, dob, mrn, phone)
        if not terms.fields():
            raise InvalidRequest("search by name, date of birth, MRN or phone")
        return terms

    async def search(self, actor: Actor, terms: SearchTerms, call_id: str | None) -> list[dict]:
        found = await self._db.run(_search, actor, terms, call_id)
        if actor.user_id is not None:
            self._recent.remember(actor.user_id, [p["id"] for p in found])
        return found

    async def view(self, actor: Actor, patient_id: int, call_id: str | None, via: str,
                   reason: object = None) -> dict:
        """The full record of one patient, if `via` entitles this user to it (see access.py), with its audit
        row in the same transaction."""
        if via not in VIEW_VIA:
            raise InvalidRequest(f"'via' must be one of {', '.join(VIEW_VIA)}")
        if via == "break_glass":
            reason = _break_glass_reason(reason)
        if actor.user_id is not None and not self._view_rate.take(actor.user_id):
            raise TooManyViews("too many records opened in a short time: wait a few minutes")
        if via == "search" and not self._searched(actor, patient_id):
            raise NotPermitted("open a record from your own recent search, the pop of your call or your "
                               "callback list, or break the glass with a written reason")
        queues = self._served_queues(actor.agent)
        summary = await self._db.run(_view, actor, patient_id, call_id, via, reason, queues)
        if summary is None:
            raise NotFound("no such patient")
        return summary

    # -- wrap-up -----------------------------------------------------------------------------------------

    async def save_disposition(self, actor: Actor, request: DispositionRequest) -> dict:
        await self._events.flush()  # the wrap-up rule reads the call's triage events
        saved = await self._db.run(_save_disposition, actor, request, self._owed.get(actor.agent.number),
                                   self._events)
        number = actor.agent.number
        if self._owed.get(number) == request.call_id:
            del self._owed[number]
        if request.next_state:
            self._queues.request_state(number, request.next_state, request.pause_reason)
        else:
            self._push(number, self.state_message(actor.agent))
        return saved

    def disposition_request(self, body: dict) -> DispositionRequest:
        call_id = _text(body, "call_id", 32)
        code = _text(body, "code", 32)
        notes = _text(body, "notes", NOTES_MAX, strip=False).strip()
        if not call_id:
            raise InvalidRequest("'call_id' is required")
        if code not in DISPOSITION_CODES:
            raise InvalidRequest("choose a disposition code from the list")
        if not notes:
            raise InvalidRequest("notes are required: what was the call about, what was done")
        next_state = body.get("next_state")
        if next_state not in (None, "available", "paused"):
            raise InvalidRequest("'next_state' must be available or paused")
        patient_id = body.get("patient_id")
        if patient_id is not None and not isinstance(patient_id, int):
            raise InvalidRequest("'patient_id' must be a number")
        callback = body.get("callback") or {}
        if not isinstance(callback, dict):
            raise InvalidRequest("'callback' must be an object")
        due = _when(callback.get("due_at")) if callback else None
        phone_raw = _text(callback, "phone", 40)
        phone = normalize(phone_raw, self._region).e164 if phone_raw else None
        if phone_raw and phone is None:
            raise InvalidRequest("the callback phone number is not valid")
        return DispositionRequest(call_id, code, notes, patient_id, due, _text(callback, "reason", 500),
                                  phone, next_state, _text(body, "pause_reason", 64) or None)


# -- validation helpers ------------------------------------------------------------------------------------


def _text(body: dict, key: str, limit: int, *, strip: bool = True) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"'{key}' must be a text of at most {limit} characters")
    return value.strip() if strip else value


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidRequest("date of birth must be a date like 1960-12-31") from None


def _when(value) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidRequest("the callback time must be a date and time") from None
    if when.tzinfo is None:
        raise InvalidRequest("the callback time needs a time zone")
    if when <= utcnow():
        raise InvalidRequest("the callback time must be in the future")
    return when.astimezone(UTC)


# -- database work (run in the pool) -----------------------------------------------------------------------


def _identity(patient: Patient) -> dict:
    return {"id": patient.id, "mrn": patient.mrn, "name": patient.full_name,
            "date_of_birth": patient.date_of_birth.isoformat()}


def _search(session: Session, actor: Actor, terms: SearchTerms, call_id: str | None) -> list[dict]:
    # A record merged into another (HL7 A40) is not a result: its survivor is, also by the old MRN.
    query = select(Patient).where(Patient.merged_into_id.is_(None))
    for word in terms.name.lower().split():
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(Patient.given_name).like(pattern, escape="\\"),
                                func.lower(Patient.family_name).like(pattern, escape="\\")))
    if terms.date_of_birth:
        query = query.where(Patient.date_of_birth == terms.date_of_birth)
    if terms.mrn:
        merged = aliased(Patient)
        survivor = select(merged.merged_into_id).where(func.upper(merged.mrn) == terms.mrn.upper())
        query = query.where(or_(func.upper(Patient.mrn) == terms.mrn.upper(),
                                Patient.id == survivor.scalar_subquery()))
    if terms.phone_e164:
        query = query.where(Patient.id.in_(select(PatientPhone.patient_id)
                                           .where(PatientPhone.e164 == terms.phone_e164)))
    query = query.order_by(Patient.family_name, Patient.given_name, Patient.id).limit(SEARCH_LIMIT)
    found = [_identity(p) for p in session.scalars(query)]
    # A result list shows names and dates of birth: audited, with the fields used but never the terms.
    add_audit_event(session, "patient_search", actor=actor.audited_as(), call_id=call_id,
                    detail={"fields": terms.fields(), "results": len(found),
                            "patient_ids": [p["id"] for p in found]})
    return found


def _break_glass_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest("opening a record outside a pop, your search or your callbacks needs a written "
                             "'reason'")
    if len(reason) > REASON_MAX:
        raise InvalidRequest(f"the 'reason' is at most {REASON_MAX} characters")
    return reason.strip()


def _view(session: Session, actor: Actor, patient_id: int, call_id: str | None, via: str, reason: str | None,
          queues: list[str]) -> dict | None:
    call = session.get(CallRow, call_id) if call_id else None
    if call_id and call is None:
        raise NotFound("no such call")
    if call is not None and not _on_desk(session, call, actor.agent):
        raise NotPermitted("this call is not on your desk")
    if via == "pop" and call is None:
        raise InvalidRequest("a record opened from a screen pop needs its 'call_id'")
    if via == "pop" and patient_id not in (call.candidate_patient_ids or []) + [call.patient_id]:
        raise InvalidRequest("this patient is not a candidate for this call")
    if via == "callback" and not _on_callback_list(session, actor.agent, patient_id, queues):
        raise NotPermitted("this patient is not on your callback list")
    summary = patient_summary(session, patient_id, exclude_call_id=call_id)
    if summary is None:
        return None
    summary["timeline"] = timeline(session, patient_id)  # part of the record: the same audited read
    action = "patient_break_glass" if via == "break_glass" else "patient_viewed"
    add_audit_event(session, action, actor=actor.audited_as(), patient_id=patient_id, call_id=call_id,
                    reason=reason, detail={"via": via})
    if via == "pop":
        # The agent checked name and date of birth with the caller: this call is now this patient's (which
        # the pop could not know when several patients share the number).
        session.add(CallEvent(call_id=call_id, ts=utcnow(), type="identity_confirmed",
                              agent_id=actor.agent.id, data={"patient_id": patient_id}))
        if call.patient_id is None:
            session.execute(update(CallRow).where(CallRow.id == call_id).values(patient_id=patient_id))
    return summary


def _on_desk(session: Session, call: CallRow, agent: AgentRuntime) -> bool:
    """The call rings or rang, is or was answered at this desk."""
    if agent.call_id == call.id or call.agent_id == agent.id:
        return True
    return session.scalar(select(CallEvent.id).where(CallEvent.call_id == call.id,
                                                     CallEvent.agent_id == agent.id).limit(1)) is not None


def _on_callback_list(session: Session, agent: AgentRuntime, patient_id: int, queues: list[str]) -> bool:
    """On the list the desk is shown (callbacks.listing with the same bound), not any open callback."""
    listed = callbacks.listing(session, agent_id=agent.id, queues=queues, limit=CALLBACK_LIMIT)
    return any(cb.patient_id == patient_id for cb, _ in listed)


def _save_disposition(session: Session, actor: Actor, request: DispositionRequest, owed: str | None,
                      events: EventLog) -> dict:
    call = session.get(CallRow, request.call_id)
    if call is None:
        raise NotFound("no such call")
    task = session.scalar(select(DispositionTask).where(DispositionTask.call_id == call.id,
                                                        DispositionTask.agent_id == actor.agent.id))
    if call.agent_id != actor.agent.id and owed != request.call_id and task is None:
        raise DispositionConflict("this call was not handled at your desk")
    refusal = wrapup_refusal(session, call.id)  # a red flag: escalate (or a nurse overrides) first
    if refusal is not None:
        raise DispositionConflict(refusal)
    patient_id = request.patient_id or call.patient_id
    if request.patient_id is not None and session.get(Patient, request.patient_id) is None:
        raise InvalidRequest("no such patient")
    row = Disposition(call_id=call.id, agent_id=actor.agent.id, user_id=actor.user_id, patient_id=patient_id,
                      code=request.code, notes=request.notes, created_at=utcnow())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise DispositionConflict("the disposition of this call is already saved") from None
    if task is not None and task.completed_at is None:
        task.completed_at, task.disposition_id = utcnow(), row.id
    callback_id = _schedule_callback(session, actor, request, call, patient_id)
    # The code goes to the call's event log; the notes stay in the dispositions table (they are patient data).
    # In this transaction, so the disposition, its event and its webhook outbox row commit together.
    events.add_event(session, call.id, "disposition", agent_id=actor.agent.id, code=request.code,
                     disposition_id=row.id, callback_id=callback_id)
    return {"id": row.id, "call_id": call.id, "code": row.code, "patient_id": patient_id,
            "callback_id": callback_id}


def _schedule_callback(session: Session, actor: Actor, request: DispositionRequest, call: CallRow,
                       patient_id: int | None) -> int | None:
    if request.callback_due_at is None:
        return None
    phone = request.callback_phone or _primary_phone(session, patient_id) or call.caller_e164
    if phone is None:
        raise InvalidRequest("the callback needs a phone number")
    return callbacks.create(session, NewCallback(
        phone_e164=phone, due_at=request.callback_due_at, reason=request.callback_reason,
        patient_id=patient_id, agent_id=actor.agent.id, origin_call_id=call.id,
        created_by_user_id=actor.user_id))


def _primary_phone(session: Session, patient_id: int | None) -> str | None:
    if patient_id is None:
        return None
    query = (select(PatientPhone.e164).where(PatientPhone.patient_id == patient_id)
             .order_by(PatientPhone.is_primary.desc(), PatientPhone.id))
    return session.scalars(query).first()


def _callbacks(session: Session, actor: Actor, queues: list[str]) -> list[dict]:
    rows = callbacks.listing(session, agent_id=actor.agent.id, queues=queues, limit=CALLBACK_LIMIT)
    now = utcnow()
    out = [{"id": cb.id, "due_at": cb.due_at.isoformat(), "overdue": cb.due_at <= now, "phone": cb.phone_e164,
            "reason": cb.reason, "queue": cb.queue_name, "mine": cb.agent_id == actor.agent.id,
            "urgent": cb.urgent, "attempts": cb.attempts, "last_result": cb.last_result,
            "patient": _identity(patient) if patient else None} for cb, patient in rows]
    if out:
        patient_ids = sorted({c["patient"]["id"] for c in out if c["patient"]})
        add_audit_event(session, "callbacks_listed", actor=actor.audited_as(),
                        detail={"patient_ids": patient_ids})
    return out


def _keep_task(session: Session, agent: AgentRuntime, call_id: str | None, reason: str, user_id: int | None,
               detail: dict) -> int | None:
    task_id = None
    saved = call_id is not None and session.scalar(select(Disposition.id).where(
        Disposition.call_id == call_id, Disposition.agent_id == agent.id)) is not None
    if call_id is not None and not saved:
        task = session.scalar(select(DispositionTask).where(DispositionTask.call_id == call_id,
                                                            DispositionTask.agent_id == agent.id))
        if task is None:
            task = DispositionTask(call_id=call_id, agent_id=agent.id, reason=reason, created_at=utcnow(),
                                   released_by_user_id=user_id)
            session.add(task)
            session.flush()
        task_id = task.id
    action = "desk_released" if reason == "supervisor_release" else "desk_logged_out_away"
    add_audit_event(session, action, actor_user_id=user_id, call_id=call_id,
                    detail={"desk": agent.number, "agent_id": agent.id, "task_id": task_id, **detail})
    return task_id


def _tasks(session: Session, actor: Actor) -> list[dict]:
    query = (select(DispositionTask, CallRow, Patient).join(CallRow, DispositionTask.call_id == CallRow.id)
             .outerjoin(Patient, CallRow.patient_id == Patient.id)
             .where(DispositionTask.agent_id == actor.agent.id, DispositionTask.completed_at.is_(None))
             .order_by(DispositionTask.created_at, DispositionTask.id).limit(TASK_LIMIT))
    out = [_task_row(task, call) | {"patient": _identity(patient) if patient else None}
           for task, call, patient in session.execute(query)]
    if any(t["patient"] for t in out):
        add_audit_event(session, "disposition_tasks_listed", actor=actor.audited_as(),
                        detail={"patient_ids": sorted({t["patient"]["id"] for t in out if t["patient"]})})
    return out


def _open_task(session: Session, task_id: int) -> tuple[str, int] | None:
    task = session.get(DispositionTask, task_id)
    return None if task is None or task.completed_at is not None else (task.call_id, task.agent_id)


def _all_tasks(session: Session) -> list[dict]:
    query = (select(DispositionTask, CallRow, Agent).join(CallRow, DispositionTask.call_id == CallRow.id)
             .join(Agent, DispositionTask.agent_id == Agent.id)
             .where(DispositionTask.completed_at.is_(None))
             .order_by(DispositionTask.created_at, DispositionTask.id).limit(TASK_LIMIT))
    return [_task_row(task, call) | {"desk": agent.number, "agent": agent.name}
            for task, call, agent in session.execute(query)]


def _task_row(task: DispositionTask, call: CallRow) -> dict:
    started = call.answered_at or call.started_at
    return {"id": task.id, "call_id": call.id, "reason": task.reason,
            "created_at": task.created_at.isoformat(), "queue": call.queue_name,
            "call_started_at": started.isoformat() if started else None}

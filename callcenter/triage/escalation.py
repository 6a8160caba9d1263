"""Red-flag escalations: the disposition's action performed through the call controls, the wrap-up rule, and
the call's triage record (detail page and export).

Call events written here (the agent is the `agent_id` column, the signed-in user `user_id` in data):

| type                    | data                                                                          |
| ----------------------- | ----------------------------------------------------------------------------- |
| `escalation_started`    | kind, disposition, queue, priority (a warm transfer to a nurse is under way)   |
| `escalation_performed`  | kind, disposition, protocol, version, seconds_from_call_start                  |
| `escalation_overridden` | disposition, reason, user_id, role (a nurse lifted the wrap-up rule)           |
| `escalation_task_created` | kind urgent_callback, callback_id, queue, disposition (owed on a call that   |
|                         | ended: the hospital dials the patient back; wrap-up may finish)               |
| `escalation_callback_attempt` | callback_id, callback_call_id, result, attempts (a try that reached no  |
|                         | nurse: callbacks/dialer.py; the callback stays owed)                          |

`escalation_performed` also comes from an urgent callback a nurse answered (kind urgent_callback, with
callback_id and callback_call_id) and from an agent recording that the emergency service was reached by other
means after the caller hung up (kind emergency_conference, by other_means, with the written reason; audited).

The wrap-up rule: the most urgent disposition reached on a call governs it (a later, milder protocol result
never lowers it). While the governing disposition requires escalation the call cannot be wrapped up until
one of the escalations its ladder rung names (`satisfied_by`) is performed, or a nurse lowers it with a
written reason (audited); after that the next result governs whatever its urgency. When the caller hung up
with the escalation owed, it becomes a task (issue 13, defect 3): an urgent callback at the top of the nurse
queue, dialed at once (callbacks/dialer.py), or the agent records that the emergency service was reached by
other means; with the task made, wrap-up may finish, and the escalation stays owed on the record until the
callback reaches a nurse.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..callbacks.services import URGENT_PRIORITY, CallbackService, NewCallback
from ..calls.exceptions import TargetUnavailable
from ..db.models import Call as CallRow
from ..db.models import CallEvent, PatientPhone
from ..db.queries import add_audit_event
from ..eventlog import utcnow
from .exceptions import TriageError
from .schema import ESCALATIONS

NURSE_TRANSFER, EMERGENCY_CONFERENCE, INSTRUCTION_READ, URGENT_CALLBACK = ESCALATIONS
KINDS = ESCALATIONS
# After the caller hung up: what the agent may still do for an owed escalation (a task, or the record that
# the emergency service was reached some other way).
OTHER_MEANS = "other_means"
AFTER_HANGUP = (URGENT_CALLBACK, OTHER_MEANS)
# Words for the console and the refusals (never the ids).
LABELS = {NURSE_TRANSFER: "a warm transfer to a nurse",
          EMERGENCY_CONFERENCE: "conferencing the emergency number",
          INSTRUCTION_READ: "reading the instruction to the caller",
          URGENT_CALLBACK: "an urgent nurse callback (dialed at once, top of the nurse queue)",
          OTHER_MEANS: "recording that the emergency service was reached by other means"}
# Queues tried in order for "warm transfer to nurse now", and the priority the caller keeps if requeued.
NURSE_QUEUES = ("emergency-nurse", "nurse")
TOP_PRIORITY = 100
REASON_MIN, REASON_MAX = 10, 1000
# The emergency leg's events (calls/emergency.py); the conference is performed once it answered and joined.
EMERGENCY_JOINED = "emergency_conference_joined"
EMERGENCY_FAILED, EMERGENCY_LEFT = "emergency_conference_failed", "emergency_conference_left"
# A disposition event written before the ladder's rank was recorded: red flags above everything else.
_UNRANKED_RED_FLAG, _UNRANKED = -1, 1_000


class EscalationRefused(TriageError):
    status = 409


@dataclass
class Governing:
    """The disposition that governs a call: the most urgent one reached, until a nurse lowers it.
    `satisfied` is the event of the escalation that discharged it (escalation_performed, or the
    transfer_completed of a warm transfer to a nurse started from the panel)."""
    disposition: dict  # the triage_disposition event's data
    at: datetime
    satisfied: Any = None
    overridden: Any = None
    task: Any = None  # the escalation_task_created event: owed still, but wrap-up may finish
    milder_later: list[dict] = field(default_factory=list)  # later results that did not lower it

    @property
    def owed(self) -> bool:
        return bool(self.disposition.get("escalation_required")) and self.satisfied is None \
            and self.overridden is None

    @property
    def blocks_wrapup(self) -> bool:
        return self.owed and self.task is None

    @property
    def satisfied_by(self) -> tuple[str, ...]:
        return tuple(self.disposition.get("satisfied_by") or ())

    def counts(self, kind: str | None) -> bool:
        return kind in self.satisfied_by

    @property
    def satisfied_kind(self) -> str | None:
        done = self.satisfied
        if done is None:
            return None
        return NURSE_TRANSFER if done.type == "transfer_completed" else done.data.get("kind")


def rank(disposition: dict) -> int:
    value = disposition.get("rank")
    if isinstance(value, int):
        return value
    return _UNRANKED_RED_FLAG if disposition.get("escalation_required") else _UNRANKED


def governing(events: Iterable[Any]) -> Governing | None:
    """The governing disposition of a call from its events (objects with type, ts, data, in time order).
    A later result governs only when it is more urgent, or when a nurse lowered the one before with a
    written reason: a milder protocol run afterwards never lowers an emergency."""
    gov: Governing | None = None
    nurse_started = False
    for event in events:
        if event.type == "triage_disposition":
            if gov is None or gov.overridden is not None or rank(event.data) < rank(gov.disposition):
                gov, nurse_started = Governing(event.data, event.ts), False
            elif rank(event.data) > rank(gov.disposition):
                gov.milder_later.append(event.data)
        elif gov is None or not gov.owed:
            continue
        elif event.type == "escalation_overridden":
            gov.overridden = event
        elif event.type == "escalation_task_created":
            gov.task = event
        elif event.type == "escalation_performed" and gov.counts(event.data.get("kind")):
            gov.satisfied = event
        elif event.type == "escalation_started" and event.data.get("kind") == NURSE_TRANSFER:
            nurse_started = True
        elif event.type == "transfer_completed" and nurse_started and gov.counts(NURSE_TRANSFER):
            # Completed with the desk's own Complete button instead of the panel's: still the nurse.
            gov.satisfied = event
    return gov


def pending(events: Iterable[Any]) -> dict | None:
    """The governing disposition's event data while its escalation is still owed, else None."""
    gov = governing(events)
    return gov.disposition if gov is not None and gov.owed else None


def emergency_leg(call, events: Iterable[Any]) -> dict | None:
    """The emergency conference as the console shows it: dialing, answered, or handed_over (the agent left
    the caller with it) from the live call's leg, else how the last one ended (failed with its result:
    retry; ended: the service hung up). `blocked`: a second
    conference is refused while one rings or is in the call, and once one was answered; never after one
    that failed."""
    last = None
    answered_once = False
    for event in events:
        if event.type in (EMERGENCY_JOINED, EMERGENCY_FAILED, EMERGENCY_LEFT):
            last = event
            answered_once = answered_once or event.type == EMERGENCY_JOINED
    leg = getattr(getattr(call, "legs", None), "emergency", None)
    if leg is not None and leg.answered and call.agent is None:
        view = {"state": "handed_over"}  # the agent left; caller and emergency service talk on
    elif leg is not None:
        view = {"state": "answered" if leg.answered else "dialing"}
    elif last is None:
        return None
    elif last.type == EMERGENCY_FAILED:
        view = {"state": "failed", "result": last.data.get("result")}
    else:
        view = {"state": "ended" if last.type == EMERGENCY_LEFT else "answered"}
    return view | {"blocked": leg is not None or answered_once}


def call_events(session: Session, call_id: str) -> list[CallEvent]:
    return list(session.scalars(select(CallEvent).where(CallEvent.call_id == call_id)
                                .order_by(CallEvent.ts, CallEvent.id)))


def wrapup_refusal(session: Session, call_id: str) -> str | None:
    """Why this call cannot be wrapped up yet (the desk's disposition path asks), or None."""
    gov = governing(call_events(session, call_id))
    if gov is None or not gov.blocks_wrapup:
        return None
    waiting = gov.disposition
    counts = " or ".join(words(waiting.get("satisfied_by") or ()) or ["a nurse override"])
    return (f"red flag: the governing triage disposition '{waiting.get('disposition')}' requires an "
            f"escalation ({counts}) before wrap-up; a nurse may override it with a written reason")


def words(kinds) -> list[str]:
    return [LABELS.get(kind, kind) for kind in kinds]


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 1)


# -- the record ------------------------------------------------------------------------------------------

def record(session: Session, call_id: str) -> dict | None:
    """The call's triage record: every question shown and answered with time and agent, the disposition, the
    escalations and overrides; None when there is no such call."""
    call = session.get(CallRow, call_id)
    if call is None:
        return None
    events = call_events(session, call_id)
    rows = [_row(e) for e in events if e.type.startswith(("triage_", "escalation_"))]
    gov = governing(events)
    return {
        "call": {"id": call.id, "direction": call.direction, "queue": call.queue_name,
                 "status": call.status, "started_at": _iso(call.started_at), "ended_at": _iso(call.ended_at),
                 "ivr_path": list(call.ivr_path or []), "agent_ids": sorted(_agent_ids(call, events))},
        "protocols": _protocols(events),
        "events": rows,
        "governing": _governing_view(gov),
        "escalation_pending": gov.disposition if gov is not None and gov.owed else None,
        "escalation": _escalation_view(call, gov),
        "overrides": [_row(e) for e in events if e.type == "escalation_overridden"],
    }


def _governing_view(gov: Governing | None) -> dict | None:
    if gov is None:
        return None
    return {"disposition": gov.disposition.get("disposition"), "protocol": gov.disposition.get("protocol"),
            "at": _iso(gov.at), "escalation_required": bool(gov.disposition.get("escalation_required")),
            "satisfied_by": list(gov.satisfied_by), "owed": gov.owed,
            "overridden": gov.overridden is not None, "task": task_view(gov),
            # A later protocol reached something milder: shown as a warning, it changed nothing.
            "milder_later": [{"disposition": d.get("disposition"), "protocol": d.get("protocol")}
                             for d in gov.milder_later]}


def task_view(gov: Governing | None) -> dict | None:
    """The task an escalation owed on an ended call became (an urgent callback), or None."""
    if gov is None or gov.task is None:
        return None
    return {"kind": gov.task.data.get("kind"), "callback_id": gov.task.data.get("callback_id"),
            "queue": gov.task.data.get("queue"), "at": _iso(gov.task.ts)}


def _escalation_view(call: CallRow, gov: Governing | None) -> dict | None:
    """The escalation that satisfied the governing disposition: its time is the time to escalation (an
    escalation clicked before, or one that did not count, is in the events but not here)."""
    if gov is None or gov.satisfied is None:
        return None
    done = gov.satisfied
    return {"kind": gov.satisfied_kind, "at": _iso(done.ts), "agent_id": done.agent_id,
            "seconds_from_call_start": seconds_between(call.started_at, done.ts)}


def _agent_ids(call: CallRow, events: list[CallEvent]) -> set[int]:
    ids = {e.agent_id for e in events if e.agent_id is not None}
    if call.agent_id is not None:
        ids.add(call.agent_id)
    return ids


def _protocols(events: list[CallEvent]) -> list[dict]:
    return [{"id": e.data.get("protocol"), "version": e.data.get("version"),
             "language": e.data.get("language"), "started_at": _iso(e.ts), "agent_id": e.agent_id}
            for e in events if e.type == "triage_started"]


def _row(event: CallEvent) -> dict:
    data = dict(event.data or {})
    return {"at": _iso(event.ts), "type": event.type, "agent_id": event.agent_id,
            "user_id": data.pop("user_id", None), "protocol": data.pop("protocol", None),
            "version": data.pop("version", None), "question": data.pop("question", None),
            "text": data.pop("text", None), "answer": data.pop("answer", None),
            "disposition": data.pop("disposition", None), "kind": data.pop("kind", None),
            "detail": data}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def now() -> datetime:
    return utcnow()


# -- performing escalations ---------------------------------------------------------------------------------

class EscalationService:
    """The disposition's buttons: each acts through the call controls and leaves call events."""

    def __init__(self, triage, controls, queues, events, db, *, callbacks: CallbackService | None = None,
                 dial_now: Callable[[], None] | None = None):
        self._triage, self._controls, self._queues = triage, controls, queues
        self._events, self._db = events, db
        # Calls whose emergency leg rings: who asked, for what disposition (performed once it answers).
        self._dialing: dict[str, tuple[Any, int | None, dict]] = {}
        self._callbacks = callbacks or CallbackService(db)
        self._dial_now = dial_now  # wakes the urgent dialer (callbacks/dialer.py) when a callback is made

    async def governing(self, call_id: str) -> tuple[Governing | None, list[CallEvent]]:
        """The call's governing disposition and its events, read after the pending events are written."""
        await self._events.flush()
        events = await self._db.run(call_events, call_id)
        return governing(events), events

    async def _owed(self, call_id: str, kind: str) -> tuple[Governing, list[CallEvent]]:
        """The governing disposition, when `kind` is one of the escalations that satisfy it."""
        if kind not in KINDS:
            raise EscalationRefused(f"'kind' must be one of {', '.join(KINDS)}")
        gov, events = await self.governing(call_id)
        if gov is None:
            raise EscalationRefused("no triage disposition on this call yet")
        if not gov.counts(kind):
            counts = " or ".join(gov.satisfied_by) or "none: no escalation is required"
            raise EscalationRefused(f"'{kind}' does not satisfy the governing disposition "
                                    f"'{gov.disposition.get('disposition')}' (what counts: {counts})")
        return gov, events

    @staticmethod
    def _decided(gov: Governing) -> dict:
        return {key: gov.disposition.get(key) for key in ("protocol", "version", "disposition")}

    async def escalate(self, call, agent, kind: str, user) -> dict:
        gov, events = await self._owed(call.id, kind)
        decided, user_id = self._decided(gov), user.id if user else None
        if kind == NURSE_TRANSFER:
            queue, state = await self._warm_to_nurse(call, user, gov)
            self._events.event(call.id, "escalation_started", agent_id=agent.id, kind=kind, queue=queue,
                               priority=TOP_PRIORITY, user_id=user_id, **decided)
            await self._events.flush()
            return {"kind": kind, "state": state, "queue": queue, "performed": False}
        if kind == URGENT_CALLBACK:
            # No nurse free and the ladder counts a callback: a nurse calls back once this call is over.
            return await self._urgent_callback(call.id, agent, user, gov)
        if kind == EMERGENCY_CONFERENCE:
            return await self._conference_emergency(call, agent, user, events, decided)
        self._performed(call, agent, kind, user_id, decided)
        await self._events.flush()
        return {"kind": kind, "performed": True}

    async def _conference_emergency(self, call, agent, user, events, decided: dict) -> dict:
        """Dial the emergency number: performed only once it answers (emergency_leg_changed)."""
        leg = emergency_leg(call, events)
        if leg is not None and leg["blocked"]:
            # A reload forgets what the page did; the call and its events do not. A failed leg does not
            # block: the agent must be able to retry.
            ringing = leg["state"] == "dialing"
            raise EscalationRefused("the emergency number is already ringing" if ringing else
                                    "the emergency number was already conferenced into this call")
        user_id = user.id if user else None
        # Noted before the dial: the emergency service may answer before the dial's reply reaches us.
        self._dialing[call.id] = (agent, user_id, decided)
        try:
            channel = await self._controls.conference_emergency(call.id, user)
        except Exception:
            self._dialing.pop(call.id, None)
            raise
        self._events.event(call.id, "escalation_started", agent_id=agent.id, kind=EMERGENCY_CONFERENCE,
                           channel=channel, user_id=user_id, **decided)
        await self._events.flush()
        return {"kind": EMERGENCY_CONFERENCE, "state": "dialing", "channel": channel, "performed": False}

    def emergency_leg_changed(self, call, channel: str, outcome: str) -> None:
        """An emergency leg this service dialed answered: the escalation is performed now, at this time (the
        wrap-up rule and the KPIs read this event). Busy, no_answer, failed: nothing is performed, and the
        console offers a retry. One leg rings at a time per call (calls/emergency.py)."""
        dialed = self._dialing.pop(call.id, None)
        if dialed is not None and outcome == "answered":
            agent, user_id, decided = dialed
            self._performed(call, agent, EMERGENCY_CONFERENCE, user_id, decided)

    async def complete_nurse(self, call, agent, user) -> dict:
        """The agent introduced the caller to the nurse: complete the warm transfer; escalation done."""
        gov, _ = await self._owed(call.id, NURSE_TRANSFER)
        state = await self._controls.complete_transfer(call.id, user)
        self._performed(call, agent, NURSE_TRANSFER, user.id if user else None, self._decided(gov))
        await self._events.flush()
        return {"kind": NURSE_TRANSFER, "state": state, "performed": True}

    async def _warm_to_nurse(self, call, user, gov: Governing) -> tuple[str, str]:
        for queue in NURSE_QUEUES:
            if queue not in self._queues.queues:
                continue
            try:
                body = {"mode": "warm", "queue": queue, "priority": TOP_PRIORITY}
                return queue, await self._controls.transfer(call.id, body, user)
            except TargetUnavailable:
                continue  # the next nurse queue
        # Offer only what else counts for this disposition, in words: never an action the rule ignores.
        others = [k for k in gov.satisfied_by if k != NURSE_TRANSFER]
        instead = f" Instead: {' or '.join(words(others))}." if others else ""
        raise EscalationRefused(f"No nurse is free right now.{instead}") from None

    def _performed(self, call, agent, kind: str, user_id: int | None, decided: dict) -> None:
        at = utcnow()
        self._events.event(call.id, "escalation_performed", agent_id=agent.id, ts=at, kind=kind,
                           seconds_from_call_start=seconds_between(call.times.started_at, at),
                           user_id=user_id, **decided)

    async def override(self, call_id: str, user, reason: str) -> dict:
        """A nurse lifts the wrap-up rule with a written reason: a call event and an audit row."""
        reason = (reason or "").strip()
        if not REASON_MIN <= len(reason) <= REASON_MAX:
            raise EscalationRefused(f"write a reason of {REASON_MIN} to {REASON_MAX} characters")
        await self._events.flush()
        waiting = await self._db.run(lambda s: pending(call_events(s, call_id))
                                     if s.get(CallRow, call_id) is not None else False)
        if waiting is False:
            raise _NotFound("no such call")
        if waiting is None:
            raise EscalationRefused("this call has no escalation waiting")
        await self._db.run(_audit, "triage_escalation_override", user.id if user else None, call_id, reason,
                           {"disposition": waiting.get("disposition")})  # written, or nothing is lifted
        self._events.event(call_id, "escalation_overridden", disposition=waiting.get("disposition"),
                           protocol=waiting.get("protocol"), version=waiting.get("version"),
                           reason=reason, user_id=user.id if user else None,
                           role=user.role if user else None)
        await self._events.flush()
        return {"call_id": call_id, "overridden": waiting.get("disposition")}


    # -- after the caller hung up ------------------------------------------------------------------------

    async def after_hangup(self, call_id: str, agent, kind: str, user, reason: str = "") -> dict:
        """The caller hung up with an escalation owed: make it a task (an urgent callback dialed at once) or
        record that the emergency service was reached by other means (written reason, audited)."""
        if kind not in AFTER_HANGUP:
            raise EscalationRefused("the caller hung up: " + " or ".join(words(AFTER_HANGUP)))
        gov, _ = await self.governing(call_id)
        if gov is None or not gov.owed:
            raise EscalationRefused("no escalation is owed on this call")
        if gov.task is not None:
            raise EscalationRefused("this escalation is already a task: an urgent callback is being dialed")
        if kind == URGENT_CALLBACK:
            return await self._urgent_callback(call_id, agent, user, gov)
        return await self._reached_otherwise(call_id, agent, user, gov, reason)

    async def _urgent_callback(self, call_id: str, agent, user, gov: Governing) -> dict:
        queue = next((q for q in NURSE_QUEUES if q in self._queues.queues), None)
        if queue is None:
            raise EscalationRefused("there is no nurse queue to call the patient back from")
        await self._events.flush()
        found = await self._db.run(_callback_phone, call_id)
        if found is None:
            raise EscalationRefused("there is no number to call the patient back on: record how the "
                                    "emergency service was reached, or ask a nurse")
        phone, patient_id = found
        decided = self._decided(gov)
        callback_id = await self._callbacks.create(NewCallback(
            phone_e164=phone, due_at=utcnow(), reason=f"escalation owed: {decided['disposition']}",
            patient_id=patient_id, queue_name=queue, origin_call_id=call_id,
            created_by_user_id=user.id if user else None, urgent=True, autodial=True))
        self._events.event(call_id, "escalation_task_created", agent_id=agent.id, kind=URGENT_CALLBACK,
                           callback_id=callback_id, queue=queue, priority=URGENT_PRIORITY,
                           user_id=user.id if user else None, **decided)
        await self._events.flush()
        if self._dial_now is not None:
            self._dial_now()
        return {"kind": URGENT_CALLBACK, "performed": False, "task": True, "callback_id": callback_id,
                "queue": queue}

    async def _reached_otherwise(self, call_id: str, agent, user, gov: Governing, reason: str) -> dict:
        reason = (reason or "").strip()
        if not REASON_MIN <= len(reason) <= REASON_MAX:
            raise EscalationRefused(f"write how the emergency service was reached ({REASON_MIN} to "
                                    f"{REASON_MAX} characters)")
        if not gov.counts(EMERGENCY_CONFERENCE):
            raise EscalationRefused("reaching the emergency service does not satisfy this disposition")
        started = await self._db.run(lambda s: getattr(s.get(CallRow, call_id), "started_at", None))
        at, user_id = utcnow(), user.id if user else None
        await self._db.run(_audit, "triage_escalation_other_means", user_id, call_id, reason,
                           {"disposition": gov.disposition.get("disposition"), "agent_id": agent.id})
        self._events.event(call_id, "escalation_performed", agent_id=agent.id, ts=at,
                           kind=EMERGENCY_CONFERENCE, by=OTHER_MEANS, reason=reason, user_id=user_id,
                           seconds_from_call_start=seconds_between(started, at), **self._decided(gov))
        await self._events.flush()
        return {"kind": OTHER_MEANS, "performed": True}

    async def callback_reached(self, origin_call_id: str, callback_call) -> None:
        """A nurse talks with the patient on an urgent callback (callbacks/dialer.py): performed on the call
        the escalation was owed on, counted where the ladder names urgent_callback."""
        gov, _ = await self.governing(origin_call_id)
        started = await self._db.run(lambda s: getattr(s.get(CallRow, origin_call_id), "started_at", None))
        at = utcnow()
        decided = self._decided(gov) if gov is not None else {}
        agent = callback_call.agent
        self._events.event(origin_call_id, "escalation_performed", agent_id=agent.id if agent else None,
                           ts=at, kind=URGENT_CALLBACK, callback_id=callback_call.flavour.callback_id,
                           callback_call_id=callback_call.id,
                           seconds_from_call_start=seconds_between(started, at), **decided)
        await self._events.flush()


def _callback_phone(session: Session, call_id: str) -> tuple[str, int | None] | None:
    """The number to call the patient back on: the one they called from, else their primary phone."""
    call = session.get(CallRow, call_id)
    if call is None:
        return None
    phone = call.caller_e164
    if phone is None and call.patient_id is not None:
        phone = session.scalars(select(PatientPhone.e164).where(PatientPhone.patient_id == call.patient_id)
                                .order_by(PatientPhone.is_primary.desc(), PatientPhone.id)).first()
    return (phone, call.patient_id) if phone else None


class _NotFound(TriageError):
    status = 404


def _audit(session, action: str, user_id: int | None, call_id: str, reason: str, detail: dict) -> None:
    """The audit row of a nurse's written decision, in its own transaction before the decision is logged."""
    add_audit_event(session, action, actor_user_id=user_id, call_id=call_id, reason=reason, detail=detail)

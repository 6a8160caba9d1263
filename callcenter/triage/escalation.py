"""Red-flag escalations: the disposition's action performed through the call controls, the wrap-up rule, and
the call's triage record (detail page and export).

Call events written here (the agent is the `agent_id` column, the signed-in user `user_id` in data):

| type                    | data                                                                          |
| ----------------------- | ----------------------------------------------------------------------------- |
| `escalation_started`    | kind, disposition, queue, priority (a warm transfer to a nurse is under way)   |
| `escalation_performed`  | kind, disposition, protocol, version, seconds_from_call_start                  |
| `escalation_overridden` | disposition, reason, user_id, role (a nurse lifted the wrap-up rule)           |

The wrap-up rule: a call whose latest triage disposition requires escalation cannot be wrapped up until an
escalation of a kind that answers that disposition is performed, or a nurse overrides it with a reason.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Call as CallRow
from ..db.models import CallEvent
from ..eventlog import utcnow
from .exceptions import TriageError

NURSE_TRANSFER, EMERGENCY_CONFERENCE = "nurse_transfer", "emergency_conference"
INSTRUCTION_READ = "instruction_read"
KINDS = (NURSE_TRANSFER, EMERGENCY_CONFERENCE, INSTRUCTION_READ)
# Which escalations discharge a disposition's action. Reading "go to the emergency department" IS the
# escalation for that rung; a nurse-now rung needs the nurse (or something more urgent than a nurse).
ANSWERS = {
    "nurse_transfer": {NURSE_TRANSFER, EMERGENCY_CONFERENCE},
    "emergency_services": {EMERGENCY_CONFERENCE, INSTRUCTION_READ},
    "emergency_department": {INSTRUCTION_READ, EMERGENCY_CONFERENCE},
}
# Queues tried in order for "warm transfer to nurse now", and the priority the caller keeps if requeued.
NURSE_QUEUES = ("emergency-nurse", "nurse")
TOP_PRIORITY = 100
REASON_MIN, REASON_MAX = 10, 1000


class EscalationRefused(TriageError):
    status = 409


def pending(events: Iterable[Any]) -> dict | None:
    """The latest triage disposition that still needs its escalation (its call event data), or None.
    `events` are objects with type, ts, data, in time order."""
    waiting = None
    started_nurse = False
    for event in events:
        if event.type == "triage_disposition":
            waiting = event.data if event.data.get("escalation_required") else None
            started_nurse = False
        elif waiting is None:
            continue
        elif event.type == "escalation_overridden":
            waiting = None
        elif event.type == "escalation_performed" and event.data.get("kind") in ANSWERS.get(
                waiting.get("action"), set(KINDS)):
            waiting = None
        elif event.type == "escalation_started" and event.data.get("kind") == NURSE_TRANSFER:
            started_nurse = True
        elif event.type == "transfer_completed" and started_nurse:
            # Completed with the desk's own Complete button instead of the panel's: still the nurse.
            waiting = None
    return waiting


def call_events(session: Session, call_id: str) -> list[CallEvent]:
    return list(session.scalars(select(CallEvent).where(CallEvent.call_id == call_id)
                                .order_by(CallEvent.ts, CallEvent.id)))


def wrapup_refusal(session: Session, call_id: str) -> str | None:
    """Why this call cannot be wrapped up yet (the desk's disposition path asks), or None."""
    waiting = pending(call_events(session, call_id))
    if waiting is None:
        return None
    return (f"red flag: the triage disposition '{waiting.get('disposition')}' requires an escalation "
            "(warm transfer to a nurse, emergency number or instruction read) before wrap-up; "
            "a nurse may override it with a written reason")


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
    performed = next((e for e in events if e.type == "escalation_performed"), None)
    return {
        "call": {"id": call.id, "direction": call.direction, "queue": call.queue_name,
                 "status": call.status, "started_at": _iso(call.started_at), "ended_at": _iso(call.ended_at),
                 "ivr_path": list(call.ivr_path or []), "agent_ids": sorted(_agent_ids(call, events))},
        "protocols": _protocols(events),
        "events": rows,
        "escalation_pending": pending(events),
        "escalation": None if performed is None else {
            "kind": performed.data.get("kind"), "at": _iso(performed.ts), "agent_id": performed.agent_id,
            "seconds_from_call_start": seconds_between(call.started_at, performed.ts)},
        "overrides": [_row(e) for e in events if e.type == "escalation_overridden"],
    }


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


CSV_COLUMNS = ("at", "type", "agent_id", "user_id", "protocol", "version", "question", "text", "answer",
               "disposition", "kind", "detail")


def record_csv(rec: dict) -> str:
    """One line per triage/escalation event; cells a spreadsheet would run as formulas are quoted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("call_id",) + CSV_COLUMNS)
    for row in rec["events"]:
        writer.writerow([rec["call"]["id"]] + [_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        value = ";".join(f"{k}={v}" for k, v in sorted(value.items()))
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def now() -> datetime:
    return utcnow()


# -- performing escalations ---------------------------------------------------------------------------------

class EscalationService:
    """The disposition's buttons: each acts through the call controls and leaves call events."""

    def __init__(self, triage, controls, queues, events, db):
        self._triage, self._controls, self._queues = triage, controls, queues
        self._events, self._db = events, db

    def _decided(self, call) -> dict:
        session = self._triage.sessions.get(call.id)
        if session is None or session.decision is None:
            raise EscalationRefused("no triage disposition on this call yet")
        view = session.view()
        return {"protocol": view["protocol"]["id"], "version": view["protocol"]["version"],
                "disposition": view["disposition"]["id"]}

    async def escalate(self, call, agent, kind: str, user) -> dict:
        if kind not in KINDS:
            raise EscalationRefused(f"'kind' must be one of {', '.join(KINDS)}")
        decided = self._decided(call)
        user_id = user.id if user else None
        if kind == NURSE_TRANSFER:
            queue, state = await self._warm_to_nurse(call, user)
            self._events.event(call.id, "escalation_started", agent_id=agent.id, kind=kind, queue=queue,
                               priority=TOP_PRIORITY, user_id=user_id, **decided)
            await self._events.flush()
            return {"kind": kind, "state": state, "queue": queue, "performed": False}
        if kind == EMERGENCY_CONFERENCE:
            await self._controls.conference_emergency(call.id, user)
        self._performed(call, agent, kind, user_id, decided)
        await self._events.flush()
        return {"kind": kind, "performed": True}

    async def complete_nurse(self, call, agent, user) -> dict:
        """The agent introduced the caller to the nurse: complete the warm transfer; escalation done."""
        decided = self._decided(call)
        state = await self._controls.complete_transfer(call.id, user)
        self._performed(call, agent, NURSE_TRANSFER, user.id if user else None, decided)
        await self._events.flush()
        return {"kind": NURSE_TRANSFER, "state": state, "performed": True}

    async def _warm_to_nurse(self, call, user) -> tuple[str, str]:
        from ..calls.exceptions import TargetUnavailable
        last: Exception | None = None
        for queue in NURSE_QUEUES:
            if queue not in self._queues.queues:
                continue
            try:
                body = {"mode": "warm", "queue": queue, "priority": TOP_PRIORITY}
                return queue, await self._controls.transfer(call.id, body, user)
            except TargetUnavailable as exc:
                last = exc
        raise EscalationRefused(f"no nurse is free right now ({last}); conference the emergency number "
                                "or read the instruction") from None

    def _performed(self, call, agent, kind: str, user_id: int | None, decided: dict) -> None:
        at = utcnow()
        self._events.event(call.id, "escalation_performed", agent_id=agent.id, ts=at, kind=kind,
                           seconds_from_call_start=seconds_between(call.started_at, at), user_id=user_id,
                           **decided)

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
        self._events.event(call_id, "escalation_overridden", disposition=waiting.get("disposition"),
                           protocol=waiting.get("protocol"), version=waiting.get("version"),
                           reason=reason, user_id=user.id if user else None,
                           role=user.role if user else None)
        self._events.audit("triage_escalation_override", actor_user_id=user.id if user else None,
                           call_id=call_id, reason=reason, detail={"disposition": waiting.get("disposition")})
        await self._events.flush()
        return {"call_id": call_id, "overridden": waiting.get("disposition")}


class _NotFound(TriageError):
    status = 404

"""Which logged rows are webhook events, and what each one carries.

The source of a webhook event is a row written anyway (a call event, or the audit rows of a screen pop), so an
event goes out if and only if it happened, and the outbox row commits with it (outbox.py).

What a payload carries: ids and operational facts (queue, outcome, result) for every subscription; what says
something about a patient's health (disposition codes, triage protocols and their results, a nurse's reason,
a campaign's outcome) only under `clinical`, for subscriptions granted the "clinical" scope. Never names,
numbers, dates of birth or notes: those stay in the database, to be read through the audited API.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLINICAL = "clinical"
SCOPES = (CLINICAL,)  # what a subscription may be granted beyond ids


@dataclass(frozen=True, slots=True)
class Event:
    """A webhook event before it is addressed to anyone: its public type, the facts every subscription gets,
    and those only a subscription granted "clinical" gets."""
    type: str
    data: dict[str, Any]
    clinical: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Spec:
    type: str
    data: tuple[str, ...] = ()  # keys of the call event's data sent to every subscription
    clinical: tuple[str, ...] = ()  # ... and sent only with the "clinical" scope


_TRIAGE = ("protocol", "version", "disposition")
_ESCALATION = Spec("escalation", ("kind", "callback_id", "callback_call_id", "result", "attempts", "by"),
                   (*_TRIAGE, "reason"))
CALL_EVENT_SPECS: dict[str, Spec] = {
    "call_started": Spec("call.started", ("direction", "patient_id", "callback_id", "campaign")),
    "ended": Spec("call.ended", ("outcome", "reason")),
    "disposition": Spec("disposition", ("disposition_id", "callback_id"), ("code",)),
    "triage_disposition": Spec("red_flag", ("user_id",), (*_TRIAGE, "action", "rank")),
    "escalation_started": _ESCALATION,
    "escalation_performed": _ESCALATION,
    "escalation_overridden": _ESCALATION,
    "escalation_task_created": _ESCALATION,
    "escalation_callback_attempt": _ESCALATION,
    "campaign_attempt_ended": Spec("campaign.attempt", ("campaign", "target_id", "attempt_id", "result",
                                                        "amd_status"), ("outcome",)),
}


def from_call_event(row: dict[str, Any]) -> Event | None:
    """The webhook event a call event row is, or None (most are not)."""
    spec = CALL_EVENT_SPECS.get(row["type"])
    source = row.get("data") or {}
    if spec is None or (spec.type == "red_flag" and not source.get("escalation_required")):
        return None
    data = {"call_id": row["call_id"], "agent_id": row.get("agent_id"), "queue": row.get("queue_name")}
    if spec is _ESCALATION:
        data["stage"] = row["type"].removeprefix("escalation_")
    data |= _pick(source, spec.data)
    return Event(spec.type, data, _pick(source, spec.clinical))


def screen_pop(call_id: str, agent_id: int, patient_ids: list[int]) -> Event:
    """A pop offered to an agent (not one shown again after a console reload): the candidates' ids."""
    return Event("screen_pop", {"call_id": call_id, "agent_id": agent_id, "patient_ids": list(patient_ids),
                                "candidates": len(patient_ids)}, {})


# The tickets' events (complaints/services.py tells them through the listener main.py wires to outbox.py).
COMPLAINT_EVENTS = ("complaint.created", "complaint.resolved")


def complaint(type_: str, complaint_id: int, serial: str) -> Event:
    """A ticket created or resolved: its ids only; the rest is read through the audited API."""
    if type_ not in COMPLAINT_EVENTS:
        raise ValueError(f"not a ticket event: {type_}")
    return Event(type_, {"complaint_id": complaint_id, "serial": serial}, {})


def payload(event_id: str, type_: str, occurred_at: str, data: dict, clinical: dict,
            scopes: list[str]) -> dict[str, Any]:
    """The body one subscription receives: clinical facts only if it was granted them."""
    body = {"id": event_id, "type": type_, "occurred_at": occurred_at, "data": dict(data)}
    if CLINICAL in scopes:
        body["data"]["clinical"] = dict(clinical)
    return body


def _pick(source: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}

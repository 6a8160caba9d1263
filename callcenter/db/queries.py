"""Read (and audit) helpers for the runtime. Plain synchronous functions taking a Session, meant to be run
through `Database.run(fn, *args)`. What they return for display is plain JSON-serialisable data."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import (
    OPEN_CALL_STATUSES,
    OPEN_COMPLAINT_STATUSES,
    Agent,
    Allergy,
    Appointment,
    AuditEvent,
    Call,
    CallEvent,
    Complaint,
    Condition,
    Encounter,
    Patient,
    PatientFlag,
    PatientPhone,
)
from .types import utcnow

RECENT = 5
UPCOMING_STATUSES = ("booked", "confirmed")
RECENT_DISCHARGE = timedelta(days=2)


def find_patients_by_phone(session: Session, e164: str) -> list[Patient]:
    """Every patient who has this number, each once, in a stable order (a shared landline gives several)."""
    owners = select(PatientPhone.patient_id).where(PatientPhone.e164 == e164)
    query = (select(Patient).where(Patient.id.in_(owners))
             .order_by(Patient.family_name, Patient.given_name, Patient.id))
    return list(session.scalars(query))


def has_open_complaint(session: Session, patient_id: int) -> bool:
    """Whether this patient has a complaint not yet resolved or closed (FastAGI's identify tells the
    dialplan, which may route the caller to patient relations)."""
    query = select(Complaint.id).where(Complaint.patient_id == patient_id,
                                       Complaint.status.in_(OPEN_COMPLAINT_STATUSES)).limit(1)
    return session.scalar(query) is not None


def patient_summary(session: Session, patient_id: int, *, now: datetime | None = None,
                    exclude_call_id: str | None = None) -> dict[str, Any] | None:
    """The record an agent sees once the caller's identity is confirmed (the screen pop itself carries
    identity candidates only), or None if there is no such patient. Reading it is a view of the
    patient record: the caller writes the audit event (see `add_audit_event`) in the same transaction."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return None
    now = now or utcnow()
    return {
        **_identity(patient, now.date()),
        "phones": [_phone(p) for p in patient.phones],
        "flags": _flags(session, patient_id),
        "allergies": _allergies(session, patient_id),
        "conditions": _conditions(session, patient_id),
        "encounters": _recent_encounters(session, patient_id),
        "recent_discharge": _encounter_or_none(recent_discharge(session, patient_id, now=now)),
        "upcoming_appointments": _upcoming_appointments(session, patient_id, now),
        "recent_calls": _recent_calls(session, patient_id, exclude_call_id),
    }


def recent_discharge(session: Session, patient_id: int, *, now: datetime | None = None,
                     within: timedelta = RECENT_DISCHARGE, department: str | None = None) -> Encounter | None:
    """The latest admission this patient was discharged from within `within` (IVR routing, screen pop)."""
    since = (now or utcnow()) - within
    query = (select(Encounter)
             .where(Encounter.patient_id == patient_id, Encounter.kind == "admission",
                    Encounter.discharged_at >= since)
             .order_by(Encounter.discharged_at.desc()).limit(1))
    if department is not None:
        query = query.where(Encounter.department == department)
    return session.scalars(query).first()


@dataclass(frozen=True)
class AuditActor:
    """Who reads or changes: the signed-in user, the desk (agent) they act at, or an API client (its name,
    kept in the row's detail, and its id, in actor_client_id). A supervisor at another desk's console is that
    supervisor."""
    user_id: int | None = None
    agent_id: int | None = None
    api_client: str | None = None
    api_client_id: int | None = None


def add_audit_event(session: Session, action: str, *, actor: AuditActor | None = None,
                    actor_user_id: int | None = None, actor_agent_id: int | None = None,
                    actor_client_id: int | None = None,
                    patient_id: int | None = None, call_id: str | None = None,
                    recording_id: int | None = None, reason: str | None = None,
                    detail: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit row to this session, so it commits (or not) with the read it records: the one way an
    audit row is written. A read of patient data and its row share the transaction, so a row that cannot be
    written takes the read down with it (nothing queued that could be dropped)."""
    detail = dict(detail or {})
    if actor is not None:
        actor_user_id = actor.user_id if actor.user_id is not None else actor_user_id
        actor_agent_id = actor.agent_id if actor.agent_id is not None else actor_agent_id
        actor_client_id = actor.api_client_id if actor.api_client_id is not None else actor_client_id
        if actor.api_client is not None:
            _mark_api_client(detail, actor.api_client)
    event = AuditEvent(ts=utcnow(), action=action, actor_user_id=actor_user_id, actor_agent_id=actor_agent_id,
                       actor_client_id=actor_client_id, patient_id=patient_id, call_id=call_id,
                       recording_id=recording_id, reason=reason, detail=detail)
    session.add(event)
    return event


def _mark_api_client(detail: dict[str, Any], name: str) -> None:
    """An API client's row says via=api (and the client's name); a row whose "via" already says how the data
    was reached (a record view's pop, search or break_glass) keeps it and names the client instead."""
    if "via" in detail:
        detail["api_client"] = name or "api"
        return
    detail["via"] = "api"
    if name:
        detail["api_client"] = name


def call_events(session: Session, call_id: str) -> list[CallEvent]:
    """A call's event log, in the order it was written."""
    return list(session.scalars(select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)))


def unfinished_calls(session: Session) -> list[Call]:
    """Calls not marked ended: after a restart, reconcile them against the channels Asterisk still has."""
    return list(session.scalars(select(Call).where(Call.status.in_(OPEN_CALL_STATUSES))
                                .order_by(Call.started_at)))


# -- summary parts ---------------------------------------------------------------------------------------


def _identity(patient: Patient, today: date) -> dict[str, Any]:
    return {
        "id": patient.id,
        "mrn": patient.mrn,
        "name": patient.full_name,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "age": _age(patient.date_of_birth, today),
        "sex": patient.sex,
        "language": patient.language,
        "time_zone": patient.time_zone,
    }


def _age(born: date, today: date) -> int:
    return age_in_months(born, today) // 12


def age_in_months(born: date, today: date) -> int:
    """Whole calendar months from `born` to `today`: a month is complete on the same day of a later month
    (born 31 January: one month on 1 March, not 28 February; the younger age is the careful one)."""
    return (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)


def _phone(phone: PatientPhone) -> dict[str, Any]:
    return {"e164": phone.e164, "kind": phone.kind, "is_primary": phone.is_primary}


def _flags(session: Session, patient_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(PatientFlag).where(PatientFlag.patient_id == patient_id)
                           .order_by(PatientFlag.flag))
    return [{"flag": f.flag, "note": f.note} for f in rows]


def _allergies(session: Session, patient_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Allergy).where(Allergy.patient_id == patient_id).order_by(Allergy.id))
    return [{"substance": a.substance, "reaction": a.reaction, "severity": a.severity} for a in rows]


def _conditions(session: Session, patient_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Condition).where(Condition.patient_id == patient_id)
                           .order_by(Condition.chronic.desc(), Condition.name))
    return [{"name": c.name, "code": c.code, "chronic": c.chronic} for c in rows]


def _recent_encounters(session: Session, patient_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Encounter).where(Encounter.patient_id == patient_id)
                           .order_by(Encounter.started_at.desc(), Encounter.id.desc()).limit(RECENT))
    return [_encounter(e) for e in rows]


def _encounter(encounter: Encounter) -> dict[str, Any]:
    return {
        "id": encounter.id,
        "kind": encounter.kind,
        "department": encounter.department,
        "started_at": _iso(encounter.started_at),
        "discharged_at": _iso(encounter.discharged_at),
        "summary": encounter.summary,
    }


def _encounter_or_none(encounter: Encounter | None) -> dict[str, Any] | None:
    return None if encounter is None else _encounter(encounter)


def _upcoming_appointments(session: Session, patient_id: int, now: datetime) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Appointment)
        .where(Appointment.patient_id == patient_id, Appointment.starts_at >= now,
               Appointment.status.in_(UPCOMING_STATUSES))
        .order_by(Appointment.starts_at).limit(RECENT))
    return [{"id": a.id, "department": a.department, "clinician": a.clinician, "starts_at": _iso(a.starts_at),
             "status": a.status, "location": a.location} for a in rows]


def _recent_calls(session: Session, patient_id: int, exclude_call_id: str | None) -> list[dict[str, Any]]:
    query = (select(Call, Agent.name).outerjoin(Agent, Call.agent_id == Agent.id)
             .where(Call.patient_id == patient_id)
             .order_by(Call.started_at.desc()).limit(RECENT))
    if exclude_call_id is not None:
        query = query.where(Call.id != exclude_call_id)
    return [{"id": call.id, "started_at": _iso(call.started_at), "direction": call.direction,
             "queue": call.queue_name, "status": call.status, "outcome": call.outcome, "agent": agent_name}
            for call, agent_name in session.execute(query)]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


"""What an automated campaign flow knows about the call: `flow_context(db, job)`.

Keys (flat, dotted, as flow branches and `say` nodes name them):

- `campaign.name`, `campaign.kind`, `campaign.title`, `campaign.queue`
- `patient.language`, `caller.known` (always true: we dialed the patient)
- `appointment.starts_at` (an aware datetime in the patient's time zone, else the hospital's),
  `appointment.department`, `appointment.status` — when the target is an appointment
- `encounter.department`, `encounter.kind`, `encounter.discharged_at` (patient's time zone) — when the
  target is an encounter

No names, numbers or dates of birth: a flow has no use for them and they must not end up in events.
"""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Appointment, Encounter, Patient
from .compliance import zone as patient_zone


async def flow_context(db: Database, job: Any, *, default_time_zone: str = "UTC") -> dict[str, Any]:
    """The context of `job`'s flow (job: campaigns.services.DialJob); one read transaction."""
    return await db.run(_context, job, default_time_zone)


def _context(session: Session, job: Any, default_time_zone: str) -> dict[str, Any]:
    campaign = job.campaign
    context: dict[str, Any] = {
        "campaign.name": campaign.name, "campaign.kind": campaign.kind,
        "campaign.title": getattr(campaign, "title", ""), "campaign.queue": getattr(campaign, "queue", None),
        "caller.known": True, "patient.language": job.language,
    }
    patient = session.get(Patient, job.patient_id)
    zone = patient_zone(patient.time_zone if patient else None, default_time_zone)
    if patient is not None:
        context["patient.language"] = job.language or patient.language
    if job.subject_kind == "appointment":
        context.update(_appointment(session.get(Appointment, job.subject_id), job.patient_id, zone))
    elif job.subject_kind == "encounter":
        context.update(_encounter(session.get(Encounter, job.subject_id), job.patient_id, zone))
    return context


def _appointment(row: Appointment | None, patient_id: int, zone: ZoneInfo) -> dict[str, Any]:
    if row is None or row.patient_id != patient_id:
        return {}
    return {"appointment.starts_at": row.starts_at.astimezone(zone), "appointment.department": row.department,
            "appointment.status": row.status}


def _encounter(row: Encounter | None, patient_id: int, zone: ZoneInfo) -> dict[str, Any]:
    if row is None or row.patient_id != patient_id:
        return {}
    discharged = row.discharged_at.astimezone(zone) if row.discharged_at else None
    return {"encounter.department": row.department, "encounter.kind": row.kind,
            "encounter.discharged_at": discharged}

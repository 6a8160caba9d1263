"""Appointments from the hospital's systems (CSV and FHIR Appointment; HL7 ADT carries none): matched to
their patient by the same MRN identity as every other change (`services.find_patient`, which follows
merges), upserted by the source's appointment id, older news leaving newer data alone.

An appointment is never what creates a patient: its patient must be known (fed by ADT, FHIR Patient or a
patients CSV) first, else the change is refused with a RecordError naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import APPOINTMENT_STATUSES, Appointment
from ..db.queries import add_audit_event
from .services import RecordError, find_patient


@dataclass(frozen=True)
class AppointmentRecord:
    mrn: str                      # in the configured MRN system
    starts_at: datetime
    department: str
    event_time: datetime          # when the source's data is from (FHIR meta.lastUpdated, CSV updated_at)
    appointment_id: str | None = None  # the source's id: a later change updates by it
    clinician: str | None = None
    status: str = "booked"        # booked, confirmed, cancelled, completed, no_show
    location: str | None = None


@dataclass(frozen=True)
class AppliedAppointment:
    appointment_id: int
    patient_id: int
    created: bool = False
    stale: bool = False


def apply_appointment(session: Session, record: AppointmentRecord) -> AppliedAppointment:
    if not record.mrn:
        raise RecordError("patient identifier: no MRN")
    if record.status not in APPOINTMENT_STATUSES:
        raise RecordError("appointment status: not one of " + ", ".join(APPOINTMENT_STATUSES))
    patient = find_patient(session, record.mrn)
    if patient is None:
        raise RecordError("patient identifier: no patient with this MRN (import the patient first)")
    row = _find(session, patient.id, record)
    created = row is None
    if row is None:
        row = Appointment(patient_id=patient.id, source_id=record.appointment_id)
        session.add(row)
    elif row.source_updated_at is not None and record.event_time < row.source_updated_at:
        return AppliedAppointment(row.id, patient.id, stale=True)
    _write(row, patient.id, record)
    session.flush()
    return AppliedAppointment(row.id, patient.id, created=created)


def _find(session: Session, patient_id: int, record: AppointmentRecord) -> Appointment | None:
    if record.appointment_id:
        return session.scalar(select(Appointment).where(Appointment.source_id == record.appointment_id))
    # Without the source's id: the patient's appointment at that time in that department is this one.
    return session.scalar(select(Appointment).where(
        Appointment.patient_id == patient_id, Appointment.starts_at == record.starts_at,
        Appointment.department == record.department).limit(1))


def _write(row: Appointment, patient_id: int, record: AppointmentRecord) -> None:
    row.patient_id = patient_id  # an id that moved to another patient (a correction at the source) follows
    row.starts_at, row.department = record.starts_at, record.department[:80]
    row.clinician = record.clinician[:120] if record.clinician else None
    row.location = record.location[:200] if record.location else None
    row.status = record.status
    row.source_updated_at = record.event_time


# -- the patient's own changes (a phone key in a campaign call or in the hotline's self-service) ---------

# An appointment's slot is occupied exactly while it is booked or confirmed: those are the ones a patient may
# still confirm or cancel, and the ones "your next appointment" means.
ACTIVE_STATUSES = ("booked", "confirmed")


def set_status(session: Session, appointment_id: int, patient_id: int, status: str,
               allowed: tuple[str, ...], now: datetime) -> bool:
    """Change the status if the appointment is the patient's, still ahead, and in an allowed status (the row
    locked, so two calls of the same patient cannot both change it)."""
    appointment = session.scalars(select(Appointment).where(
        Appointment.id == appointment_id, Appointment.patient_id == patient_id).with_for_update()).first()
    if appointment is None or appointment.status not in allowed or appointment.starts_at <= now:
        return False
    appointment.status = status
    return True


def next_appointment(session: Session, patient_id: int, now: datetime) -> Appointment | None:
    """The patient's next appointment still ahead that holds a slot (booked or confirmed)."""
    return session.scalars(select(Appointment).where(
        Appointment.patient_id == patient_id, Appointment.status.in_(ACTIVE_STATUSES),
        Appointment.starts_at > now).order_by(Appointment.starts_at, Appointment.id).limit(1)).first()


def change_by_patient(session: Session, appointment_id: int, patient_id: int, status: str,
                      allowed: tuple[str, ...], now: datetime, *, call_id: str | None, detail: dict) -> bool:
    """The patient's own change by phone key or by a reply to a reminder text, audited in the transaction
    that makes it (the automated actor: no user, desk or API client; `detail` says which call flow or text
    did it; a text has no call_id)."""
    changed = set_status(session, appointment_id, patient_id, status, allowed, now)
    if changed:
        add_audit_event(session, f"appointment_{status}_by_patient", patient_id=patient_id, call_id=call_id,
                        detail={"appointment_id": appointment_id, **detail})
    return changed

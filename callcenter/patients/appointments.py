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

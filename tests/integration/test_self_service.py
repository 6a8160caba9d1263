"""Real calls through the sandbox Asterisk into the hotline's self-service (issue 17): the caller's keys go
through Asterisk's DTMF to the IVR, whose action nodes change the appointment row."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from callcenter.complaints import serial as serials
from callcenter.db.models import Appointment, Complaint, Patient, PatientPhone
from callcenter.eventlog import utcnow

pytestmark = pytest.mark.asterisk

ENGLISH, SELF_SERVICE, MY_APPOINTMENT, TICKET_STATUS, CONFIRM, CANCEL = "1", "6", "1", "2", "1", "2"


async def add_patient(center, mrn: str, phone: str, born: date) -> tuple[int, int]:
    """A patient with this phone and a booked appointment in three days."""
    def create(session):
        patient = Patient(mrn=mrn, given_name="Ada", family_name="Lovelace", date_of_birth=born, sex="F",
                          language="en")
        session.add(patient)
        session.flush()
        session.add(PatientPhone(patient_id=patient.id, e164=phone, kind="mobile", is_primary=True))
        appointment = Appointment(patient_id=patient.id, department="Cardiology",
                                  starts_at=utcnow() + timedelta(days=3), status="booked")
        session.add(appointment)
        session.flush()
        return patient.id, appointment.id
    return await center.s.db.run(create)


async def appointment_status(center, appointment_id: int) -> str:
    return await center.s.db.run(lambda s: s.scalar(select(Appointment.status)
                                                    .where(Appointment.id == appointment_id)))


async def test_given_a_known_caller_when_cancelling_the_next_appointment_in_the_ivr_then_the_row_is_cancelled(
        center):
    patient_id, appointment_id = await add_patient(center, "MRN-S1", "+14155550171", date(1960, 12, 10))

    keys = ",".join([ENGLISH, SELF_SERVICE, MY_APPOINTMENT, CANCEL])
    await center.call("4155550171", keys, hangup_after=90)

    row = await center.call_row("ended", timeout=90)
    assert (row.outcome, row.end_reason, row.patient_id) == ("ivr_completed", "cancelled", patient_id)
    assert await appointment_status(center, appointment_id) == "cancelled"
    events = await center.events(row.id)
    actions = [(e.data["action"], e.data["result"]) for e in events if e.type == "ivr_action"]
    assert actions == [("patient.identify", "identified"), ("appointment.next", "found"),
                       ("appointment.cancel", "cancelled")]
    audits = [(a.action, a.patient_id, a.call_id) for a in await center.audits()]
    assert ("appointment_cancelled_by_patient", patient_id, row.id) in audits
    assert ("ivr_appointment_read", patient_id, row.id) in audits


async def test_given_a_shared_number_when_the_caller_types_a_birth_date_then_verified_and_confirmed(center):
    ada, ada_appointment = await add_patient(center, "MRN-S2", "+14155550172", date(1960, 12, 10))
    bob, bob_appointment = await add_patient(center, "MRN-S3", "+14155550172", date(1990, 1, 2))

    keys = ",".join([ENGLISH, SELF_SERVICE, MY_APPOINTMENT, *"01021990", CONFIRM])
    await center.call("4155550172", keys, hangup_after=90)

    row = await center.call_row("ended", timeout=90)
    assert (row.outcome, row.end_reason) == ("ivr_completed", "confirmed")
    assert await appointment_status(center, bob_appointment) == "confirmed"
    assert await appointment_status(center, ada_appointment) == "booked"
    events = await center.events(row.id)
    assert [(e.data["action"], e.data["result"]) for e in events if e.type == "ivr_action"][:2] == [
        ("patient.identify", "verify"), ("patient.verify_dob", "verified")]
    assert "01021990" not in str([e.data for e in events]), "typed digits never reach the event log"


async def test_given_a_wrong_check_digit_then_the_right_serial_when_typed_then_the_status_is_heard(center):
    serial = serials.make(2026, 42)
    wrong = serial[:-1] + str((int(serial[-1]) + 1) % 10)
    await center.s.db.run(lambda s: s.add(Complaint(serial=serial, serial_year=2026, serial_seq=42,
                                                    status="in_progress", text="Noise at night.")))

    keys = ",".join([ENGLISH, SELF_SERVICE, TICKET_STATUS, *wrong, *serial])
    await center.call("4155550173", keys, hangup_after=120, digit_gap=0.6)

    row = await center.call_row("ended", timeout=120)
    assert (row.outcome, row.end_reason) == ("ivr_completed", "ticket_status")
    events = await center.events(row.id)
    assert [e.data["result"] for e in events if e.type == "ivr_action"] == ["wrong_check_digit", "found"]
    visited = [e.data["node"] for e in events if e.type == "ivr_node"]
    assert visited.count("serial_wrong") == 1 and visited.count("ask_serial") == 2
    assert "ticket_in_progress" in visited
    assert serial not in str([e.data for e in events])

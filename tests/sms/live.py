"""Test data of the real-Kannel tests (test_kannel.py), on the product's real clock: the product under test
runs with the wall clock (moved on by tests/conftest.py), so the appointments and the open calling window
are made from it. Apart from conftest.py's controlled clock (tests/test_suite_clocks.py: no module mixes
the two)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.db.database import Database
from callcenter.db.models import Appointment, Patient, PatientPhone

HOSPITAL_ZONE = ZoneInfo("America/New_York")


def midday_zone(now: datetime | None = None) -> str:
    """A time zone where it is now between 10:00 and 18:00, so a text's calling window is open."""
    hour = (now or datetime.now(UTC)).hour
    offset = next(k for k in range(-12, 13) if 10 <= (hour - k) % 24 <= 18)
    return f"Etc/GMT{offset:+d}" if offset else "UTC"


def add_patient(db: Database, mobile: str, *, zone: str | None = None, language: str = "en",
                days_ahead: int = 1) -> tuple[int, int]:
    """(patient id, appointment id): a patient with a mobile and an appointment in `days_ahead` days."""
    with db.session() as session:
        patient = Patient(mrn=f"MRN{mobile[-6:]}", given_name="Test", family_name="Patient",
                          date_of_birth=datetime(1970, 1, 1).date(), language=language, time_zone=zone)
        patient.phones.append(PatientPhone(e164=mobile, kind="mobile", is_primary=True))
        session.add(patient)
        session.flush()
        # "1 day ahead" is the hospital's tomorrow (the planner's calendar), at 10:00 there.
        day = datetime.now(HOSPITAL_ZONE).date() + timedelta(days=days_ahead)
        starts = datetime.combine(day, time(10, 0), tzinfo=HOSPITAL_ZONE).astimezone(UTC)
        appointment = Appointment(patient_id=patient.id, department="Cardiology", starts_at=starts,
                                  status="booked")
        session.add(appointment)
        session.flush()
        return patient.id, appointment.id

"""Fixtures of the campaign tests: a controlled clock, campaign YAML, patients with phones, appointments and
discharges, and a CampaignService over the `db` fixture (SQLite and PostgreSQL)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.campaigns.services import CampaignService
from callcenter.config import Config
from callcenter.db.models import Appointment, Condition, Encounter, Patient, PatientPhone
from callcenter.eventlog import EventLog

# Tuesday 2026-11-24 15:00 UTC = 10:00 in New York (the hospital), 07:00 in Los Angeles.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
HOSPITAL_ZONE = "America/New_York"


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def campaign_yaml(name: str = "reminders", *, kind: str = "appointment_reminder",
                  target: str = "{rule: appointments, days_ahead: 1}", mode: str = "automated",
                  flow: str = "appointment-reminder", extra: str = "") -> str:
    lines = [f"name: {name}", f"kind: {kind}", "title: Test campaign", "version: 1",
             f"target: {target}", f"mode: {mode}"]
    lines += [f"flow: {flow}"] if mode == "automated" else ["queue: appointments"]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """Flow files exist only as names here: the campaign schema checks that the file is there."""
    d = tmp_path / "flows"
    d.mkdir()
    for flow in ("appointment-reminder", "discharge-followup", "satisfaction-survey", "chronic-check"):
        (d / f"{flow}.yaml").write_text("name: x\n")
    return d


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cfg(database_url: str) -> Config:
    cfg = Config()
    cfg.database.url = database_url
    cfg.site.time_zone = HOSPITAL_ZONE
    return cfg


@pytest.fixture
async def events(db) -> Iterator[EventLog]:
    log = EventLog(db)
    await log.start()
    yield log
    await log.close()


@pytest.fixture
def campaigns(db, events, cfg, clock, flows_dir) -> CampaignService:
    return CampaignService(db, events, cfg, clock=clock, flows_dir=flows_dir)


async def add_campaign(campaigns: CampaignService, tmp_path: Path, text: str):
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    return await campaigns.load_file(path)


def add_patient(session, n: int, *, time_zone: str | None = None, phone: str | None = "default",
                language: str = "en") -> Patient:
    patient = Patient(mrn=f"T{n:06d}", given_name="Test", family_name=f"Patient{n}",
                      date_of_birth=datetime(1960, 1, 1).date(), language=language, time_zone=time_zone)
    if phone:
        number = f"+1555{n:07d}" if phone == "default" else phone
        patient.phones.append(PatientPhone(e164=number, is_primary=True))
    session.add(patient)
    session.flush()
    return patient


def add_appointment(session, patient: Patient, starts_at: datetime, status: str = "booked",
                    department: str = "Cardiology") -> Appointment:
    appointment = Appointment(patient_id=patient.id, department=department, starts_at=starts_at,
                              status=status)
    session.add(appointment)
    session.flush()
    return appointment


def add_discharge(session, patient: Patient, discharged_at: datetime, department: str = "Cardiology"
                  ) -> Encounter:
    encounter = Encounter(patient_id=patient.id, kind="admission", department=department,
                          started_at=discharged_at - timedelta(days=3), discharged_at=discharged_at)
    session.add(encounter)
    session.flush()
    return encounter


def add_chronic(session, patient: Patient, code: str = "I50") -> None:
    session.add(Condition(patient_id=patient.id, name="Heart failure", code=code, chronic=True))
    session.flush()


TOMORROW_10 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 New York tomorrow

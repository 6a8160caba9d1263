"""CSV imports through the shared patient feed (callcenter/imports/services.py): all or nothing by default,
the good rows on request, dry runs, upserts by MRN and appointment id, discharges that target the follow-up
campaign, the audit row. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.db.models import Appointment, AuditEvent, Campaign, CampaignTarget, Encounter, Patient
from callcenter.imports.csvfile import CsvSettings
from callcenter.imports.services import ImportOptions, ImportService
from callcenter.patients.services import IdentityRule, PatientFeed

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
PATIENTS = ("mrn,family_name,given_name,birth_date,sex,mobile_phone,home_phone\n"
            "M1,Doe,Jane,1950-12-10,F,(415) 555-0101,415 555 0102\n"
            "M2,Roe,Richard,1961-02-03,M,,\n")
BAD_PATIENTS = PATIENTS + "M3,Poe,,1970-01-01,M,,\n"
CARDIO_FOLLOWUP = """name: cardio-followup
kind: discharge_followup
title: Cardiology follow-up
version: 1
target: {rule: discharged, department: Cardiology, within_days: 2}
mode: automated
flow: discharge-followup
"""


@pytest.fixture
def service(db) -> ImportService:
    feed = PatientFeed(IdentityRule(mrn_system="HOSP"), DischargeFollowUp(), clock=lambda: NOW)
    return ImportService(db, feed, CsvSettings(mrn_system="HOSP", tz=ZoneInfo("America/New_York")))


def count(db, model) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def audits(db) -> list[dict]:
    with db.session() as session:
        return [a.detail for a in session.scalars(select(AuditEvent).where(AuditEvent.action == "csv_import")
                                                   .order_by(AuditEvent.id))]


async def run(service, kind, text, **options):
    return await service.import_csv(kind, text.encode(), ImportOptions(**options), actor_user_id=7)


async def test_given_good_file_when_imported_then_patients_with_phones_written_and_audited(db, service):
    report = await run(service, "patients", PATIENTS)
    assert (report.committed, report.applied, report.created, report.errors) == (True, 2, 2, [])
    with db.session() as session:
        jane = session.scalar(select(Patient).where(Patient.mrn == "M1"))
        assert [(p.e164, p.kind) for p in jane.phones] == [("+14155550101", "mobile"),
                                                           ("+14155550102", "home")]
    assert audits(db) == [{"kind": "patients", "source": "csv", "rows": 2, "applied": 2, "created": 2,
                           "rejected": 0, "dry_run": False, "good_rows": False, "committed": True}]


async def test_given_one_bad_row_when_imported_then_nothing_written_and_the_row_reported(db, service):
    report = await run(service, "patients", BAD_PATIENTS)
    assert not report.committed
    assert [(e.line, e.column) for e in report.errors] == [(4, "given_name")]
    assert count(db, Patient) == 0
    assert audits(db)[0]["committed"] is False and audits(db)[0]["rejected"] == 1


async def test_given_one_bad_row_when_imported_with_good_rows_then_the_others_written(db, service):
    report = await run(service, "patients", BAD_PATIENTS, good_rows=True)
    assert report.committed and report.applied == 2 and report.rejected == 1
    assert count(db, Patient) == 2


async def test_given_dry_run_when_imported_then_database_checks_reported_and_nothing_written(db, service):
    await run(service, "patients", PATIENTS)
    text = ("mrn,appointment_id,starts_at,department\n"
            "M1,A1,2026-03-01 10:00,Cardiology\n"
            "M9,A2,2026-03-01 11:00,Cardiology\n")          # no such patient: only the database knows
    report = await run(service, "appointments", text, dry_run=True)
    assert report.applied == 1 and not report.committed
    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (3, "mrn", "patient identifier: no patient with this MRN (import the patient first)")]
    assert count(db, Appointment) == 0


async def test_given_same_file_twice_when_imported_then_updated_not_duplicated(db, service):
    await run(service, "patients", PATIENTS)
    report = await run(service, "patients", PATIENTS.replace("Doe,Jane", "King,Jane"))
    assert (report.applied, report.created) == (2, 0)
    with db.session() as session:
        names = session.scalars(select(Patient.family_name).order_by(Patient.mrn)).all()
    assert names == ["King", "Roe"]


async def test_given_older_updated_at_when_imported_then_newer_stored_data_kept(db, service):
    header = "mrn,family_name,given_name,birth_date,updated_at\n"
    await run(service, "patients", header + "M1,Doe,Jane,1950-12-10,2026-03-05T10:00:00Z\n")
    report = await run(service, "patients", header + "M1,Old,Jane,1950-12-10,2026-03-01T10:00:00Z\n")
    assert report.stale == 1
    with db.session() as session:
        assert session.scalar(select(Patient.family_name)) == "Doe"


async def test_given_appointments_when_imported_again_then_updated_by_their_id(db, service):
    await run(service, "patients", PATIENTS)
    header = "mrn,appointment_id,starts_at,department,status\n"
    await run(service, "appointments", header + "M1,A1,2026-03-01 10:00,Cardiology,booked\n"
                                                "M2,A2,2026-03-01 11:00,Dermatology,\n")
    report = await run(service, "appointments", header + "M1,A1,2026-03-02 10:00,Cardiology,cancelled\n")
    assert (report.applied, report.created) == (1, 0)
    with db.session() as session:
        rows = session.execute(select(Appointment.source_id, Appointment.starts_at, Appointment.status)
                               .order_by(Appointment.source_id)).all()
    assert [(s, t.astimezone(UTC), st) for s, t, st in rows] == [
        ("A1", datetime(2026, 3, 2, 15, tzinfo=UTC), "cancelled"),
        ("A2", datetime(2026, 3, 1, 16, tzinfo=UTC), "booked")]


async def test_given_discharge_rows_when_imported_then_follow_up_targets_and_unknown_patient_reported(
        db, service):
    with db.session() as session:
        session.add(Campaign(name="cardio-followup", kind="discharge_followup", title="Cardiology follow-up",
                             source_yaml=CARDIO_FOLLOWUP))
    await run(service, "patients", PATIENTS)
    text = ("mrn,visit_number,patient_class,department,admitted_at,discharged_at\n"
            "M1,V1,inpatient,Cardiology,2026-11-20 08:00,2026-11-24 08:00\n"
            "M7,V2,inpatient,Cardiology,2026-11-20 08:00,2026-11-24 08:00\n")
    report = await run(service, "encounters", text, good_rows=True)
    assert (report.applied, report.targets_created, report.rejected) == (1, 1, 1)
    assert report.errors[0].line == 3 and report.errors[0].column == "mrn"
    assert count(db, Encounter) == 1 and count(db, CampaignTarget) == 1
    again = await run(service, "encounters", text, good_rows=True)
    assert again.targets_created == 0 and count(db, Encounter) == 1 and count(db, CampaignTarget) == 1

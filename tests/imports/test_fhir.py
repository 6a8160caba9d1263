"""FHIR R4 bundles through the shared patient feed (callcenter/imports/fhir.py and services.py): the five
resource types validated with fhir.resources and mapped, each refused resource reported by entry, type and id
while the others are imported, references by id or fullUrl, and later bundles that name a patient imported
before. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.db.models import Appointment, Campaign, CampaignTarget, Encounter, Patient
from callcenter.imports.csvfile import CsvSettings
from callcenter.imports.services import ImportOptions, ImportService
from callcenter.patients.services import IdentityRule, PatientFeed

from .fhir_data import MRN_SYSTEM, allergy, appointment, as_bytes, bundle, condition, encounter, patient

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
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
    feed = PatientFeed(IdentityRule(mrn_system=MRN_SYSTEM), DischargeFollowUp(), clock=lambda: NOW)
    return ImportService(db, feed, CsvSettings())


async def run(service, document, **options):
    options.setdefault("good_rows", True)
    return await service.import_fhir(as_bytes(document), ImportOptions(**options), actor_user_id=None)


async def test_given_bundle_of_five_types_when_imported_then_patient_stay_appointment_and_lists_written(
        db, service):
    with db.session() as session:
        session.add(Campaign(name="cardio-followup", kind="discharge_followup", title="Cardiology follow-up",
                             source_yaml=CARDIO_FOLLOWUP))
    document = bundle(patient("p1", "MRN-F1"), encounter("e1", "Patient/p1"),
                      appointment("a1", "urn:uuid:11111111-2222"), allergy("al1", "Patient/p1"),
                      allergy("al2", "Patient/p1", "Latex", status="resolved"), condition("c1", "Patient/p1"),
                      {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "BP"}},
                      full_urls={0: "urn:uuid:11111111-2222"})
    report = await run(service, document)
    assert report.errors == [] and report.committed
    assert (report.total, report.skipped, report.created, report.targets_created) == (7, 1, 2, 1)
    with db.session() as session:
        ada = session.scalar(select(Patient).where(Patient.mrn == "MRN-F1"))
        assert (ada.family_name, ada.given_name, ada.date_of_birth, ada.sex, ada.language) == (
            "Quillon", "Ada Maria", date(1950, 12, 10), "F", "es")
        assert [(p.e164, p.kind) for p in ada.phones] == [("+14155550131", "mobile"),
                                                          ("+14155550132", "home")]
        assert [(c.name, c.relation, c.phone_e164) for c in ada.contacts] == [
            ("Eva Quillon", "daughter", "+14155550133")]
        assert [(a.substance, a.reaction, a.severity) for a in ada.allergies] == [
            ("Penicillin", "Hives", "severe")]
        assert [(c.name, c.code) for c in ada.conditions] == [("Heart failure", "I50")]
        stay = session.scalar(select(Encounter))
        assert (stay.visit_number, stay.patient_class, stay.department, stay.ward, stay.disposition) == (
            "V-e1", "inpatient", "Cardiology", "Ward C3", "Home")
        assert stay.discharged_at == datetime(2026, 11, 24, 8, tzinfo=UTC)
        visit = session.scalar(select(Appointment))
        assert (visit.source_id, visit.department, visit.clinician, visit.status) == (
            "a1", "Cardiology", "Dr Hart", "booked")
        assert session.scalar(select(CampaignTarget.patient_id)) == ada.id


async def test_given_invalid_resources_when_imported_then_each_reported_by_entry_and_id_others_imported(
        db, service):
    document = bundle(patient("p1", "MRN-F1"),
                      patient("p2", "MRN-F2", birthDate="1950-13-45"),         # no such date
                      {**patient("p3", "MRN-F3"), "identifier": []},           # no MRN
                      encounter("e1", "Patient/p1", start="yesterday"),        # not a dateTime
                      encounter("e2", "Patient/nobody"),                       # unknown patient
                      appointment("a1", "Patient/p1", status="proposed", start=None))
    report = await run(service, document)
    assert report.committed and report.applied == 1
    assert [(e.line, e.column) for e in report.errors] == [
        (2, "Patient/p2"), (3, "Patient/p3"), (4, "Encounter/e1"), (5, "Encounter/e2"), (6, "Appointment/a1")]
    reasons = [e.reason for e in report.errors]
    assert reasons[0].startswith("birthDate:") and "1950-13-45" not in reasons[0]
    assert reasons[2].startswith("period.start:") and "yesterday" not in reasons[2]
    assert reasons[1] == f"identifier: no MRN of system {MRN_SYSTEM}"
    assert reasons[4].startswith("start missing")
    assert "entry 5 (Encounter/e2): patient reference: no such patient" in str(report.errors[3])
    with db.session() as session:
        assert session.scalars(select(Patient.mrn)).all() == ["MRN-F1"]


async def test_given_all_or_nothing_when_a_resource_is_refused_then_nothing_imported(db, service):
    report = await run(service, bundle(patient("p1", "MRN-F1"), encounter("e2", "Patient/nobody")),
                       good_rows=False)
    assert not report.committed and len(report.errors) == 1
    with db.session() as session:
        assert session.scalar(select(Patient.id)) is None


async def test_given_patient_imported_before_when_a_later_bundle_names_its_id_then_matched(db, service):
    await run(service, bundle(patient("p1", "MRN-F1", updated="2026-11-20T10:00:00Z")))
    older = patient("p1", "MRN-F1", family="Older", updated="2026-11-19T10:00:00Z")
    report = await run(service, bundle(encounter("e1", "Patient/p1", status="in-progress", end=None), older))
    assert report.errors == [] and report.stale == 1
    with db.session() as session:
        assert session.scalar(select(Patient.family_name)) == "Quillon"
        stay = session.scalar(select(Encounter))
        assert stay.discharged_at is None and stay.kind == "admission"


async def test_given_not_json_when_imported_then_refused_with_a_reason(service):
    report = await service.import_fhir(b"\x00not json", ImportOptions(), actor_user_id=None)
    assert not report.committed and report.errors[0].reason.startswith("not JSON")


SYNTHEA_MRN_SYSTEM = "http://hospital.smarthealthit.org"


def synthea_patient(uuid: str) -> dict:
    """A patient shaped as Synthea writes them (fictional): its id and MRN the same 36-character UUID, typed
    MR, beside Synthea's own identifier, a social security number and a driver's licence."""
    def typed(code: str, system: str, value: str) -> dict:
        coding = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": code}
        return {"type": {"coding": [coding]}, "system": system, "value": value}
    return {"resourceType": "Patient", "id": uuid,
            "identifier": [{"system": "https://github.com/synthetichealth/synthea", "value": uuid},
                           typed("MR", SYNTHEA_MRN_SYSTEM, uuid),
                           typed("SS", "http://hl7.org/fhir/sid/us-ssn", "999-12-3456"),
                           typed("DL", "urn:oid:2.16.840.1.113883.4.3.25", "S99912345")],
            "name": [{"use": "official", "family": "Quillon123", "given": ["Ada456"], "prefix": ["Mrs."]}],
            "telecom": [{"system": "phone", "value": "555-208-4417", "use": "home"}],
            "gender": "female", "birthDate": "1961-04-23",
            "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US"}]}}]}


async def test_given_synthea_patient_with_uuid_mrn_when_imported_then_patient_and_stay_written(db):
    uuid = "8a1c2e4f-3b5d-4c6e-9f7a-0b1c2d3e4f5a"
    feed = PatientFeed(IdentityRule(mrn_system=SYNTHEA_MRN_SYSTEM), DischargeFollowUp(), clock=lambda: NOW)
    service = ImportService(db, feed, CsvSettings())
    document = bundle(synthea_patient(uuid), encounter("e1", f"urn:uuid:{uuid}"),
                      full_urls={0: f"urn:uuid:{uuid}"})
    report = await run(service, document, good_rows=False)
    assert report.errors == [] and report.committed and report.created == 1
    with db.session() as session:
        stored = session.scalar(select(Patient).where(Patient.mrn == uuid))
        assert (len(stored.mrn), stored.family_name, stored.date_of_birth) == (
            36, "Quillon123", date(1961, 4, 23))
        [stay] = session.scalars(select(Encounter).where(Encounter.patient_id == stored.id)).all()
        assert stay.discharged_at is not None

"""The shared patient core (callcenter/patients/): identity, upsert, event-time ordering, merges, and what
discharges, cancellations and deaths do to the discharge follow-up campaign. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.campaigns.planner import plan_targets
from callcenter.campaigns.schema import load_campaign_text
from callcenter.db.database import Database
from callcenter.db.models import (
    Call,
    Campaign,
    CampaignTarget,
    Encounter,
    FollowUpQuestionnaire,
    FollowUpQuestionnaireVersion,
    FollowUpResponse,
    Patient,
    PatientContact,
    PatientIdentifier,
)
from callcenter.db.queries import find_patients_by_phone
from callcenter.patients.record import (
    AllergyRecord,
    ChangeKind,
    ContactRecord,
    DiagnosisRecord,
    Identifier,
    PatientChange,
    PatientRecord,
    Phone,
    VisitRecord,
)
from callcenter.patients.services import IdentityRule, PatientFeed, RecordError, find_patient

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
RULE = IdentityRule(mrn_system="HOSP", default_region="US")
CARDIO_FOLLOWUP = """name: cardio-followup
kind: discharge_followup
title: Cardiology follow-up
version: 1
target: {rule: discharged, department: Cardiology, within_days: 2}
mode: automated
flow: discharge-followup
"""


def person(mrn: str = "M100", **fields) -> PatientRecord:
    values = dict(identifiers=(Identifier("HOSP", mrn, "MR"), Identifier("NHS", "943 476 5919", "NH")),
                  given_name="Ada", family_name="Lovelace", birth_date=date(1950, 12, 10), sex="F",
                  language="en", phones=(Phone("(415) 555-0101", "home"), Phone("415-555-0102", "mobile")))
    values.update(fields)
    return PatientRecord(**values)


def change(kind: ChangeKind, at: datetime = NOW, *, visit: VisitRecord | None = None,
           **fields) -> PatientChange:
    return PatientChange(kind, person(**fields), at, visit=visit)


def stay(**fields) -> VisitRecord:
    values = dict(visit_number="V1", patient_class="inpatient", department="Cardiology", ward="CARD-3",
                  attending="Dr Heart", admitted_at=NOW - timedelta(days=3))
    values.update(fields)
    return VisitRecord(**values)


@pytest.fixture
def feed() -> PatientFeed:
    return PatientFeed(RULE, DischargeFollowUp(), clock=lambda: NOW)


@pytest.fixture
def followup_campaign(db) -> None:
    with db.session() as session:
        session.add(Campaign(name="cardio-followup", kind="discharge_followup", title="Cardiology follow-up",
                             source_yaml=CARDIO_FOLLOWUP))


def apply(db, feed: PatientFeed, patient_change: PatientChange):
    with db.session() as session:
        return feed.apply(session, patient_change)


def targets(db, status: str | None = None) -> list[CampaignTarget]:
    with db.session() as session:
        query = select(CampaignTarget).order_by(CampaignTarget.id)
        if status:
            query = query.where(CampaignTarget.status == status)
        return list(session.scalars(query))


def test_given_new_mrn_when_applied_then_patient_created_with_identifiers_phones_and_lists(db, feed):
    record = change(ChangeKind.PERSON, allergies=(AllergyRecord("Penicillin", "Rash", "severe"),),
                    diagnoses=(DiagnosisRecord("Heart failure", "I50"),),
                    contacts=(ContactRecord("Byron", "parent", "415 555 0199"),))
    applied = apply(db, feed, record)
    assert applied.created
    with db.session() as session:
        patient = session.get(Patient, applied.patient_id)
        assert (patient.mrn, patient.family_name, patient.date_of_birth) == (
            "M100", "Lovelace", date(1950, 12, 10))
        assert [(p.e164, p.kind, p.is_primary) for p in patient.phones] == [
            ("+14155550101", "home", True), ("+14155550102", "mobile", False)]
        assert [(a.substance, a.severity) for a in patient.allergies] == [("Penicillin", "severe")]
        assert [c.code for c in patient.conditions] == ["I50"]
        assert [(c.name, c.relation, c.phone_e164) for c in patient.contacts] == [
            ("Byron", "parent", "+14155550199")]
        assert {(i.system, i.value) for i in patient.identifiers} == {
            ("HOSP", "M100"), ("NHS", "943 476 5919")}


def test_given_same_mrn_when_applied_again_then_one_patient_updated(db, feed):
    first = apply(db, feed, change(ChangeKind.PERSON))
    second = apply(db, feed, change(ChangeKind.PERSON, NOW + timedelta(hours=1), family_name="King",
                                    phones=(Phone("+1 415 555 0177", "mobile"),)))
    assert second.patient_id == first.patient_id and not second.created
    with db.session() as session:
        patient = session.get(Patient, first.patient_id)
        assert patient.family_name == "King"
        assert [p.e164 for p in patient.phones] == ["+14155550177"]
        assert session.scalar(select(func.count()).select_from(Patient)) == 1


def list_rows(db, patient_id: int) -> dict[str, list[tuple]]:
    with db.session() as session:
        patient = session.get(Patient, patient_id)
        return {"phones": [(p.id, p.e164, p.kind, p.is_primary) for p in patient.phones],
                "allergies": [(a.id, a.substance, a.reaction, a.severity) for a in patient.allergies],
                "conditions": [(c.id, c.name, c.code, c.chronic) for c in patient.conditions],
                "contacts": [(c.id, c.name, c.relation, c.phone_e164) for c in patient.contacts]}


def test_given_stored_lists_when_same_lists_sent_then_left_as_they_are_and_a_changed_one_replaced(db, feed):
    lists = dict(allergies=(AllergyRecord("Penicillin", "Rash", "severe"),),
                 diagnoses=(DiagnosisRecord("Heart failure", "I50"),),
                 contacts=(ContactRecord("Byron", "parent", "415 555 0199"),))
    first = apply(db, feed, change(ChangeKind.PERSON, **lists))
    before = list_rows(db, first.patient_id)
    apply(db, feed, change(ChangeKind.PERSON, NOW + timedelta(hours=1), **lists))
    assert list_rows(db, first.patient_id) == before  # same row ids: nothing deleted and written again
    apply(db, feed, change(ChangeKind.PERSON, NOW + timedelta(hours=2), **lists | dict(
        allergies=(AllergyRecord("Penicillin", "Rash", "severe"), AllergyRecord("Latex", None, "mild")))))
    after = list_rows(db, first.patient_id)
    assert [row[1:] for row in after["allergies"]] == [("Penicillin", "Rash", "severe"),
                                                        ("Latex", None, "mild")]
    assert {name: after[name] for name in ("phones", "conditions", "contacts")} == {
        name: before[name] for name in ("phones", "conditions", "contacts")}
    apply(db, feed, change(ChangeKind.PERSON, NOW + timedelta(hours=3), phones=(
        Phone("415-555-0102", "mobile"), Phone("(415) 555-0101", "home")), diagnoses=()))
    after = list_rows(db, first.patient_id)
    assert [row[1:] for row in after["phones"]] == [("+14155550102", "mobile", True),
                                                    ("+14155550101", "home", False)]
    assert after["conditions"] == [] and len(after["allergies"]) == 2


def test_given_patient_loaded_in_the_session_when_change_applied_then_it_reads_the_new_values(db, feed):
    first = apply(db, feed, change(ChangeKind.ADMIT, visit=stay()))
    with db.session() as session:
        patient = session.get(Patient, first.patient_id)
        encounter = session.get(Encounter, first.encounter_id)
        assert patient.family_name == "Lovelace" and encounter.discharged_at is None
        feed.apply(session, change(ChangeKind.DISCHARGE, NOW + timedelta(hours=1), family_name="King",
                                   visit=stay(discharged_at=NOW)))
        assert patient.family_name == "King" and encounter.discharged_at == NOW


def test_given_newer_data_stored_when_older_update_arrives_then_it_does_not_overwrite(db, feed):
    apply(db, feed, change(ChangeKind.PERSON, NOW, family_name="Newer"))
    stale = apply(db, feed, change(ChangeKind.PERSON, NOW - timedelta(hours=2), family_name="Older"))
    assert stale.stale
    with db.session() as session:
        assert find_patient(session, "M100").family_name == "Newer"


def test_given_mrn_system_configured_when_record_has_several_identifiers_then_that_system_is_the_mrn(db):
    feed = PatientFeed(IdentityRule(mrn_system="NHS"), None, clock=lambda: NOW)
    applied = apply(db, feed, change(ChangeKind.PERSON))
    with db.session() as session:
        assert session.get(Patient, applied.patient_id).mrn == "943 476 5919"


def test_given_no_identifier_of_the_system_when_applied_then_refused_naming_the_field(db, feed):
    with pytest.raises(RecordError, match="no MRN of system HOSP"):
        apply(db, feed, change(ChangeKind.PERSON, identifiers=(Identifier("OTHER", "X1"),)))


def test_given_new_patient_without_birth_date_when_applied_then_refused_without_values(db, feed):
    with pytest.raises(RecordError) as refused:
        apply(db, feed, change(ChangeKind.PERSON, birth_date=None))
    assert "birth date" in str(refused.value) and "Lovelace" not in str(refused.value)


def test_given_cardiology_discharge_when_applied_then_patient_is_target_at_once(db, feed, followup_campaign):
    apply(db, feed, change(ChangeKind.ADMIT, NOW - timedelta(days=3), visit=stay()))
    left = stay(discharged_at=NOW - timedelta(hours=1), disposition="home")
    discharged = apply(db, feed, change(ChangeKind.DISCHARGE, NOW - timedelta(hours=1), visit=left))
    assert discharged.targets_created == 1
    [target] = targets(db)
    assert (target.patient_id, target.subject_kind, target.subject_id, target.status) == (
        discharged.patient_id, "encounter", discharged.encounter_id, "pending")
    assert target.phone_e164 == "+14155550101"
    with db.session() as session:
        encounter = session.get(Encounter, discharged.encounter_id)
        assert (encounter.kind, encounter.ward, encounter.attending, encounter.disposition) == (
            "admission", "CARD-3", "Dr Heart", "home")
        # The planning run finds the target the feed made: nobody is doubled.
        campaign = load_campaign_text(CARDIO_FOLLOWUP, "cardio-followup.yaml")
        assert plan_targets(session, campaign, NOW, "UTC").created == 0


def test_given_other_department_discharge_when_applied_then_no_target(db, feed, followup_campaign):
    applied = apply(db, feed, change(ChangeKind.DISCHARGE, visit=stay(department="Orthopedics",
                                                                      discharged_at=NOW)))
    assert applied.targets_created == 0 and targets(db) == []


def test_given_pending_followup_when_discharge_cancelled_then_target_withdrawn(db, feed, followup_campaign):
    apply(db, feed, change(ChangeKind.DISCHARGE, NOW - timedelta(hours=1), visit=stay(discharged_at=NOW)))
    cancelled = apply(db, feed, change(ChangeKind.CANCEL_DISCHARGE, NOW, visit=stay()))
    assert cancelled.targets_withdrawn == 1
    [target] = targets(db)
    assert (target.status, target.outcome) == ("expired", {"reason": "discharge_cancelled"})
    with db.session() as session:
        assert session.get(Encounter, cancelled.encounter_id).discharged_at is None


def test_given_admission_when_cancelled_then_encounter_gone(db, feed):
    admitted = apply(db, feed, change(ChangeKind.ADMIT, visit=stay()))
    apply(db, feed, change(ChangeKind.CANCEL_ADMIT, NOW + timedelta(minutes=5), visit=stay()))
    with db.session() as session:
        assert session.get(Encounter, admitted.encounter_id) is None


def test_given_pending_targets_when_patient_reported_deceased_then_withdrawn_and_never_targeted(
        db, feed, followup_campaign):
    apply(db, feed, change(ChangeKind.DISCHARGE, NOW - timedelta(hours=2), visit=stay(discharged_at=NOW)))
    died = apply(db, feed, change(ChangeKind.PERSON, NOW - timedelta(hours=1), deceased=True,
                                  deceased_at=NOW - timedelta(hours=1)))
    assert died.targets_withdrawn == 1
    assert [(t.status, t.outcome) for t in targets(db)] == [("excluded", {"reason": "deceased"})]
    with db.session() as session:
        assert find_patient(session, "M100").deceased
        campaign = load_campaign_text(CARDIO_FOLLOWUP, "cardio-followup.yaml")
        session.execute(CampaignTarget.__table__.delete())
        assert plan_targets(session, campaign, NOW, "UTC").created == 0


def test_given_two_records_when_merged_then_survivor_has_history_and_old_mrn_finds_it(db, feed):
    old = apply(db, feed, change(ChangeKind.ADMIT, NOW - timedelta(days=1), mrn="OLD1", visit=stay()))
    phones = (Phone("415 555 0103", "mobile"), Phone("415 555 0101", "home"))
    survivor = apply(db, feed, change(ChangeKind.PERSON, NOW - timedelta(days=1), mrn="NEW1", phones=phones))
    with db.session() as session:
        session.add(Call(id="c" * 32, direction="inbound", status="ended", patient_id=old.patient_id))
        session.add(PatientContact(patient_id=old.patient_id, name="Byron"))
    merge = PatientChange(ChangeKind.MERGE, person("NEW1"), NOW, merged_from=(Identifier("HOSP", "OLD1"),))
    merged = apply(db, feed, merge)
    assert (merged.patient_id, merged.merged_patient_id) == (survivor.patient_id, old.patient_id)
    with db.session() as session:
        assert find_patient(session, "OLD1").id == survivor.patient_id
        assert session.get(Call, "c" * 32).patient_id == survivor.patient_id
        assert session.get(Encounter, old.encounter_id).patient_id == survivor.patient_id
        assert session.get(Patient, old.patient_id).merged_into_id == survivor.patient_id
        assert session.scalar(select(PatientIdentifier.patient_id).where(
            PatientIdentifier.value == "OLD1")) == survivor.patient_id
        # Both had +14155550101: the caller's number pops the survivor only.
        assert [p.id for p in find_patients_by_phone(session, "+14155550101")] == [survivor.patient_id]
        assert [p.id for p in find_patients_by_phone(session, "+14155550102")] == [survivor.patient_id]


def test_given_follow_up_answers_of_a_record_when_merged_then_they_follow_the_survivor(db, feed):
    old = apply(db, feed, change(ChangeKind.PERSON, NOW - timedelta(days=1), mrn="OLD3"))
    survivor = apply(db, feed, change(ChangeKind.PERSON, NOW - timedelta(days=1), mrn="NEW3"))
    with db.session() as session:
        questionnaire = FollowUpQuestionnaire(code="q", title="Q", kind="research", current_version="1")
        session.add(questionnaire)
        session.flush()
        version = FollowUpQuestionnaireVersion(questionnaire_id=questionnaire.id, version="1", source_yaml="",
                                               definition={}, review_status="example")
        session.add(version)
        session.flush()
        session.add(FollowUpResponse(questionnaire_version_id=version.id, patient_id=old.patient_id,
                                     channel="phone"))

    merge = PatientChange(ChangeKind.MERGE, person("NEW3"), NOW, merged_from=(Identifier("HOSP", "OLD3"),))
    apply(db, feed, merge)

    with db.session() as session:
        assert session.scalars(select(FollowUpResponse.patient_id)).all() == [survivor.patient_id]


def test_given_merge_whose_survivor_is_unknown_when_applied_then_old_record_takes_new_mrn(db, feed):
    old = apply(db, feed, change(ChangeKind.PERSON, mrn="OLD2"))
    merge = PatientChange(ChangeKind.MERGE, person("NEW2"), NOW + timedelta(minutes=1),
                          merged_from=(Identifier("HOSP", "OLD2"),))
    merged = apply(db, feed, merge)
    assert merged.patient_id == old.patient_id
    with db.session() as session:
        assert session.get(Patient, old.patient_id).mrn == "NEW2"


def test_given_discharge_cancelled_when_discharged_again_then_followup_due_again(db, feed, followup_campaign):
    apply(db, feed, change(ChangeKind.DISCHARGE, NOW - timedelta(hours=3), visit=stay(discharged_at=NOW)))
    apply(db, feed, change(ChangeKind.CANCEL_DISCHARGE, NOW - timedelta(hours=2), visit=stay()))
    again = apply(db, feed, change(ChangeKind.DISCHARGE, NOW - timedelta(hours=1),
                                   visit=stay(discharged_at=NOW - timedelta(hours=1))))
    assert again.targets_created == 1
    assert [(t.status, t.attempts) for t in targets(db)] == [("pending", 0)]


def test_given_unknown_patient_when_discharge_or_admission_cancelled_then_nothing_written(db, feed):
    for kind in (ChangeKind.CANCEL_DISCHARGE, ChangeKind.CANCEL_ADMIT):
        assert apply(db, feed, change(kind, visit=stay(), birth_date=None)).patient_id is None
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_given_stored_identifiers_when_changes_applied_then_identifier_lookups_use_the_index_not_a_scan(
        sqlite_url, feed):
    """Every message and import row looks its identifiers up: read by value alone, SQLite scanned the whole
    table each time (the unique index is on system, value), a cost growing with the hospital's patients."""
    db = Database(sqlite_url)
    db.upgrade()
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT") and "FROM patient_identifiers" in statement:
            plans.extend(row[3] for row in cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}",
                                                                      parameters))
    event.listen(db.engine, "before_cursor_execute", explain)
    try:
        with db.session() as session:
            feed.apply_many(session, [change(ChangeKind.PERSON, mrn=f"M{n}", identifiers=(
                Identifier("HOSP", f"M{n}", "MR"), Identifier("NHS", f"N{n}", "NH"))) for n in range(3)])
            feed.apply(session, change(ChangeKind.PERSON, mrn="M1", family_name="Byron", identifiers=(
                Identifier("HOSP", "M1", "MR"), Identifier("NHS", "N1", "NH"))))
    finally:
        db.close()
    assert plans and not [plan for plan in plans if plan.startswith("SCAN patient_identifiers")]

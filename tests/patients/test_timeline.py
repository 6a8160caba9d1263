"""The patient timeline (issue 17 item 7) on both databases: every kind, newest first, each with what opening
it shows, read with the record (one audited read)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from callcenter.complaints.serial import display
from callcenter.db.models import CarePlan, CarePlanEvent, Patient, User
from callcenter.patients.timeline import timeline

from .history import seed_history

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def add_patient(session) -> int:
    patient = Patient(mrn="MRN-TL-1", given_name="Tess", family_name="Line", date_of_birth=date(1970, 1, 2),
                      sex="F", language="en")
    session.add(patient)
    session.flush()
    return patient.id


def test_given_a_history_of_every_kind_when_read_then_newest_first_with_details(db):
    with db.session() as session:
        patient_id = add_patient(session)
        history = seed_history(session, patient_id, NOW)
    with db.session() as session:
        entries = timeline(session, patient_id)
    assert [e["kind"] for e in entries] == ["ticket", "questionnaire", "call", "call"]
    ticket, questionnaire, reminder, inbound = entries
    assert ticket["title"] == f"Complaint {display(history.ticket_serial)} · received"
    assert ticket["href"] == f"/complaints/{history.ticket_id}" and ticket["detail"]["channel"] == "phone"
    assert questionnaire["title"] == "Post-discharge check (version 2) · phone"
    assert questionnaire["detail"]["answers"] == [{"question": "pain_score", "value": 3},
                                                  {"question": "wound_ok", "value": True}]
    assert reminder["title"].startswith("appointment-reminders call")
    assert reminder["detail"]["campaign"] == "appointment-reminders"
    assert reminder["detail"]["recordings"] == []
    assert inbound["title"] == "Inbound call · results · completed"
    assert inbound["detail"]["talk_seconds"] == 120.0
    assert inbound["detail"]["recordings"][0]["seconds"] == 118.0
    assert inbound["href"] == f"/calls/{history.inbound_call}"
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)


def test_given_two_patients_when_one_has_history_then_the_others_timeline_is_empty(db):
    with db.session() as session:
        patient_id = add_patient(session)
        other = Patient(mrn="MRN-TL-2", given_name="Otto", family_name="Other",
                        date_of_birth=date(1980, 5, 6), sex="M", language="en")
        session.add(other)
        session.flush()
        seed_history(session, other.id, NOW)
    with db.session() as session:
        assert timeline(session, patient_id) == []
        assert len(timeline(session, other.id)) == 4


def test_given_a_care_plans_history_when_read_then_its_events_newest_first_and_no_other_patients(db):
    with db.session() as session:
        patient_id = add_patient(session)
        other = Patient(mrn="MRN-TL-3", given_name="Otto", family_name="Other",
                        date_of_birth=date(1980, 5, 6), sex="M", language="en")
        nurse = User(username="nurse-tl", display_name="Nurse", role="nurse")
        session.add_all([other, nurse])
        session.flush()
        for owner in (patient_id, other.id):
            plan = CarePlan(patient_id=owner, kind="vip", condition="heart failure", department="Cardiology",
                            starts_on=date(2026, 11, 1), schedule="FREQ=WEEKLY;INTERVAL=2",
                            questionnaire_code="hypertension", channel="agent", nurse_user_id=nurse.id)
            session.add(plan)
            session.flush()
            session.add_all([
                CarePlanEvent(plan_id=plan.id, patient_id=owner, at=NOW - timedelta(days=30), kind="enrolled",
                              actor_user_id=nurse.id, detail={"schedule": "FREQ=WEEKLY;INTERVAL=2"}),
                CarePlanEvent(plan_id=plan.id, patient_id=owner, followup_id=7, at=NOW - timedelta(days=2),
                              kind="outcome", actor_user_id=nurse.id, detail={"outcome": "unreachable"})])
    with db.session() as session:
        entries = timeline(session, patient_id)
    assert [(e["kind"], e["title"]) for e in entries] == [
        ("care_plan", "VIP · heart failure · outcome"), ("care_plan", "VIP · heart failure · enrolled")]
    outcome = entries[0]
    assert outcome["detail"]["event"] == "outcome" and outcome["detail"]["outcome"] == "unreachable"
    assert outcome["detail"]["followup_id"] == 7 and outcome["href"] is None
    assert outcome["at"] == (NOW - timedelta(days=2)).isoformat()

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from callcenter.db.models import Agent, AuditEvent, Call, CallEvent, Patient, PatientPhone
from callcenter.db.queries import (
    add_audit_event,
    call_events,
    find_patients_by_phone,
    patient_summary,
    recent_discharge,
    unfinished_calls,
)
from callcenter.demo import seed_demo

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GARCIA_LANDLINE = "+14155550150"


@pytest.fixture
def demo_db(db):
    with db.session() as session:
        seed_demo(session, now=NOW)
    return db


def _patient_id(session, mrn: str) -> int:
    return session.scalar(select(Patient.id).where(Patient.mrn == mrn))


def test_given_landline_shared_by_two_patients_when_looked_up_then_both_are_returned_once(demo_db):
    with demo_db.session() as session:
        patients = find_patients_by_phone(session, GARCIA_LANDLINE)

    assert [p.mrn for p in patients] == ["MRN100014", "MRN100013"]


def test_given_number_of_one_patient_when_looked_up_then_that_patient_is_returned(demo_db):
    with demo_db.session() as session:
        patients = find_patients_by_phone(session, "+14155550103")  # Michael Smith's work phone

    assert [p.mrn for p in patients] == ["MRN100002"]


def test_given_unknown_number_when_looked_up_then_no_patient(demo_db):
    with demo_db.session() as session:
        assert find_patients_by_phone(session, "+14155550199") == []


def test_given_patient_with_history_when_summarised_then_screen_pop_has_record_and_history(demo_db):
    with demo_db.session() as session:
        patient_id = _patient_id(session, "MRN100002")
        agent = session.scalar(select(Agent).where(Agent.number == "1004"))
        session.add_all([
            Call(id="a" * 32, patient_id=patient_id, queue_name="nurse", status="ended", outcome="completed",
                 agent_id=agent.id, started_at=NOW - timedelta(days=3)),
            Call(id="b" * 32, patient_id=patient_id, queue_name="appointments", status="ended",
                 outcome="abandoned", started_at=NOW - timedelta(days=1)),
        ])

    with demo_db.session() as session:
        summary = patient_summary(session, patient_id, now=NOW)

    assert summary["mrn"] == "MRN100002"
    assert summary["name"] == "Michael Smith"
    assert (summary["date_of_birth"], summary["age"], summary["sex"]) == ("1956-07-30", 70, "M")
    assert summary["language"] == "en"
    assert [f["flag"] for f in summary["flags"]] == ["chronic"]
    assert summary["allergies"] == [{"substance": "Penicillin", "reaction": "Hives", "severity": "moderate"}]
    assert {c["name"] for c in summary["conditions"]} == {"Heart failure", "Hypertension"}
    assert [e["kind"] for e in summary["encounters"]] == ["admission", "visit"]
    assert summary["recent_discharge"]["department"] == "cardiology"
    assert [a["department"] for a in summary["upcoming_appointments"]] == ["cardiology"]
    assert [(c["queue"], c["outcome"], c["agent"]) for c in summary["recent_calls"]] == [
        ("appointments", "abandoned", None), ("nurse", "completed", "Dana Whitfield, RN")]
    assert summary["recent_calls"][0]["started_at"] == (NOW - timedelta(days=1)).isoformat()


def test_given_summary_when_serialised_then_it_is_plain_json(demo_db):
    with demo_db.session() as session:
        summary = patient_summary(session, _patient_id(session, "MRN100014"), now=NOW)

    assert json.loads(json.dumps(summary)) == summary


def test_given_many_encounters_and_calls_when_summarised_then_only_last_five_of_each(demo_db):
    with demo_db.session() as session:
        patient_id = _patient_id(session, "MRN100001")
        for day in range(8):
            session.add(Call(patient_id=patient_id, queue_name=f"q{day}", status="ended",
                             started_at=NOW - timedelta(days=day)))

    with demo_db.session() as session:
        summary = patient_summary(session, patient_id, now=NOW)

    assert [c["queue"] for c in summary["recent_calls"]] == ["q0", "q1", "q2", "q3", "q4"]


def test_given_current_call_when_summarised_excluding_it_then_it_is_not_in_history(demo_db):
    with demo_db.session() as session:
        patient_id = _patient_id(session, "MRN100001")
        session.add(Call(id="c" * 32, patient_id=patient_id, status="connected", started_at=NOW))

    with demo_db.session() as session:
        summary = patient_summary(session, patient_id, now=NOW, exclude_call_id="c" * 32)

    assert summary["recent_calls"] == []


def test_given_past_and_cancelled_appointments_when_summarised_then_only_upcoming_booked_ones(demo_db):
    with demo_db.session() as session:
        thomas = patient_summary(session, _patient_id(session, "MRN100010"), now=NOW)  # completed, past
        sofia = patient_summary(session, _patient_id(session, "MRN100019"), now=NOW)  # cancelled

    assert thomas["upcoming_appointments"] == []
    assert sofia["upcoming_appointments"] == []


def test_given_unknown_patient_when_summarised_then_none(db):
    with db.session() as session:
        assert patient_summary(session, 424242) is None


def test_given_cardiology_discharges_when_asked_for_recent_ones_then_only_last_two_days_count(demo_db):
    with demo_db.session() as session:
        recent = {mrn: recent_discharge(session, _patient_id(session, mrn), now=NOW, department="cardiology")
                  for mrn in ("MRN100002", "MRN100006", "MRN100014", "MRN100024", "MRN100001")}

    assert {mrn for mrn, encounter in recent.items() if encounter} == {"MRN100002", "MRN100006", "MRN100014"}


def test_given_audit_added_in_transaction_when_transaction_rolls_back_then_no_audit_row(db):
    with pytest.raises(RuntimeError):
        with db.session() as session:
            add_audit_event(session, "screen_pop", patient_id=1, call_id="c" * 32, detail={"queue": "nurse"})
            raise RuntimeError("the pop was not delivered")

    with db.session() as session:
        assert session.scalars(select(AuditEvent)).all() == []


def test_given_audit_added_when_committed_then_row_has_fields_and_utc_time(db):
    with db.session() as session:
        add_audit_event(session, "view_patient", actor_agent_id=3, patient_id=7, reason="caller asked")

    with db.session() as session:
        event = session.scalar(select(AuditEvent))
    assert (event.action, event.actor_agent_id, event.patient_id, event.reason) == ("view_patient", 3, 7,
                                                                                     "caller asked")
    assert event.ts.tzinfo is UTC


def test_given_events_of_two_calls_when_listed_then_only_that_calls_events_in_write_order(db):
    with db.session() as session:
        for call_id, kind in [("x" * 32, "call_started"), ("y" * 32, "call_started"), ("x" * 32, "queued"),
                              ("x" * 32, "ended")]:
            session.add(CallEvent(call_id=call_id, type=kind, data={}))
            session.flush()

    with db.session() as session:
        assert [e.type for e in call_events(session, "x" * 32)] == ["call_started", "queued", "ended"]


def test_given_ended_and_live_calls_when_listing_unfinished_then_only_live_ones(db):
    with db.session() as session:
        session.add_all([Call(id="e" * 32, status="ended"), Call(id="q" * 32, status="queued"),
                         Call(id="i" * 32, status="ivr")])

    with db.session() as session:
        assert {c.id for c in unfinished_calls(session)} == {"q" * 32, "i" * 32}


def test_given_same_number_twice_for_one_patient_when_inserted_then_refused(db):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.session() as session:
            patient = Patient(mrn="P1", given_name="A", family_name="B", date_of_birth=date(1990, 1, 1))
            patient.phones = [PatientPhone(e164="+14155550100"), PatientPhone(e164="+14155550100")]
            session.add(patient)

"""Campaign actions on a real database (SQLite and PostgreSQL): what a patient's key really changes, and the
flow context of a dial job."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callcenter.campaigns.actions import CampaignActions
from callcenter.campaigns.context import flow_context
from callcenter.db.models import (
    Appointment,
    AuditEvent,
    Call,
    Callback,
    CallEvent,
    CampaignTarget,
    DoNotCall,
    Encounter,
    Patient,
    SurveyResponse,
)
from callcenter.eventlog import EventLog

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeCampaign:
    name: str = "reminders"
    kind: str = "appointment_reminder"
    title: str = "Reminders"
    queue: str | None = "appointments"


@dataclass(frozen=True)
class Job:
    """The fields of campaigns.services.DialJob that actions and the context read."""
    patient_id: int
    subject_kind: str
    subject_id: int
    target_id: int
    attempt_id: int = 1
    campaign: FakeCampaign = FakeCampaign()
    phone_e164: str = "+15555550123"
    language: str = "en"
    worker: str = "w1"


@pytest.fixture
async def world(db):
    events = EventLog(db)
    await events.start()
    ids = await db.run(_seed)
    yield db, events, ids
    await events.close()


def _seed(session) -> dict:
    patient = Patient(mrn="MRN-T1", given_name="Test", family_name="Patient",
                      date_of_birth=datetime(1970, 1, 1).date(), language="es", time_zone="America/New_York")
    session.add(patient)
    session.flush()
    appointment = Appointment(patient_id=patient.id, department="Cardiology",
                              starts_at=NOW + timedelta(days=1), status="booked")
    past = Appointment(patient_id=patient.id, department="Cardiology", starts_at=NOW - timedelta(days=1),
                       status="booked")
    encounter = Encounter(patient_id=patient.id, kind="admission", department="Surgery",
                          started_at=NOW - timedelta(days=4), discharged_at=NOW - timedelta(days=1))
    session.add_all([appointment, past, encounter])
    session.flush()
    target = CampaignTarget(campaign_name="reminders", patient_id=patient.id, subject_kind="appointment",
                            subject_id=appointment.id, status="in_progress")
    session.add(target)
    session.add(Call(id="call-1", direction="outbound", status="ivr", started_at=NOW))
    session.flush()
    return {"patient": patient.id, "appointment": appointment.id, "past": past.id, "encounter": encounter.id,
            "target": target.id}


def bound(world, subject_kind="appointment", subject="appointment", **campaign):
    db, events, ids = world
    job = Job(ids["patient"], subject_kind, ids[subject], ids["target"], campaign=FakeCampaign(**campaign))
    return CampaignActions(db, events, clock=lambda: NOW).bind("call-1", job)


async def rows(db, model, *where):
    return await db.run(lambda s: list(s.scalars(select(model).where(*where))))


async def outcome_events(world):
    db, events, _ = world
    await events.flush()
    return [e.data for e in await rows(db, CallEvent, CallEvent.type == "campaign_outcome")]


async def test_given_a_booked_appointment_when_confirmed_then_the_row_is_confirmed_and_audited(world):
    db, _, ids = world
    actions = bound(world)

    assert await actions.run("appointment.confirm", {}, {}) == "confirmed"

    (appointment,) = await rows(db, Appointment, Appointment.id == ids["appointment"])
    assert appointment.status == "confirmed" and actions.outcome == "confirmed"
    assert (await outcome_events(world))[0]["outcome"] == "confirmed"
    audits = await rows(db, AuditEvent, AuditEvent.action == "appointment_confirmed_by_patient")
    assert audits[0].patient_id == ids["patient"] and audits[0].call_id == "call-1"


async def test_given_a_booked_appointment_when_cancelled_then_the_slot_is_freed(world):
    db, _, ids = world
    actions = bound(world)

    assert await actions.run("appointment.cancel", {}, {}) == "cancelled"

    (appointment,) = await rows(db, Appointment, Appointment.id == ids["appointment"])
    assert appointment.status == "cancelled"
    assert await outcome_events(world) == [{"campaign": "reminders", "outcome": "cancelled",
                                            "target_id": ids["target"], "attempt_id": 1}]


async def test_given_a_past_or_cancelled_appointment_when_cancelled_again_then_not_possible(world):
    db, _, ids = world
    assert await bound(world, subject="past").run("appointment.cancel", {}, {}) == "not_possible"
    actions = bound(world)
    await actions.run("appointment.cancel", {}, {})

    assert await actions.run("appointment.confirm", {}, {}) == "not_possible"
    (past,) = await rows(db, Appointment, Appointment.id == ids["past"])
    assert past.status == "booked"


async def test_given_the_opt_out_key_when_run_then_a_do_not_call_row_for_the_patient_and_kind(world):
    db, _, ids = world
    actions = bound(world)

    await actions.run("opt_out", {}, {})
    await bound(world, kind="satisfaction_survey").run("opt_out", {"scope": "all"}, {})

    dnc = await rows(db, DoNotCall)
    assert [(r.patient_id, r.campaign_kind, r.source, r.call_id) for r in dnc] == [
        (ids["patient"], "appointment_reminder", "ivr_key", "call-1"),
        (ids["patient"], None, "ivr_key", "call-1")]
    assert actions.outcome == "opted_out"


async def test_given_a_survey_score_when_recorded_then_it_is_stored_and_invalid_scores_are_refused(world):
    db, _, ids = world
    actions = bound(world, name="survey", kind="satisfaction_survey")

    assert await actions.run("survey.record", {}, {"survey.score": 7}) == "invalid"
    assert await actions.run("survey.record", {"question": "overall"}, {"survey.score": 4}) == "done"

    (response,) = await rows(db, SurveyResponse)
    assert (response.score, response.campaign_name, response.target_id, response.patient_id,
            response.call_id) == (4, "survey", ids["target"], ids["patient"], "call-1")
    attempt = {"campaign": "survey", "target_id": ids["target"], "attempt_id": 1}
    assert await outcome_events(world) == [               # the refused key is on record too, before the score
        attempt | {"outcome": "invalid", "action": "survey.record"},
        attempt | {"outcome": "survey_score", "score": 4}]
    assert actions.outcome == "survey_done"               # an invalid key never replaces the real outcome


async def test_given_a_red_flag_without_a_nurse_when_urgent_callback_runs_then_an_urgent_row_due_now(world):
    db, _, ids = world
    actions = bound(world, "encounter", "encounter", name="followup", kind="discharge_followup")
    context = {"triage.disposition": "nurse_now"}
    await actions.run("outcome", {"outcome": "red_flag"}, context)

    assert await actions.run("callback.urgent", {"queue": "nurse"}, context) == "done"

    (callback,) = await rows(db, Callback)
    assert callback.urgent is True and callback.queue_name == "nurse" and callback.due_at == NOW
    assert callback.phone_e164 == "+15555550123" and callback.origin_call_id == "call-1"
    assert "nurse_now" in callback.reason and "Test" not in callback.reason
    assert [e["outcome"] for e in await outcome_events(world)] == ["red_flag"]  # once per call


async def test_given_an_appointment_job_when_its_context_is_built_then_the_time_is_in_the_patients_zone(
        world):
    db, _, ids = world
    job = Job(ids["patient"], "appointment", ids["appointment"], ids["target"], language="es")

    context = await flow_context(db, job)

    assert context["appointment.starts_at"] == NOW + timedelta(days=1)
    assert context["appointment.starts_at"].tzinfo == ZoneInfo("America/New_York")
    assert context["appointment.starts_at"].hour == 10  # 15:00 UTC in March (EST)
    assert (context["appointment.department"], context["patient.language"]) == ("Cardiology", "es")
    assert context["campaign.kind"] == "appointment_reminder"


async def test_given_an_encounter_job_when_its_context_is_built_then_the_department_is_known(world):
    db, _, ids = world
    job = Job(ids["patient"], "encounter", ids["encounter"], ids["target"])

    context = await flow_context(db, job)

    assert context["encounter.department"] == "Surgery" and "appointment.starts_at" not in context

"""The automated campaign flows on real calls (issue 6 item 5): the dialer calls simulated patients through
the sandbox Asterisk (AMD in the dialplan says 'person'), the flow runs with real prompts and real keys, and
the database shows what the keys did.

Simulated phones: Local/<number>@sim-campaign/n; the Asterisk GLOBAL variables SIM_CAMPAIGN_<digits>
(person), SIM_KEYS_<digits> (keys, comma-separated) and SIM_GAP_<digits> (seconds between keys) say what
each does. Keys pressed while a prompt plays are typed ahead and used by the next menu, as a real patient
who knows the menu would.
"""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callcenter.campaigns.actions import CampaignActions
from callcenter.campaigns.dialing.automated import Dialer
from callcenter.campaigns.services import CampaignService
from callcenter.db.models import (
    Appointment,
    Call,
    Callback,
    CampaignAttempt,
    CampaignTarget,
    DoNotCall,
    Encounter,
    Patient,
    PatientPhone,
    SurveyResponse,
)

# Tuesday 2026-11-24 15:00 UTC = 10:00 in New York (the hospital's zone): inside every calling window.
START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TOMORROW_10 = START + timedelta(days=1)


class RunningClock:
    """Controlled time that still runs: `at` plus the real time elapsed."""

    def __init__(self, at: datetime):
        self.at, self.t0 = at, time.monotonic()

    def __call__(self) -> datetime:
        return self.at + timedelta(seconds=time.monotonic() - self.t0)


def campaign_text(name: str, kind: str, target: str, flow: str) -> str:
    return f"""\
name: {name}
kind: {kind}
title: Flow test
version: 1
target: {target}
mode: automated
flow: {flow}
caller_id: '"City Hospital" <+15555550100>'
compliance:
  window: {{start: "08:00", end: "21:00"}}
  max_attempts: 2
  retry_after: {{no_answer: 2h, busy: 15m, machine: 1h, failed: 1h, abandoned: 1h}}
  caps: {{per_day: 3, per_week: 5}}
  machine: hang_up
pacing: {{max_channels: 5, calls_per_second: 2, abandon_cap: 0.03}}
"""


REMINDER = ("appointment_reminder", "{rule: appointments, days_ahead: 1}", "appointment-reminder")
FOLLOWUP = ("discharge_followup", "{rule: discharged, department: Surgery, within_days: 2}",
            "discharge-followup")
SURVEY = ("satisfaction_survey", "{rule: recent_discharges_or_visits, within_days: 2}", "satisfaction-survey")


@pytest.fixture
def center(campaign_center):
    """The campaign tests' product (tests/integration/conftest.py): New York, phones given up on after 5 s."""
    return campaign_center


async def campaign(center, name: str, spec: tuple[str, str, str]) -> tuple[Dialer, CampaignService]:
    s, clock = center.s, RunningClock(START)
    campaigns = CampaignService(s.db, s.events, s.cfg, clock=clock)
    await campaigns.save_text(name, campaign_text(name, *spec), None)
    await campaigns.plan(name)
    dialer = Dialer(s.router, campaigns, CampaignActions(s.db, s.events, clock=clock), s.cfg, clock=clock,
                    worker="flows")
    return dialer, campaigns


async def patient(center, n: int, keys: str, *, subject: str, gap: float = 1) -> int:
    """A patient whose phone answers in person and presses `keys`; with an appointment tomorrow, a surgery
    discharge yesterday, or a visit yesterday (`subject`)."""
    digits = f"1555{n:07d}"
    for name, value in ((f"SIM_CAMPAIGN_{digits}", "person"), (f"SIM_KEYS_{digits}", keys),
                        (f"SIM_GAP_{digits}", f"{gap:g}"), (f"SIM_WAIT_{digits}", "1")):
        await center.ari.set_global_variable(name, value)
    return await center.s.db.run(_add_patient, n, "+" + digits, subject)


def _add_patient(session, n: int, e164: str, subject: str) -> int:
    row = Patient(mrn=f"F{n:07d}", given_name="Test", family_name=f"Flow{n}",
                  date_of_birth=datetime(1960, 1, 1).date(), language="en")
    row.phones.append(PatientPhone(e164=e164, is_primary=True))
    session.add(row)
    session.flush()
    if subject == "appointment":
        session.add(Appointment(patient_id=row.id, department="Cardiology", starts_at=TOMORROW_10,
                                status="booked"))
    else:
        kind = "admission" if subject == "discharge" else "visit"
        session.add(Encounter(patient_id=row.id, kind=kind, department="Surgery",
                              started_at=START - timedelta(days=3 if kind == "admission" else 1),
                              discharged_at=START - timedelta(days=1) if kind == "admission" else None))
    return row.id


async def all_rows(center, model, *where):
    await center.s.events.flush()
    return await center.s.db.run(lambda s: list(s.scalars(select(model).where(*where))))


async def outcomes(center, call_id: str) -> list[dict]:
    return [e.data for e in await center.events(call_id) if e.type == "campaign_outcome"]


async def test_given_a_reminder_when_patients_press_2_1_and_9_then_cancelled_confirmed_and_opted_out(center):
    cancels, confirms, opts_out = [await patient(center, 400 + i, key, subject="appointment")
                                   for i, key in enumerate("219")]
    dialer, campaigns = await campaign(center, "reminder-flows", REMINDER)

    report = await asyncio.wait_for(dialer.run("reminder-flows"), 120)

    assert report.dialed == 3 and report.results == {"person": 3}
    appointments = {a.patient_id: a.status for a in await all_rows(center, Appointment)}
    assert (appointments[cancels], appointments[confirms], appointments[opts_out]) == (
        "cancelled", "confirmed", "booked")
    (dnc,) = await all_rows(center, DoNotCall)
    assert (dnc.patient_id, dnc.source, dnc.campaign_kind) == (opts_out, "ivr_key", "appointment_reminder")
    targets = {t.patient_id: t for t in await all_rows(center, CampaignTarget)}
    statuses = [targets[p].status for p in (cancels, confirms, opts_out)]
    assert statuses == ["completed", "completed", "opted_out"]
    attempts = {a.patient_id: a for a in await all_rows(center, CampaignAttempt)}
    assert [(attempts[p].keys, attempts[p].outcome) for p in (cancels, confirms, opts_out)] == [
        ("2", "cancelled"), ("1", "confirmed"), ("9", "opted_out")]
    assert (await outcomes(center, attempts[cancels].call_id))[0]["outcome"] == "cancelled"
    events = await center.events(attempts[cancels].call_id)
    assert [e.data["result"] for e in events if e.type == "ivr_action"] == ["cancelled"]
    said = [e for e in events if e.type == "ivr_node" and e.data["node"] == "when"]
    assert said and not [e for e in events if e.type == "ivr_say_missing"]

    # Another reminder campaign finds the opted-out patient's still-booked appointment, and never dials it.
    again, _ = await campaign(center, "reminder-flows-2", REMINDER)
    second = await asyncio.wait_for(again.run("reminder-flows-2"), 60)
    assert second.dialed == 0
    calls = await all_rows(center, Call, Call.patient_id == opts_out)
    assert len(calls) == 1


async def test_given_a_followup_red_flag_and_a_free_nurse_when_answered_then_the_nurse_desk_is_bridged(
        center):
    # No to the first four wound questions, yes to the fifth (a swollen, painful calf: nurse now).
    patient_id = await patient(center, 410, "2,2,2,2,1", subject="discharge")
    await center.set_agent("1004", "available")
    dialer, _ = await campaign(center, "followup-nurse", FOLLOWUP)

    run = asyncio.create_task(dialer.run("followup-nurse"))
    try:
        row = await center.wait_for(lambda: _connected_call(center), 120, "the patient bridged to the nurse")
        bridges = await center.ari.request("GET", "/bridges")
        assert any(len(b["channels"]) == 2 for b in bridges), "patient and nurse are bridged"
        assert (row.queue_name, row.priority, row.patient_id) == ("nurse", 100, patient_id)
        nurse = center.s.queues.agent("1004")
        assert row.agent_id == nurse.id
        await center.ari.hangup(center.s.router.find(row.id).channel.id)
        report = await asyncio.wait_for(run, 60)
    finally:
        run.cancel()

    assert report.results == {"person": 1}
    events = await center.events(row.id)
    disposition = [e.data for e in events if e.type == "triage_disposition"]
    assert disposition == [{"protocol": "surgical_wound", "version": 1, "disposition": "nurse_now",
                            "decided_by": "swollen_calf", "action": "nurse_transfer",
                            "escalation_required": True, "rank": 2,
                            "satisfied_by": ["nurse_transfer", "emergency_conference", "urgent_callback"]}]
    assert [e.data["answer"] for e in events if e.type == "triage_answered"] == ["no"] * 4 + ["yes"]
    assert [o["outcome"] for o in await outcomes(center, row.id)] == ["red_flag"]
    (attempt,) = await all_rows(center, CampaignAttempt)
    assert attempt.outcome == "red_flag"
    assert await all_rows(center, Callback) == []


async def _connected_call(center) -> Call | None:
    rows = await all_rows(center, Call, Call.status == "connected")
    return rows[0] if rows else None


async def test_given_a_followup_red_flag_and_no_nurse_free_when_answered_then_an_urgent_callback(
        center):
    # Yes to the sixth question (fever or spreading redness: nurse now); every nurse is logged out.
    patient_id = await patient(center, 420, "2,2,2,2,2,1", subject="discharge")
    dialer, _ = await campaign(center, "followup-callback", FOLLOWUP)

    report = await asyncio.wait_for(dialer.run("followup-callback"), 120)

    assert report.results == {"person": 1}
    (callback,) = await all_rows(center, Callback)
    assert (callback.patient_id, callback.urgent, callback.queue_name, callback.status) == (
        patient_id, True, "nurse", "scheduled")
    assert callback.phone_e164 == "+15550000420" and "nurse_now" in callback.reason
    (attempt,) = await all_rows(center, CampaignAttempt)
    assert attempt.outcome == "red_flag" and attempt.call_id == callback.origin_call_id
    events = await center.events(attempt.call_id)
    assert [e.data for e in events if e.type == "ivr_no_agent"] == [{"node": "nurse", "queue": "nurse"}]
    assert [e.data["outcome"] for e in events if e.type == "ended"] == ["ivr_completed"]
    (target,) = await all_rows(center, CampaignTarget)
    assert target.status == "completed"


async def test_given_a_survey_when_the_patient_presses_4_then_the_score_is_stored(center):
    patient_id = await patient(center, 430, "4", subject="visit")
    dialer, _ = await campaign(center, "survey-flows", SURVEY)

    report = await asyncio.wait_for(dialer.run("survey-flows"), 120)

    assert report.results == {"person": 1}
    (response,) = await all_rows(center, SurveyResponse)
    assert (response.patient_id, response.score, response.campaign_name, response.question) == (
        patient_id, 4, "survey-flows", "overall")
    (attempt,) = await all_rows(center, CampaignAttempt)
    assert (attempt.keys, attempt.outcome, attempt.call_id) == ("4", "survey_done", response.call_id)
    assert await outcomes(center, attempt.call_id) == [
        {"campaign": "survey-flows", "outcome": "survey_score", "score": 4, "target_id": attempt.target_id,
         "attempt_id": attempt.id}]

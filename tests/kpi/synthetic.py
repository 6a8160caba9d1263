"""A synthetic day of a hospital contact center, written through the real models.

Hospital time zone America/New_York; the day is Monday 2026-11-23 (EST, UTC-5). Every KPI of this day is
worked out by hand in tests/kpi/test_compute.py from the timeline below (local times):

C1  08:00:10 queued scheduling, answered 08:00:30 by 1001 (wait 20 s), ended 08:04:30, wrap-up to 08:05:30
    (handle 300 s), callback scheduled; patient 1.
C2  09:10:05 queued clinical, answered 09:12:35 by 1003 (wait 150 s > 120), held a minute, red flag 09:15:00
    escalated 09:15:45 (45 s), ended 09:20:35, wrap-up to 09:22:35 (handle 600 s); patient 2.
C3  10:00:00 queued scheduling, caller hangs up 10:00:40: abandoned.
C4  10:30:00 queued scheduling, caller hangs up 10:30:03: a short abandon.
C5  11:00:00 queued scheduling, 1002's phone rings from 11:00:10, caller hangs up 11:00:25: abandoned while
    ringing.
C6  11:14:55 queued scheduling (interval 11:00), answered 11:15:05 by 1001 (wait 10 s), blind transfer to
    clinical 11:20:00 (1001's wrap-up to 11:21:00: handle 355 s), answered there 11:21:40 by 1003 (wait
    100 s), ended 11:30:00, wrap-up to 11:31:00 (handle 560 s); patient 1 again: C1 was not resolved.
C7  23:59:50 queued general, answered 00:00:20 the next day by 1002 (wait 30 s), ended 00:05:00, wrap-up to
    00:06:00: its handling (340 s) starts the next day.
O1..O7 outbound attempts 14:00..14:06 (see OUTBOUND).
Agents: 1001 available 07:55-12:00, 1003 09:00-12:00, 1002 10:55-11:30 (paused after) and from 23:50.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.db.models import (
    Agent,
    CallEvent,
    Campaign,
    CampaignAttempt,
    CampaignTarget,
    Complaint,
    Encounter,
    Patient,
    Queue,
    SurveyResponse,
)

TZ = ZoneInfo("America/New_York")
DAY = date(2026, 11, 23)
A1, A2, A3 = 1, 2, 3  # agent ids of desks 1001, 1002, 1003


def at(clock: str, day: date = DAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=TZ).astimezone(UTC)


NEXT = DAY + timedelta(days=1)


def ev(call_id, clock, type_, agent_id=None, queue=None, day=DAY, **data) -> CallEvent:
    return CallEvent(call_id=call_id, ts=at(clock, day), type=type_, agent_id=agent_id, queue_name=queue,
                     data=data)


def state(call_id, clock, agent_id, name, day=DAY) -> CallEvent:
    return ev(call_id, clock, "agent_state", agent_id, day=day, state=name, reason=None)


def inbound_calls() -> list[CallEvent]:
    return [
        # C1: answered within the service level, wrap-up, callback
        ev("c1", "08:00:00", "call_started", caller_status="valid"),
        ev("c1", "08:00:02", "caller_identified", patient_id=1, candidates=1),
        ev("c1", "08:00:10", "queued", queue="scheduling", priority=0),
        state("c1", "08:00:20", A1, "ringing"),
        ev("c1", "08:00:20", "offered", A1, "scheduling"),
        state("c1", "08:00:30", A1, "on_call"),
        ev("c1", "08:00:30", "connected", A1, "scheduling"),
        ev("c1", "08:04:30", "ended", A1, "scheduling", outcome="completed", reason="caller_hangup"),
        state("c1", "08:04:30", A1, "wrapup"),
        ev("c1", "08:05:30", "disposition", A1, code="appointment", disposition_id=1, callback_id=7),
        state("c1", "08:05:30", A1, "available"),
        # C2: clinical, answered late, hold, red flag escalated after 45 s
        ev("c2", "09:10:00", "call_started", caller_status="valid"),
        ev("c2", "09:10:01", "caller_identified", patient_id=2, candidates=1),
        ev("c2", "09:10:05", "queued", queue="clinical", priority=0),
        state("c2", "09:12:30", A3, "ringing"),
        ev("c2", "09:12:30", "offered", A3, "clinical"),
        state("c2", "09:12:35", A3, "on_call"),
        ev("c2", "09:12:35", "connected", A3, "clinical"),
        ev("c2", "09:13:00", "held", A3, "clinical"),
        ev("c2", "09:14:00", "unheld", A3, "clinical"),
        ev("c2", "09:15:00", "triage_disposition", A3, protocol="chest-pain", version=1, disposition="ed_now",
           decided_by="q1", action="escalate", escalation_required=True),
        ev("c2", "09:15:45", "escalation_performed", A3, kind="nurse_transfer"),
        ev("c2", "09:20:35", "ended", A3, "clinical", outcome="completed", reason="agent_hangup"),
        state("c2", "09:20:35", A3, "wrapup"),
        state("c2", "09:22:35", A3, "available"),
        # C3: abandoned in the queue after 40 s
        ev("c3", "09:59:50", "call_started", caller_status="anonymous"),
        ev("c3", "09:59:51", "caller_identified", caller_status="anonymous", candidates=0, patient_id=None),
        ev("c3", "10:00:00", "queued", queue="scheduling", priority=0),
        ev("c3", "10:00:40", "ended", queue="scheduling", outcome="abandoned", reason="caller_hangup"),
        # C4: short abandon (3 s)
        ev("c4", "10:29:58", "call_started", caller_status="valid"),
        ev("c4", "10:30:00", "queued", queue="scheduling", priority=0),
        ev("c4", "10:30:03", "ended", queue="scheduling", outcome="abandoned", reason="caller_hangup"),
        # C5: abandoned while the agent's phone rang
        ev("c5", "10:59:55", "call_started", caller_status="valid"),
        ev("c5", "11:00:00", "queued", queue="scheduling", priority=0),
        state("c5", "11:00:10", A2, "ringing"),
        ev("c5", "11:00:10", "offered", A2, "scheduling"),
        ev("c5", "11:00:25", "ended", queue="scheduling", outcome="abandoned", reason="caller_hangup"),
        state(None, "11:00:25", A2, "available"),
        # C6: crosses the 11:15 border, blind transfer scheduling -> clinical; patient 1 calls again
        ev("c6", "11:14:50", "call_started", caller_status="valid"),
        ev("c6", "11:14:51", "caller_identified", patient_id=1, candidates=1),
        ev("c6", "11:14:55", "queued", queue="scheduling", priority=0),
        state("c6", "11:15:00", A1, "ringing"),
        ev("c6", "11:15:00", "offered", A1, "scheduling"),
        state("c6", "11:15:05", A1, "on_call"),
        ev("c6", "11:15:05", "connected", A1, "scheduling"),
        ev("c6", "11:20:00", "transferred", A1, "scheduling", mode="blind", reason="transferred",
           from_agent="1001", to_queue="clinical", to_agent=None),
        state("c6", "11:20:00", A1, "wrapup"),
        ev("c6", "11:20:00", "requeued", queue="clinical", front=True),
        state("c6", "11:21:00", A1, "available"),
        state("c6", "11:21:35", A3, "ringing"),
        ev("c6", "11:21:35", "offered", A3, "clinical"),
        state("c6", "11:21:40", A3, "on_call"),
        ev("c6", "11:21:40", "connected", A3, "clinical"),
        ev("c6", "11:30:00", "ended", A3, "clinical", outcome="completed", reason="caller_hangup"),
        state("c6", "11:30:00", A3, "wrapup"),
        state("c6", "11:31:00", A3, "available"),
        # C7: queued a few seconds before midnight, handled after it
        ev("c7", "23:59:40", "call_started", caller_status="valid"),
        ev("c7", "23:59:50", "queued", queue="general", priority=0),
        state("c7", "00:00:15", A2, "ringing", day=NEXT),
        ev("c7", "00:00:15", "offered", A2, "general", day=NEXT),
        state("c7", "00:00:20", A2, "on_call", day=NEXT),
        ev("c7", "00:00:20", "connected", A2, "general", day=NEXT),
        ev("c7", "00:05:00", "ended", A2, "general", day=NEXT, outcome="completed", reason="caller_hangup"),
        state("c7", "00:05:00", A2, "wrapup", day=NEXT),
        state("c7", "00:06:00", A2, "available", day=NEXT),
    ]


def agent_timeline() -> list[CallEvent]:
    """The state changes that belong to no call (call_id NULL)."""
    return [
        state(None, "07:55:00", A1, "available"),
        state(None, "12:00:00", A1, "logged_out"),
        state(None, "09:00:00", A3, "available"),
        state(None, "12:00:00", A3, "logged_out"),
        state(None, "10:55:00", A2, "available"),
        state(None, "11:30:00", A2, "paused"),
        state(None, "23:50:00", A2, "available"),
        state(None, "00:30:00", A2, "logged_out", day=NEXT),
    ]


# (call id, campaign, clock, AMD verdict, attempt result, patient's outcomes in order)
OUTBOUND = [
    ("o1", "cardio-followup", "14:00:00", "HUMAN", "person", ["confirmed"]),
    ("o2", "cardio-followup", "14:01:00", "MACHINE", "machine", ["message_left"]),
    ("o3", "cardio-followup", "14:02:00", None, "no_answer", []),
    ("o4", "cardio-followup", "14:03:00", "HUMAN", "abandoned", []),
    ("o5", "cardio-followup", "14:04:00", "HUMAN", "person", ["opted_out"]),
    ("o6", "reminders", "14:05:00", "HUMAN", "person", ["cancelled"]),
]


def outbound_calls() -> list[CallEvent]:
    rows = []
    for n, (call_id, campaign, clock, amd, result, outcomes) in enumerate(OUTBOUND, start=1):
        rows.append(ev(call_id, clock, "campaign_dialed", campaign=campaign, target_id=n, attempt_id=n,
                       mode="automated"))
        if amd:
            rows.append(ev(call_id, clock, "campaign_answered", campaign=campaign, amd_status=amd,
                           amd_cause="x"))
        rows += [ev(call_id, clock, "campaign_outcome", campaign=campaign, outcome=o) for o in outcomes]
        rows.append(ev(call_id, clock, "campaign_attempt_ended", campaign=campaign, target_id=n,
                       attempt_id=n, result=result, amd_status=amd,
                       outcome=outcomes[-1] if outcomes else None))
    # O7: its end is not in the log (a worker died); the attempt row says it was busy.
    rows.append(ev("o7", "14:06:00", "campaign_dialed", campaign="cardio-followup", target_id=7,
                   attempt_id=7, mode="automated"))
    return rows


def seed(session) -> None:
    session.add_all([
        Queue(name="scheduling", title="Scheduling", skill="scheduling", service_level_seconds=30),
        Queue(name="clinical", title="Clinical advice", skill="clinical", service_level_seconds=120),
        Queue(name="general", title="General", skill="general", service_level_seconds=30),
        Agent(id=A1, number="1001", name="Ana", endpoint="Local/1001"),
        Agent(id=A2, number="1002", name="Ben", endpoint="Local/1002"),
        Agent(id=A3, number="1003", name="Nia", endpoint="Local/1003"),
        Patient(id=1, mrn="M1", given_name="P", family_name="One", date_of_birth=date(1950, 1, 1)),
        Patient(id=2, mrn="M2", given_name="P", family_name="Two", date_of_birth=date(1960, 1, 1)),
        Campaign(name="cardio-followup", kind="discharge_followup", title="Cardiology follow-up",
                 source_yaml="{}"),
        Campaign(name="reminders", kind="appointment_reminder", title="Reminders", source_yaml="{}"),
    ])
    session.flush()
    session.add_all(inbound_calls() + agent_timeline() + outbound_calls())
    _outbound_rows(session)
    _relationship_rows(session)


def _outbound_rows(session) -> None:
    session.add(CampaignTarget(id=7, campaign_name="cardio-followup", patient_id=2, subject_kind="patient",
                               subject_id=2, status="pending"))
    session.flush()
    session.add(CampaignAttempt(id=7, target_id=7, campaign_name="cardio-followup", patient_id=2,
                                call_id="o7", started_at=at("14:06:00"), result="busy"))


def _relationship_rows(session) -> None:
    # Discharges of the day: E1 followed up (a completed target), E2 not; a visit is no discharge.
    session.add_all([
        Encounter(id=1, patient_id=1, kind="admission", department="Cardiology", started_at=at("08:00", date(
            2026, 11, 20)), discharged_at=at("10:00")),
        Encounter(id=2, patient_id=2, kind="admission", department="Cardiology", started_at=at("08:00", date(
            2026, 11, 21)), discharged_at=at("16:00")),
        Encounter(id=3, patient_id=2, kind="visit", department="Clinic", started_at=at("09:00"),
                  discharged_at=at("09:30")),
    ])
    session.flush()
    session.add(CampaignTarget(id=8, campaign_name="cardio-followup", patient_id=1, subject_kind="encounter",
                               subject_id=1, status="completed"))
    session.add_all([
        SurveyResponse(campaign_name="satisfaction", patient_id=1, score=5, created_at=at("15:00")),
        SurveyResponse(campaign_name="satisfaction", patient_id=2, score=4, created_at=at("15:10")),
        SurveyResponse(campaign_name="satisfaction", patient_id=1, score=2, created_at=at("15:20")),
        Complaint(serial="K1", patient_id=1, status="resolved", opened_at=at("12:00", date(2026, 11, 20)),
                  resolved_at=at("12:00")),
        Complaint(serial="K2", patient_id=2, status="resolved", opened_at=at("09:00"),
                  resolved_at=at("15:00")),
        Complaint(serial="K3", patient_id=2, status="received", opened_at=at("10:00")),
    ])

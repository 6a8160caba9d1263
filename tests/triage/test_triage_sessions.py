"""The triage session model and its record as call events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callcenter.db.models import CallEvent
from callcenter.eventlog import EventLog
from callcenter.triage.exceptions import (
    NoSession,
    OutOfOrder,
    SessionExists,
    TriageFinished,
    UnknownLanguage,
    UnknownProtocol,
)
from callcenter.triage.services import TriageService, TriageSession

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=5)
        return self.now


@dataclass
class Written:
    call_id: str
    type: str
    agent_id: int | None
    ts: datetime
    data: dict


class FakeEvents:
    def __init__(self):
        self.rows: list[Written] = []

    def event(self, call_id, type_, *, agent_id=None, ts=None, **data):
        self.rows.append(Written(call_id, type_, agent_id, ts, data))
        return ts


@pytest.fixture
def service() -> TriageService:
    return TriageService.from_files(FakeEvents(), clock=Clock())


def test_given_a_started_protocol_then_the_first_question_is_shown_and_recorded_with_time_and_agent(service):
    session = service.start("call-1", "chest_pain", "es", agent_id=3, suggested=["chest_pain"])
    assert session.current.id == "unresponsive"
    view = session.view()
    assert view["state"] == "asking" and view["current"]["index"] == 1
    assert view["current"]["text"].startswith("¿La persona está inconsciente")
    started, shown = service.events.rows
    assert (started.type, started.call_id, started.agent_id, started.ts) == ("triage_started", "call-1", 3,
                                                                             T0 + timedelta(seconds=5))
    assert started.data == {"protocol": "chest_pain", "version": 1, "language": "es",
                            "suggested": ["chest_pain"]}
    assert shown.type == "triage_question_shown"
    assert shown.data["question"] == "unresponsive" and shown.data["index"] == 1
    assert shown.data["text"] == view["current"]["text"], "the record keeps the words that were shown"


def test_given_no_then_yes_when_answered_then_the_yes_decides_and_every_step_is_in_the_record(service):
    service.start("call-1", "chest_pain", "en", agent_id=3)
    service.answer("call-1", "unresponsive", False, agent_id=3)
    session = service.answer("call-1", "heart_attack_signs", True, agent_id=4, user_id=40)

    assert session.current is None
    view = session.view()
    assert view["state"] == "decided"
    assert view["disposition"]["id"] == "call_emergency_services_now"
    assert view["disposition"]["action"] == "emergency_services"
    assert view["disposition"]["escalation_required"] is True
    assert view["disposition"]["decided_by"] == "heart_attack_signs"
    assert view["disposition"]["advice"].startswith("Call the emergency number now.")
    assert [(s["question"], s["answer"], s["answered_by"]) for s in view["steps"]] == [
        ("unresponsive", "no", 3), ("heart_attack_signs", "yes", 4)]
    types = [(r.type, r.data.get("question") or r.data.get("disposition")) for r in service.events.rows]
    assert types == [("triage_started", None), ("triage_question_shown", "unresponsive"),
                     ("triage_answered", "unresponsive"), ("triage_question_shown", "heart_attack_signs"),
                     ("triage_answered", "heart_attack_signs"),
                     ("triage_disposition", "call_emergency_services_now")]
    last = service.events.rows[-1]
    assert (last.agent_id, last.data["user_id"], last.data["version"]) == (4, 40, 1)
    stamps = [r.ts for r in service.events.rows]
    assert stamps == sorted(stamps)


def test_given_a_question_not_on_screen_when_answered_then_refused(service):
    service.start("call-1", "headache", "en")
    service.give_age("call-1", 40 * 12)  # headache asks the age first (issue 13)
    with pytest.raises(OutOfOrder):
        service.answer("call-1", "after_head_injury", True)
    assert service.session("call-1").current.id == "thunderclap"


def test_given_a_decided_session_when_answered_again_or_restarted_then_finished_or_new_protocol(service):
    service.start("call-1", "headache", "en")
    service.give_age("call-1", 40 * 12)
    service.answer("call-1", "thunderclap", True)
    with pytest.raises(TriageFinished):
        service.answer("call-1", "neurological_signs", False)
    # A decided session may be followed by another protocol; one still asking may not.
    service.start("call-1", "stroke_signs", "en")
    with pytest.raises(SessionExists):
        service.start("call-1", "chest_pain", "en")


def test_given_bad_requests_then_clear_errors(service):
    with pytest.raises(UnknownProtocol):
        service.start("call-1", "toothache", "en")
    with pytest.raises(UnknownLanguage):
        service.start("call-1", "headache", "fr")
    with pytest.raises(NoSession):
        service.answer("call-2", "thunderclap", True)


def test_given_the_recorded_events_when_replayed_then_the_same_session_comes_back(service):
    service.start("call-1", "infant_fever", "es", agent_id=2)
    service.give_age("call-1", 1, agent_id=2)
    for question in ("unresponsive_or_fit", "breathing_or_colour", "non_blanching_rash"):
        service.answer("call-1", question, False, agent_id=2)
    service.answer("call-1", "temperature_38", True, agent_id=2)
    original = service.session("call-1").view()
    service.forget("call-1")

    replayed = service.resume("call-1", service.events.rows)
    assert replayed.view() == original
    assert replayed.view()["disposition"]["id"] == "emergency_department_now"


def test_given_a_call_reason_and_ivr_path_when_suggesting_then_reason_first_then_ivr_then_queue(service):
    assert service.suggest([{"node": "main", "key": "3"}], "nurse", "stomach ache")[:3] == [
        "abdominal_pain", "medication_side_effects", "headache"]
    titles = [p["title"] for p in service.catalogue("es")]
    assert "Dolor de cabeza" in titles and titles == sorted(titles)


async def test_given_a_real_event_log_when_triage_runs_then_the_call_events_hold_the_record(db):
    events = EventLog(db)
    await events.start()
    try:
        service = TriageService.from_files(events)
        service.start("call-9", "suicidal_thoughts", "en", agent_id=5)
        service.answer("call-9", "in_danger_now", False, agent_id=5)
        service.answer("call-9", "plan_and_means", True, agent_id=5)
        await events.flush()
    finally:
        await events.close()
    def stored(session):
        query = select(CallEvent).where(CallEvent.call_id == "call-9").order_by(CallEvent.id)
        return [(r.type, r.agent_id, dict(r.data), r.ts) for r in session.scalars(query)]
    rows = await db.run(stored)
    assert [r[0] for r in rows] == ["triage_started", "triage_question_shown", "triage_answered",
                                    "triage_question_shown", "triage_answered", "triage_disposition"]
    assert all(r[1] == 5 and r[2]["protocol"] == "suicidal_thoughts" and r[2]["version"] == 1 for r in rows)
    assert rows[-1][2]["disposition"] == "call_emergency_services_now"
    assert rows[2][2]["answer"] == "no" and rows[4][2]["answer"] == "yes"
    replayed = TriageSession.replay(
        [Written("call-9", t, a, ts, d) for t, a, d, ts in rows], service.protocols, service.ladder)
    assert replayed.decision.decided_by == "plan_and_means"

"""The hotline's self-service (issue 17) end to end on the engine: a fake port at the ARI boundary (keys on a
virtual clock), the real flow file and the real self-service actions on both databases."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ivr_fakes import ScriptedPort, line_of, write
from sqlalchemy import select

from callcenter.complaints import serial as serials
from callcenter.complaints.voice import SummaryVoice
from callcenter.db.models import Appointment, AuditEvent, Call, CallSurvey, Complaint, Patient
from callcenter.ivr import Enqueue, FlowError, Hangup, run_flow
from callcenter.private_files import write_private
from callcenter.selfservice.actions import SelfService, load_inbound_flow

HOTLINE = load_inbound_flow(Path(__file__).resolve().parents[2] / "ivr_flows" / "hotline.yaml")
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
CALL_ID = "c" * 32
ENGLISH, SELF_SERVICE, MY_APPOINTMENT = "1", "6", "1"
CONFIRM, CANCEL = "1", "2"


@dataclass
class SelfServicePort(ScriptedPort):
    """The scripted caller, with the flow's actions run by the real self-service of one call."""
    runner: Any = None

    async def action(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str:
        self.actions.append((name, dict(args)))
        return await self.runner.run(name, args, context)


def typed(*keys: str) -> list[tuple[float, str]]:
    """Keys typed ahead from the first second on, in this order (the engine buffers what comes early)."""
    return [(1.0 + i / 100, key) for i, key in enumerate("".join(keys))]


def add_patient(db, mrn: str, born: date, *, starts_in: timedelta | None = timedelta(days=2),
                status: str = "booked") -> tuple[int, int | None]:
    with db.session() as s:
        patient = Patient(mrn=mrn, given_name="Ada", family_name="Lovelace", date_of_birth=born, sex="F",
                          language="en", time_zone="America/New_York")
        s.add(patient)
        s.flush()
        appointment = None
        if starts_in is not None:
            appointment = Appointment(patient_id=patient.id, department="Cardiology",
                                      starts_at=NOW + starts_in, status=status)
            s.add(appointment)
            s.flush()
        return patient.id, appointment.id if appointment else None


async def run(db, presses, *candidates: int) -> tuple[Any, SelfServicePort]:
    call = SimpleNamespace(id=CALL_ID, patients=[{"id": c} for c in candidates])
    port = SelfServicePort(presses, runner=SelfService(db, time_zone="America/Los_Angeles",
                                                       clock=lambda: NOW).bind(call))
    return await run_flow(HOTLINE, port, {}), port


def status_of(db, appointment_id: int) -> str:
    with db.session() as s:
        return s.get(Appointment, appointment_id).status


def audits(db) -> list[tuple[str, int | None, dict]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert all(r.actor_user_id is None and r.actor_agent_id is None and r.actor_client_id is None
                   for r in rows), "the automated actor: no user, desk or API client"
        return [(r.action, r.patient_id, r.detail) for r in rows]


async def test_given_a_number_of_one_patient_when_the_caller_cancels_then_the_appointment_is_cancelled(db):
    patient_id, appointment_id = add_patient(db, "MRN-1", date(1960, 12, 10))

    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, MY_APPOINTMENT, CANCEL), patient_id)

    assert outcome == Hangup("cancelled")
    assert status_of(db, appointment_id) == "cancelled"
    assert audits(db) == [
        ("ivr_appointment_read", patient_id, {"via": "hotline_ivr", "appointment_id": appointment_id}),
        ("appointment_cancelled_by_patient", patient_id, {"appointment_id": appointment_id,
                                                          "via": "hotline_ivr"})]
    played = port.prompts_played()
    assert "callcenter/your-appointment" in played and "callcenter/ask-date-of-birth" not in played
    # The date is said in the patient's time zone: Thursday Nov 26, 10:00 in New York (15:00 UTC).
    assert {"digits/day-4", "digits/mon-10", "number:26", "number:10"} <= set(played)


async def test_given_a_shared_number_when_a_wrong_then_the_right_birth_date_is_typed_then_verified(db):
    ada, ada_appointment = add_patient(db, "MRN-1", date(1960, 12, 10))
    bob, bob_appointment = add_patient(db, "MRN-2", date(1990, 1, 2))

    keys = typed(ENGLISH, SELF_SERVICE, MY_APPOINTMENT, "12101961", "01021990", CONFIRM)
    outcome, port = await run(db, keys, ada, bob)

    assert outcome == Hangup("confirmed")
    assert (status_of(db, ada_appointment), status_of(db, bob_appointment)) == ("booked", "confirmed")
    assert port.prompts_played().count("callcenter/date-of-birth-wrong") == 1
    rows = audits(db)
    checks = [(action, patient, detail["verified"]) for action, patient, detail in rows
              if action == "ivr_identity_check"]
    assert sorted(checks) == sorted([("ivr_identity_check", ada, False), ("ivr_identity_check", bob, False),
                                     ("ivr_identity_check", ada, False), ("ivr_identity_check", bob, True)])
    assert [a for a, _, _ in rows][-2:] == ["ivr_appointment_read", "appointment_confirmed_by_patient"]
    assert "12101961" not in repr(port.events), "what the caller typed is never an event"


async def test_given_three_wrong_birth_dates_when_verifying_then_a_person_takes_the_call_and_nothing_changes(
        db):
    ada, ada_appointment = add_patient(db, "MRN-1", date(1960, 12, 10))
    bob, _ = add_patient(db, "MRN-2", date(1990, 1, 2))

    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, MY_APPOINTMENT, "11111111", "13451990",
                                        "01011990", CANCEL), ada, bob)

    assert outcome == Enqueue("appointments")
    assert status_of(db, ada_appointment) == "booked"
    assert port.prompts_played().count("callcenter/date-of-birth-wrong") == 2
    assert "callcenter/not-identified" in port.prompts_played()
    assert [name for name, _ in port.actions] == ["patient.identify"] + ["patient.verify_dob"] * 3


async def test_given_an_unknown_number_when_the_caller_asks_for_the_appointment_then_scheduling_takes_it(db):
    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, MY_APPOINTMENT))

    assert outcome == Enqueue("appointments")
    assert "callcenter/not-identified" in port.prompts_played()
    assert audits(db) == []


@pytest.mark.parametrize("status, starts_in", [("cancelled", timedelta(days=2)),
                                               ("booked", -timedelta(hours=1))])
async def test_given_no_appointment_ahead_when_the_caller_asks_then_told_so_and_queued(db, status, starts_in):
    patient_id, appointment_id = add_patient(db, "MRN-1", date(1960, 12, 10), starts_in=starts_in,
                                             status=status)

    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, MY_APPOINTMENT, CANCEL), patient_id)

    assert outcome == Enqueue("appointments")
    assert "callcenter/no-appointment" in port.prompts_played()
    assert status_of(db, appointment_id) == status


async def test_given_a_confirmed_appointment_when_the_caller_confirms_again_then_it_stays_confirmed(db):
    patient_id, appointment_id = add_patient(db, "MRN-1", date(1960, 12, 10), status="confirmed")

    outcome, _ = await run(db, typed(ENGLISH, SELF_SERVICE, MY_APPOINTMENT, CONFIRM), patient_id)

    assert outcome == Hangup("confirmed")
    assert status_of(db, appointment_id) == "confirmed"


FLOW = """\
name: t
version: 1
description: d
languages: [en]
start: who
nodes:
  who:
    type: action
    action: patient.identfy
    next: bye
  verify:
    type: action
    action: patient.verify_dob
    outcomes: {verified: bye}
    next: bye
  bye: {type: hangup}
"""


def test_given_an_inbound_flow_with_a_misspelt_action_and_an_unwired_result_then_file_line_errors(tmp_path):
    text = FLOW.replace("start: who", "start: who\n").replace("next: bye\n  verify", "next: verify\n  verify")
    path = write(tmp_path, text)

    with pytest.raises(FlowError) as caught:
        load_inbound_flow(path)

    message = str(caught.value)
    assert f"{path}:{line_of(text, 'patient.identfy')}: " in message
    assert "did you mean 'patient.identify'" in message
    assert f"{path}:{line_of(text, 'outcomes: {verified')}: " in message
    assert "retry, failed" in message


# ---- a ticket's status by its serial number ----

TICKET_STATUS = "2"


def add_ticket(db, sequence: int, *, status: str = "in_progress", patient_id: int | None = None) -> str:
    serial = serials.make(2026, sequence)
    with db.session() as s:
        s.add(Complaint(serial=serial, serial_year=2026, serial_seq=sequence, kind="complaint", status=status,
                        patient_id=patient_id, text="The parking machine kept my card.",
                        resolution_text="Refunded." if status == "resolved" else ""))
    return serial


def nodes(port: SelfServicePort) -> list[str]:
    return [event["node"] for event in port.named("ivr_node")]


def wrong_check_digit(serial: str) -> str:
    return serial[:-1] + str((int(serial[-1]) + 1) % 10)


async def test_given_a_wrong_check_digit_when_typed_then_the_caller_is_told_and_the_right_number_is_heard(db):
    serial = add_ticket(db, 7)

    keys = typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, wrong_check_digit(serial), serial)
    outcome, port = await run(db, keys)

    assert outcome == Hangup("ticket_status")
    played = port.prompts_played()
    assert played.count("callcenter/ticket-check-digit-wrong") == 1
    assert "callcenter/ticket-in-progress" in played
    assert [e["result"] for e in port.named("ivr_action")] == ["wrong_check_digit", "found"]
    assert audits(db) == [], "an anonymous ticket's status is nobody's record"


async def test_given_three_bad_numbers_when_typed_then_patient_relations_takes_the_call(db):
    serial = add_ticket(db, 7)
    unknown = serials.make(2026, 8)

    keys = typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, wrong_check_digit(serial), unknown,
                 wrong_check_digit(unknown), serial)
    outcome, port = await run(db, keys)

    assert outcome == Enqueue("complaints")
    assert [e["result"] for e in port.named("ivr_action")] == ["wrong_check_digit", "unknown", "failed"]
    assert "callcenter/ticket-unknown" in port.prompts_played()


async def test_given_a_patients_ticket_and_an_unknown_number_when_the_birth_date_matches_then_status_told(db):
    patient_id, _ = add_patient(db, "MRN-1", date(1960, 12, 10), starts_in=None)
    serial = add_ticket(db, 9, status="resolved", patient_id=patient_id)

    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, serial, "12101960", "1"))

    assert outcome == Enqueue("complaints"), "1 after a resolved status: patient relations reads the result"
    # Resolved without a summary for the patient: nothing to play, a person tells the result.
    assert [e["result"] for e in port.named("ivr_action")] == ["verify", "verified", "found", "none"]
    assert "ticket_resolved" in nodes(port), "told it is resolved (the key typed ahead skips the prompt)"
    assert [(action, patient) for action, patient, _ in audits(db)] == [
        ("ivr_identity_check", patient_id), ("ivr_complaint_status", patient_id)]


async def test_given_a_patients_ticket_and_a_wrong_birth_date_then_the_status_is_never_told(db):
    patient_id, _ = add_patient(db, "MRN-1", date(1960, 12, 10), starts_in=None)
    serial = add_ticket(db, 9, status="resolved", patient_id=patient_id)

    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, serial, "01011990" * 3))

    assert outcome == Enqueue("complaints")
    assert "ticket_resolved" not in nodes(port)
    assert "ivr_complaint_status" not in [action for action, _, _ in audits(db)]


async def test_given_a_patients_ticket_when_they_call_from_their_number_then_told_without_birth_date(db):
    patient_id, _ = add_patient(db, "MRN-1", date(1960, 12, 10), starts_in=None)
    serial = add_ticket(db, 9, status="received", patient_id=patient_id)

    outcome, port = await run(db, typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, serial), patient_id)

    assert outcome == Hangup("ticket_status")
    assert "callcenter/ticket-received" in port.prompts_played()
    assert "callcenter/ask-date-of-birth" not in port.prompts_played()
    assert [(action, patient) for action, patient, _ in audits(db)] == [("ivr_complaint_status", patient_id)]


# ---- a resolved ticket's summary for the patient, spoken (complaints/voice.py) ----


class SpeakingCall(SimpleNamespace):
    """The live call as the summary action uses it: Asterisk's end state of each playback is `ends`."""

    def __init__(self, patients: list[int], ends: str = "done"):
        super().__init__(id=CALL_ID, patients=[{"id": p} for p in patients], played=[], logged=[])
        self.ends = ends
        self.media = SimpleNamespace(play=self.play)  # the call's media part (calls/services.CallMedia)

    async def play(self, media: list[str]):
        self.played.append(media)
        done = asyncio.get_running_loop().create_future()
        done.playback_id = f"pb{len(self.played)}"
        done.set_result(self.ends)
        return done

    def log(self, type_: str, **data) -> None:
        self.logged.append((type_, data))


def voice_with_file(tmp_path, ticket_id: int | None) -> SummaryVoice:
    voice = SummaryVoice(tmp_path / "summaries", {"en": "en-us", "es": "es-419"})
    if ticket_id is not None:
        write_private(voice.path(ticket_id), b"RIFF")
    return voice


def add_summary(db, serial: str, summary: str) -> int:
    with db.session() as s:
        ticket = s.scalars(select(Complaint).where(Complaint.serial == serial)).one()
        ticket.patient_summary, ticket.summary_language = summary, "en"
        return ticket.id


async def run_speaking(db, presses, call: SpeakingCall, voice: SummaryVoice):
    service = SelfService(db, clock=lambda: NOW, voice=voice)
    port = SelfServicePort(presses, runner=service.bind(call))
    return await run_flow(HOTLINE, port, {}), port


async def test_given_a_resolved_ticket_with_a_summary_when_its_patient_calls_then_played_after_the_status(
        db, tmp_path):
    patient_id, _ = add_patient(db, "MRN-1", date(1960, 12, 10), starts_in=None)
    serial = add_ticket(db, 9, status="resolved", patient_id=patient_id)
    ticket_id = add_summary(db, serial, "We refunded the parking fee.")
    call = SpeakingCall([patient_id])

    outcome, port = await run_speaking(db, typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, serial, "1"), call,
                                       voice_with_file(tmp_path, ticket_id))

    assert outcome == Enqueue("complaints"), "1 after the summary: the team"
    assert call.played == [["sound:callcenter/ticket-result-is"], [f"sound:{tmp_path}/summaries/{ticket_id}"]]
    assert nodes(port).index("ticket_resolved") < nodes(port).index("ticket_summary")
    assert [e["result"] for e in port.named("ivr_action")] == ["found", "played"]
    assert [t for t, _ in call.logged] == ["ticket_summary_playing", "ticket_summary_played"]
    assert [(action, patient) for action, patient, _ in audits(db)] == [
        ("ivr_complaint_status", patient_id), ("ivr_complaint_summary", patient_id)]
    assert "parking" not in repr(call.logged) + repr(port.events), "the words are never an event"


@pytest.mark.parametrize("file, ends", [(False, "done"), (True, "failed")])
async def test_given_a_summary_without_audio_or_failing_to_play_when_heard_then_a_person_is_offered(
        db, tmp_path, file, ends):
    serial = add_ticket(db, 9, status="resolved")
    ticket_id = add_summary(db, serial, "We refunded the parking fee.")
    call = SpeakingCall([], ends=ends)

    outcome, port = await run_speaking(db, typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, serial, "1"), call,
                                       voice_with_file(tmp_path, ticket_id if file else None))

    assert outcome == Enqueue("complaints")
    assert [e["result"] for e in port.named("ivr_action")] == ["found", "unavailable"]
    assert "ticket_summary_unavailable" in nodes(port), "a menu offering the team (the key typed ahead)"
    assert len(call.played) == (2 if file else 0), "the intro, then the summary"


async def test_given_a_patients_resolved_ticket_and_a_wrong_birth_date_then_the_summary_is_never_played(
        db, tmp_path):
    patient_id, _ = add_patient(db, "MRN-1", date(1960, 12, 10), starts_in=None)
    serial = add_ticket(db, 9, status="resolved", patient_id=patient_id)
    ticket_id = add_summary(db, serial, "We refunded the parking fee.")
    call = SpeakingCall([])

    outcome, port = await run_speaking(db, typed(ENGLISH, SELF_SERVICE, TICKET_STATUS, serial,
                                                 "01011990" * 3), call, voice_with_file(tmp_path, ticket_id))

    assert outcome == Enqueue("complaints")
    assert call.played == [] and "ticket.summary" not in [name for name, _ in port.actions]


# ---- the survey after an inbound call (ivr_flows/post-call-survey.yaml) ----

SURVEY = load_inbound_flow(Path(__file__).resolve().parents[2] / "ivr_flows" / "post-call-survey.yaml")


async def run_survey(db, presses) -> tuple[Any, CallSurvey]:
    with db.session() as s:
        s.add(Call(id=CALL_ID, status="connected", queue_name="results"))
    service = SelfService(db, clock=lambda: NOW)
    await service.surveys.start(CALL_ID, None, "results")
    port = SelfServicePort(presses, runner=service.bind(SimpleNamespace(id=CALL_ID, patients=[])))
    outcome = await run_flow(SURVEY, port, {})
    with db.session() as s:
        row = s.scalars(select(CallSurvey)).one()
        s.expunge(row)
    return outcome, row


async def test_given_the_post_call_survey_when_answered_then_both_answers_are_stored(db):
    outcome, row = await run_survey(db, [(1.0, "4"), (12.0, "2")])

    assert outcome == Hangup("survey_done")
    assert (row.queue_name, row.satisfaction, row.resolved, row.answered_at) == ("results", 4, False, NOW)


async def test_given_the_post_call_survey_when_a_wrong_key_then_asked_again_and_silence_skips_a_question(db):
    outcome, row = await run_survey(db, [(1.0, "7"), (12.0, "5")])   # then silence at the second question

    assert outcome == Hangup("survey_incomplete")
    assert (row.satisfaction, row.resolved) == (5, None), "no answer is invented"

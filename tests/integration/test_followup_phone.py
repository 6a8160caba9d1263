"""Follow-up questionnaires by automated phone on real calls (issue 16 item 2): the dialer calls simulated
patients through the sandbox Asterisk, the `followup` node of ivr_flows/followup-questionnaire.yaml asks the
questionnaire with real prompts, the patient's phone answers with real keys (typed ahead, as a patient who
knows the questions would), and the database shows the answers, the spoken answer's recording, the red
flag's escalation and what a hang-up keeps.

Simulated phones as in test_campaign_flows.py; SIM_TALK_<digits> = 1 makes the phone talk after its keys
("hello" then '#', again and again): the spoken answer is said and ended with '#'; = 2 talks without '#'.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, update

from callcenter.db.models import (
    Call,
    CampaignAttempt,
    Encounter,
    FollowUpAnswer,
    FollowUpResponse,
    Recording,
)
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import QuestionnaireService

from .test_campaign_flows import FOLLOWUP, all_rows, campaign, patient

FLOW = ("discharge_followup", FOLLOWUP[1], "followup-questionnaire")


@pytest.fixture
async def center(campaign_center):
    """The campaign tests' product, with the shipped questionnaires loaded (as `questionnaires load` does)."""
    bank = load_bank()
    items = [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()]
    await QuestionnaireService(campaign_center.s.db).load(bank, items)
    return campaign_center


def questionnaire_campaign(questionnaire: str | None = None, department: str = "Surgery"
                           ) -> tuple[str, str, str]:
    """The campaign of patients discharged from `department`, with its `questionnaire:` when given."""
    target = f"{{rule: discharged, department: {department}, within_days: 2}}"
    flow = FLOW[2] + (f"\nquestionnaire: {questionnaire}" if questionnaire else "")
    return FLOW[0], target, flow


async def move_to(center, patient_id: int, department: str) -> None:
    await center.s.db.run(lambda s: s.execute(
        update(Encounter).where(Encounter.patient_id == patient_id).values(department=department)))


async def answers(center, **where) -> dict[str, FollowUpAnswer]:
    await center.s.events.flush()
    rows = await center.s.db.run(lambda s: list(s.scalars(
        select(FollowUpAnswer).filter_by(**where).order_by(FollowUpAnswer.id))))
    return {row.question_code: row for row in rows}


async def talks(center, n: int, how: str = "1") -> None:
    await center.ari.set_global_variable(f"SIM_TALK_1555{n:07d}", how)


async def test_given_automated_followups_when_patients_answer_each_type_by_keys_then_stored_and_recorded(
        center):
    # Wound check: redness yes, clear fluid (2), not opened, fever yes, 37.5 (shown: fever and redness), pain
    # 4 then #, then a spoken answer ended with '#'. Research: health 11 # (out of range: said so, asked
    # again), 10 #, pain 3 #, back to usual activities on 02/11/2026, a heart problem and a fall then #, not
    # readmitted.
    wound_patient = await patient(center, 500, "1,2,2,1,3,7,*,5,#,4,#", subject="discharge")
    await talks(center, 500)
    research_keys = "1,1,#,1,0,#,3,#,1,0,2,1,1,2,0,2,6,3,4,#,2"
    research_patient = await patient(center, 501, research_keys, subject="discharge")
    await move_to(center, research_patient, "Cardiology")
    wound, _ = await campaign(center, "fu-wound", questionnaire_campaign())
    research, _ = await campaign(center, "fu-research",
                                 questionnaire_campaign("research_recovery_outcomes", "Cardiology"))

    reports = await asyncio.wait_for(asyncio.gather(wound.run("fu-wound"), research.run("fu-research")), 180)

    assert [r.results for r in reports] == [{"person": 1}, {"person": 1}]
    responses = {r.patient_id: r for r in await all_rows(center, FollowUpResponse)}
    wound_answers = await answers(center, response_id=responses[wound_patient].id)
    spoken = wound_answers["spoken_message"].value["value"]
    assert {code: row.value["value"] for code, row in wound_answers.items()} == {
        "wound_redness": True, "wound_discharge": "clear", "wound_opening": False,
        "fever_since_discharge": True, "body_temperature": 37.5, "pain_score": 4, "spoken_message": spoken}
    research_answers = await answers(center, response_id=responses[research_patient].id)
    assert {code: row.value["value"] for code, row in research_answers.items()} == {
        "quality_of_life_eq_vas": 10, "pain_score": 3, "returned_to_usual_activities": True,
        "usual_activities_date": "2026-11-02", "new_health_problems": ["heart", "fall"],
        "readmitted_or_ed_visit": False}
    attempts = {a.patient_id: a for a in await all_rows(center, CampaignAttempt)}
    for patient_id, found in ((wound_patient, wound_answers), (research_patient, research_answers)):
        call_id = attempts[patient_id].call_id
        assert {(row.channel, row.answered_by, row.agent_user_id, row.call_id) for row in found.values()} == {
            ("phone", "automated", None, call_id)}
        assert (responses[patient_id].channel, responses[patient_id].call_id) == ("phone", call_id)
        assert attempts[patient_id].outcome == "completed"
    research_events = await center.events(attempts[research_patient].call_id)
    assert [e.data for e in research_events if e.type == "ivr_invalid"] == [
        {"node": "questions", "question": "quality_of_life_eq_vas", "attempt": 1}]
    wound_events = await center.events(attempts[wound_patient].call_id)
    assert [e.data for e in wound_events if e.type == "ivr_invalid"] == []
    # The spoken answer is the call's recording of that name, brought home like a conversation's.
    await center.s.recordings.wait_idle()
    (recording,) = await all_rows(center, Recording, Recording.name == spoken)
    assert recording.call_id == attempts[wound_patient].call_id
    assert (Path(center.s.cfg.path(center.s.cfg.recordings.dir)) / recording.path).stat().st_size > 44
    assert 0 < recording.duration_seconds < 60  # ended by the patient's '#', not by the question's limit


async def test_given_a_red_flag_answer_and_a_free_nurse_when_keyed_then_the_nurse_is_bridged_in_the_call(
        center):
    # Redness no, then "blood that does not stop with pressure" (4): nurse now, by nurse transfer.
    patient_id = await patient(center, 510, "2,4", subject="discharge")
    await center.set_agent("1004", "available")
    dialer, _ = await campaign(center, "fu-red-flag", questionnaire_campaign())

    run = asyncio.create_task(dialer.run("fu-red-flag"))
    try:
        row = await center.wait_for(lambda: _connected(center), 120, "the patient bridged to the nurse")
        assert (row.queue_name, row.priority, row.patient_id) == ("nurse", 100, patient_id)
        assert row.agent_id == center.s.queues.agent("1004").id
        await center.ari.hangup(center.s.router.find(row.id).channel.id)
        await asyncio.wait_for(run, 60)
    finally:
        run.cancel()

    stored = await answers(center, call_id=row.id)
    assert list(stored) == ["wound_redness", "wound_discharge"]
    flagged = stored["wound_discharge"]
    assert (flagged.red_flag_disposition, flagged.red_flag_escalation) == ("nurse_now", "nurse_transfer")
    events = await center.events(row.id)
    assert [e.data["question"] for e in events if e.type == "followup_red_flag"] == ["wound_discharge"]
    # The same fact a triage protocol's red flag writes: the nurse's wrap-up rule and the KPIs see it.
    facts = [e.data for e in events if e.type == "triage_disposition"]
    assert [(f["protocol"], f["disposition"]) for f in facts] == [
        ("followup:post_surgery_wound_check", "nurse_now")]
    (attempt,) = await all_rows(center, CampaignAttempt)
    assert attempt.outcome == "red_flag"


async def _connected(center) -> Call | None:
    rows = await all_rows(center, Call, Call.status == "connected")
    return rows[0] if rows else None


async def test_given_a_patient_who_hangs_up_midway_when_two_answers_were_given_then_they_stay_and_no_more(
        center):
    # Two answers typed, then the patient hangs up while the third question waits for a key.
    patient_id = await patient(center, 520, "1,2", subject="discharge")
    dialer, _ = await campaign(center, "fu-hang-up", questionnaire_campaign())

    run = asyncio.create_task(dialer.run("fu-hang-up"))
    try:
        async def two_answers():
            found = await answers(center)
            return len(found) == 2 and found
        await center.wait_for(two_answers, 120, "two answers stored")
        (call,) = center.s.router.live_calls()
        await center.ari.hangup(call.channel.id)
        report = await asyncio.wait_for(run, 60)
    finally:
        run.cancel()

    assert report.results == {"person": 1}
    (response,) = await all_rows(center, FollowUpResponse)
    stored = await answers(center, response_id=response.id)
    assert {code: row.value["value"] for code, row in stored.items()} == {
        "wound_redness": True, "wound_discharge": "clear"}
    assert response.patient_id == patient_id
    events = await center.events(response.call_id)
    assert [e.type for e in events if e.type == "followup_finished"] == []
    (attempt,) = await all_rows(center, CampaignAttempt)
    assert attempt.outcome is None and attempt.call_id == response.call_id


async def test_given_a_patient_who_hangs_up_while_speaking_when_the_call_ends_then_the_answer_is_stored(
        center):
    # No redness, no fluid, not opened, no fever, pain 4 #: then the spoken answer, never ended with '#': the
    # patient talks and hangs up 40 s after the last key, some 30 s into the recording.
    patient_id = await patient(center, 530, "2,1,2,2,4,#", subject="discharge")
    await talks(center, 530, "2")
    dialer, _ = await campaign(center, "fu-hang-up-speaking", questionnaire_campaign())

    report = await asyncio.wait_for(dialer.run("fu-hang-up-speaking"), 180)

    assert report.results == {"person": 1}
    (response,) = await all_rows(center, FollowUpResponse)

    async def spoken_stored():
        found = await answers(center, response_id=response.id)
        return "spoken_message" in found and found
    stored = await center.wait_for(spoken_stored, 30, "the spoken answer stored")
    name = stored["spoken_message"].value["value"]
    assert list(stored) == ["wound_redness", "wound_discharge", "wound_opening", "fever_since_discharge",
                            "pain_score", "spoken_message"]
    (attempt,) = await all_rows(center, CampaignAttempt)
    call_id = attempt.call_id
    assert (response.patient_id, response.call_id) == (patient_id, call_id)
    row = stored["spoken_message"]
    assert (row.channel, row.answered_by, row.agent_user_id, row.call_id) == (
        "phone", "automated", None, call_id)
    # The patient hung up while speaking. Asterisk ends the recording at the hang-up, and its
    # RecordingFinished may reach the call before the hang-up does (then the answer is stored as a finished
    # recording) or after it (then the engine stores it as the hang-up cancels the recording, marked
    # hung_up): either way the answer is kept, which is what this test is about.
    events = await center.events(call_id)
    answered = [e.data for e in events if e.type == "followup_answered"][-1]
    assert {k: v for k, v in answered.items() if k != "hung_up"} == {
        "node": "questions", "response_id": response.id, "question": "spoken_message"}
    assert answered.get("hung_up", True) is True
    await center.s.recordings.wait_idle()
    (recording,) = await all_rows(center, Recording, Recording.name == name)
    # Ended by the hang-up: before the question's 60 s, and the phone never pauses or presses '#'.
    assert recording.call_id == call_id and 1 < recording.duration_seconds < 60
    assert (Path(center.s.cfg.path(center.s.cfg.recordings.dir)) / recording.path).stat().st_size > 44

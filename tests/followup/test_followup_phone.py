"""A follow-up questionnaire by automated phone (followup/phone.py, the engine's `followup` node): each type
rendered to prompts and keys, invalid and out-of-range keys asked again then left unanswered, skip logic, the
red flag that ends the questionnaire for the flow's escalation, and answers stored as given. The engine runs
against a scripted port (no Asterisk) and the real QuestionnaireService on both databases."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.campaigns.actions import load_campaign_flow
from callcenter.campaigns.exceptions import CampaignError
from callcenter.campaigns.schema import load_campaign_text
from callcenter.db.models import FollowUpAnswer, FollowUpResponse
from callcenter.followup import phone
from callcenter.followup.exceptions import InvalidAnswer
from callcenter.followup.phone import DIGITS, PhoneFollowUp
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import QuestionnaireService
from callcenter.ivr import Enqueue, Hangup, load_catalog, run_flow
from callcenter.ivr.ports import KEYS, NOT_BY_PHONE, ONE_KEY, SPOKEN
from callcenter.triage.schema import load_ladder
from tests.ivr.ivr_fakes import ScriptedPort

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "ivr_flows" / "followup-questionnaire.yaml"
CALL = "call-fu-1"


@pytest.fixture(scope="module")
def shipped():
    return load_questionnaires()


def question(shipped, questionnaire: str, code: str):
    return shipped[questionnaire].item(code).question


# ---- rendering and parsing, pure ----

def test_given_each_type_when_rendered_then_its_prompts_and_keys_fit_a_phone(shipped):
    wound, research = "post_surgery_wound_check", "research_recovery_outcomes"
    yes_no = phone.render(wound, question(shipped, wound, "wound_redness"))
    single = phone.render(wound, question(shipped, wound, "wound_discharge"))
    number = phone.render(wound, question(shipped, wound, "body_temperature"))
    spoken = phone.render(wound, question(shipped, wound, "spoken_message"), "rec-1")
    scale10 = phone.render(research, question(shipped, research, "quality_of_life_eq_vas"))
    multiple = phone.render(research, question(shipped, research, "new_health_problems"))
    when = phone.render(research, question(shipped, research, "usual_activities_date"))
    free = phone.render("post_discharge_cardiology", question(
        shipped, "post_discharge_cardiology",
        next(i.code for i in shipped["post_discharge_cardiology"].items if i.question.type == "free_text")))

    assert (yes_no.entry, yes_no.keys, yes_no.prompts) == (ONE_KEY, "12", (
        f"callcenter/followup-{wound}-wound_redness", "callcenter/followup-how-yes-no"))
    assert (single.entry, single.keys) == (ONE_KEY, "1234")
    assert single.prompts[1:6] == ("callcenter/followup-how-choice", "digits/1",
                                   f"callcenter/followup-{wound}-wound_discharge-none", "digits/2",
                                   f"callcenter/followup-{wound}-wound_discharge-clear")
    assert (number.entry, number.keys, number.length) == (KEYS, "0123456789*", 0)
    assert (spoken.entry, spoken.recording, spoken.max_seconds) == (SPOKEN, "rec-1", 60)
    assert (scale10.entry, scale10.keys, scale10.length) == (KEYS, DIGITS, 0)
    assert scale10.prompts[1:] == ("callcenter/followup-how-scale", "digits/0", "callcenter/followup-to",
                                   "digits/10", "callcenter/followup-then-pound")
    assert (multiple.entry, multiple.keys, multiple.length) == (KEYS, "123456", 0)
    assert (when.entry, when.length) == (KEYS, 8)
    assert free.entry == NOT_BY_PHONE


def test_given_keys_when_parsed_then_each_type_gets_its_answer(shipped):
    wound, research = "post_surgery_wound_check", "research_recovery_outcomes"

    assert phone.parse(question(shipped, wound, "wound_redness"), "1") is True
    assert phone.parse(question(shipped, wound, "wound_redness"), "2") is False
    assert phone.parse(question(shipped, wound, "wound_discharge"), "4") == "bleeding"
    assert phone.parse(question(shipped, wound, "body_temperature"), "38*5") == 38.5
    assert phone.parse(question(shipped, wound, "pain_score"), "7") == 7
    assert phone.parse(question(shipped, research, "quality_of_life_eq_vas"), "10") == 10
    assert phone.parse(question(shipped, research, "new_health_problems"), "313") == ["heart", "infection"]
    assert phone.parse(question(shipped, research, "usual_activities_date"), "28022026") == "2026-02-28"


@pytest.mark.parametrize("code, keys", [
    ("wound_redness", "3"), ("wound_discharge", "5"), ("body_temperature", "38**5"),
    ("body_temperature", "*"), ("wound_redness", "#"), ("usual_activities_date", "31022026"),
    ("usual_activities_date", "1234"), ("new_health_problems", "17"),
])
def test_given_keys_that_mean_no_answer_when_parsed_then_invalid(shipped, code, keys):
    questionnaire = "research_recovery_outcomes" if code in (
        "usual_activities_date", "new_health_problems") else "post_surgery_wound_check"
    with pytest.raises(InvalidAnswer):
        phone.parse(question(shipped, questionnaire, code), keys)


def test_given_a_temperature_out_of_its_range_when_parsed_then_out_of_range(shipped):
    with pytest.raises(phone.OutOfRange):
        phone.parse(question(shipped, "post_surgery_wound_check", "body_temperature"), "45")


def test_given_the_shipped_flow_when_loaded_with_the_catalog_then_every_question_has_its_prompt():
    catalog = load_catalog(ROOT / "ivr_flows" / "prompts.yaml")
    for questionnaire in ("post_surgery_wound_check", "research_recovery_outcomes"):
        flow = load_campaign_flow(FLOW, catalog=catalog, questionnaire=questionnaire)
        assert flow.nodes["questions"].questionnaire.id == questionnaire


# ---- the engine with the real service, on both databases ----

@dataclass
class FollowUpPort(ScriptedPort):
    """The scripted port plus what a campaign call's port adds: the response and the spoken answers."""
    service: QuestionnaireService | None = None
    spoken: list[tuple[str, int]] = field(default_factory=list)
    session: PhoneFollowUp | None = None

    async def followup(self, questionnaire: str) -> PhoneFollowUp:
        self.session = await PhoneFollowUp.start(self.service, questionnaire, call_id=CALL, patient_id=None,
                                                 ladder=load_ladder())
        return self.session

    async def record_spoken(self, name: str, max_seconds: int) -> bool:
        self.spoken.append((name, max_seconds))
        return True


@pytest.fixture
async def service(db) -> QuestionnaireService:
    service = QuestionnaireService(db)
    bank = load_bank()
    wanted = load_questionnaires(bank=bank)
    await service.load(bank, [(q, Path(q.path).read_text()) for q in wanted.values()])
    return service


def keys(*pressed: str, every: float = 1.0) -> list[tuple[float, str]]:
    """One key a second from the start: typed ahead, as a patient who knows the questions would."""
    return [(every * (n + 1), key) for n, key in enumerate(pressed)]


async def answers_of(db, response_id: int) -> dict:
    rows = await db.run(lambda s: list(s.scalars(
        select(FollowUpAnswer).where(FollowUpAnswer.response_id == response_id).order_by(FollowUpAnswer.id))))
    return {row.question_code: row for row in rows}


async def run(service, presses, questionnaire="post_surgery_wound_check", free=()):
    flow = load_campaign_flow(FLOW, questionnaire=questionnaire)
    port = FollowUpPort(presses=presses, service=service, free_queues=set(free))
    context: dict = {}
    outcome = await run_flow(flow, port, context)
    return outcome, port, context


async def test_given_every_wound_question_answered_when_run_then_each_is_stored_as_the_phone_gave_it(
        service, db):
    # Redness yes, clear fluid, not opened, fever yes, 37.5 (shown: fever and redness), pain 4, spoken.
    outcome, port, context = await run(service, keys("1", "2", "2", "1", "3", "7", "*", "5", "#", "4"))

    assert outcome == Hangup("completed")
    stored = await answers_of(db, port.session.response_id)
    assert {code: row.value["value"] for code, row in stored.items()} == {
        "wound_redness": True, "wound_discharge": "clear", "wound_opening": False,
        "fever_since_discharge": True, "body_temperature": 37.5, "pain_score": 4,
        "spoken_message": f"followup-{CALL}-{port.session.response_id}-spoken_message"}
    row = stored["body_temperature"]
    assert (row.channel, row.answered_by, row.agent_user_id, row.call_id) == (
        "phone", "automated", None, CALL)
    assert port.spoken == [(stored["spoken_message"].value["value"], 60)]
    assert [e["question"] for e in port.named("followup_answered")] == list(stored)
    assert port.named("followup_finished") == [
        {"node": "questions", "response_id": port.session.response_id, "answered": 7}]
    assert port.named("followup_started")[0]["version"] == "1"


async def test_given_no_fever_when_run_then_the_temperature_is_skipped_by_its_skip_logic(service, db):
    outcome, port, _ = await run(service, keys("1", "2", "2", "2", "4"))

    assert outcome == Hangup("completed")
    stored = await answers_of(db, port.session.response_id)
    assert "body_temperature" not in stored and stored["pain_score"].value["value"] == 4
    assert not any("body_temperature" in p for p in port.prompts_played())


async def test_given_an_out_of_range_temperature_then_a_valid_one_when_run_then_said_so_and_the_second_stored(
        service, db):
    outcome, port, _ = await run(service, keys("1", "2", "2", "1", "4", "5", "#", "3", "9", "#", "2"))

    assert outcome == Hangup("urgent_callback")  # 39 degrees: a red flag asking for an urgent callback
    stored = await answers_of(db, port.session.response_id)
    assert stored["body_temperature"].value["value"] == 39
    assert "callcenter/followup-out-of-range" in port.prompts_played()
    assert port.named("ivr_invalid") == [{"node": "questions", "question": "body_temperature", "attempt": 1}]


async def test_given_invalid_keys_on_every_try_when_run_then_unanswered_and_the_next_question_asked(
        service, db):
    # '7' is no answer to yes/no, twice: redness is left unanswered; the rest is answered. Keys 10 s apart:
    # each comes after its prompt started, so the prompts are heard.
    outcome, port, _ = await run(service, keys("7", "7", "2", "2", "2", "5", every=10))

    assert outcome == Hangup("completed")
    stored = await answers_of(db, port.session.response_id)
    assert "wound_redness" not in stored and stored["wound_discharge"].value["value"] == "clear"
    assert port.named("followup_unanswered") == [{
        "node": "questions", "response_id": port.session.response_id, "question": "wound_redness",
        "reason": "no_valid_answer"}]
    assert "callcenter/followup-invalid" in port.prompts_played()


async def test_given_a_red_flag_nurse_transfer_and_a_free_nurse_when_answered_then_queued_at_once(
        service, db):
    # Bleeding (key 4): nurse_now by nurse_transfer; nothing after it is asked.
    outcome, port, context = await run(service, keys("2", "4", "2", "2"), free={"nurse"})

    assert outcome == Enqueue("nurse", 100)
    assert (context["followup.escalation"], context["triage.disposition"]) == ("nurse_transfer", "nurse_now")
    stored = await answers_of(db, port.session.response_id)
    assert list(stored) == ["wound_redness", "wound_discharge"]
    assert stored["wound_discharge"].red_flag_escalation == "nurse_transfer"
    (fact,) = port.named("triage_disposition")
    assert (fact["protocol"], fact["disposition"], fact["decided_by"], fact["escalation_required"]) == (
        "followup:post_surgery_wound_check", "nurse_now", "wound_discharge", True)
    assert port.actions == [("outcome", {"outcome": "red_flag"})]


async def test_given_a_red_flag_asking_for_an_urgent_callback_when_answered_then_the_callback_action(
        service, db):
    # Pus (key 3): nurse_now by urgent callback, even with a nurse free.
    outcome, port, context = await run(service, keys("2", "3"), free={"nurse"})

    assert outcome == Hangup("urgent_callback")
    assert port.actions == [("outcome", {"outcome": "red_flag"}),
                            ("callback.urgent", {"queue": "nurse", "reason": "red_flag"})]
    assert context["followup.escalation"] == "urgent_callback"


async def test_given_the_opt_out_key_on_a_yes_no_question_when_pressed_then_opted_out(service, db):
    outcome, port, _ = await run(service, keys("1", "9"))

    assert outcome == Hangup("opted_out")
    assert list(await answers_of(db, port.session.response_id)) == ["wound_redness"]


async def test_given_no_key_at_all_when_run_then_nothing_stored_and_the_no_answers_branch(service, db):
    outcome, port, _ = await run(service, [], questionnaire="research_recovery_outcomes")

    assert outcome == Hangup("no_answers")
    response = await db.run(lambda s: s.get(FollowUpResponse, port.session.response_id))
    assert (response.channel, response.call_id) == ("phone", CALL)
    assert await answers_of(db, port.session.response_id) == {}


async def test_given_research_keys_when_run_then_scale_date_and_multiple_choice_are_stored(service, db):
    # Health 10 (two keys, #), pain 3, returned yes, on 02/11/2026, heart and fall then #, no readmission.
    presses = keys("1", "0", "#", "3", "#", "1", "0", "2", "1", "1", "2", "0", "2", "6", "3", "4", "#", "2")

    outcome, port, _ = await run(service, presses, questionnaire="research_recovery_outcomes")

    assert outcome == Hangup("completed")
    stored = await answers_of(db, port.session.response_id)
    assert {code: row.value["value"] for code, row in stored.items()} == {
        "quality_of_life_eq_vas": 10, "pain_score": 3, "returned_to_usual_activities": True,
        "usual_activities_date": "2026-11-02", "new_health_problems": ["heart", "fall"],
        "readmitted_or_ed_visit": False}


@dataclass
class HangUpWhileSpeakingPort(FollowUpPort):
    """The caller is still speaking when the call's task cancels the flow (they hung up)."""
    speaking: asyncio.Event = field(default_factory=asyncio.Event)

    async def record_spoken(self, name: str, max_seconds: int) -> bool:
        self.spoken.append((name, max_seconds))
        self.speaking.set()
        await asyncio.Event().wait()  # until the hang-up
        return True


async def test_given_a_caller_who_hangs_up_while_speaking_when_cancelled_then_the_spoken_answer_is_stored(
        service, db):
    port = HangUpWhileSpeakingPort(presses=keys("2", "1", "2", "2", "4"), service=service)
    flow = asyncio.create_task(run_flow(load_campaign_flow(FLOW), port, {}))
    await asyncio.wait_for(port.speaking.wait(), 60)

    flow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flow

    stored = await answers_of(db, port.session.response_id)
    spoken = stored["spoken_message"]
    name = f"followup-{CALL}-{port.session.response_id}-spoken_message"
    assert spoken.value["value"] == port.spoken[0][0] == name
    assert (spoken.channel, spoken.answered_by, spoken.call_id) == ("phone", "automated", CALL)
    assert port.named("followup_answered")[-1] == {
        "node": "questions", "response_id": port.session.response_id, "question": "spoken_message",
        "hung_up": True}
    assert port.named("followup_finished") == []


# ---- wiring: the campaign's questionnaire, a questionnaire that cannot be asked ----

CAMPAIGN = """\
name: fu
kind: discharge_followup
title: Follow-up
version: 1
target: {rule: discharged, within_days: 2}
mode: MODE
flow: followup-questionnaire
queue: nurse
questionnaire: QUESTIONNAIRE
"""


def campaign_errors(mode: str, questionnaire: str) -> str:
    text = CAMPAIGN.replace("MODE", mode).replace("QUESTIONNAIRE", questionnaire)
    with pytest.raises(CampaignError) as caught:
        load_campaign_text(text, "fu.yaml", ROOT / "ivr_flows")
    return "\n".join(caught.value.problems)


def test_given_a_campaign_naming_an_unknown_questionnaire_when_loaded_then_the_line_names_it_with_a_hint():
    errors = campaign_errors("automated", "post_surgery_wound_chek")
    assert ("fu.yaml:9: questionnaire: unknown follow-up questionnaire 'post_surgery_wound_chek' (did you "
            "mean 'post_surgery_wound_check'?)") in errors


def test_given_a_progressive_campaign_with_a_questionnaire_when_loaded_then_refused():
    assert "only an automated campaign's flow asks one by phone" in campaign_errors(
        "progressive", "post_surgery_wound_check")


def test_given_a_flow_without_a_followup_node_when_a_campaign_names_a_questionnaire_then_refused():
    with pytest.raises(CampaignError) as caught:
        load_campaign_flow(ROOT / "ivr_flows" / "discharge-followup.yaml", questionnaire="copd")
    assert "the flow has no followup node" in caught.value.problems[0]


@dataclass
class NoFollowUpPort(ScriptedPort):
    async def followup(self, questionnaire: str) -> None:
        return None


async def test_given_a_questionnaire_that_cannot_be_asked_when_the_node_runs_then_its_on_failure():
    port = NoFollowUpPort(presses=keys("1", "2"))

    outcome = await run_flow(load_campaign_flow(FLOW), port, {})

    assert outcome == Hangup("no_answers")
    assert port.named("ivr_failure") == [{"node": "questions", "reason": "followup_unavailable"}]


async def test_given_a_free_text_question_when_asked_by_phone_then_left_unanswered_as_not_by_phone(
        service, db):
    # Feeling 4 (one key: a scale of 1 to 5), no fever, medicines understood, all taken, no appointment
    # known (its date hidden), not readmitted; the last question is free text.
    outcome, port, _ = await run(service, keys("4", "2", "1", "1", "2", "2"),
                                 questionnaire="post_discharge_general_medicine")

    assert outcome == Hangup("completed")
    stored = await answers_of(db, port.session.response_id)
    assert list(stored) == ["overall_recovery", "fever_since_discharge", "medicines_understood",
                            "medicines_taken_as_prescribed", "follow_up_appointment_known",
                            "readmitted_or_ed_visit"]
    assert stored["overall_recovery"].value["value"] == 4
    assert [(e["question"], e["reason"]) for e in port.named("followup_unanswered")] == [
        ("other_concerns", "not_by_phone")]
    assert not any("other_concerns" in p for p in port.prompts_played())

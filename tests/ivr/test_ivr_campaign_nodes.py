"""The IVR nodes and rules of automated campaign calls: action, say, questionnaire, enqueue's if_no_agent,
the flow-level opt-out key; validation of each (file:line), and the shipped campaign flows end to end on a
fake port."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ivr_fakes import ScriptedPort, line_of, write

from callcenter.campaigns.actions import load_campaign_flow, registry
from callcenter.ivr import Enqueue, FlowError, Hangup, load_catalog, load_flow, run_flow
from callcenter.ivr.flow import Registry
from callcenter.ivr.say import say_media

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"
KNOWN = registry()
REMINDER = load_campaign_flow(FLOWS / "appointment-reminder.yaml",
                              catalog=load_catalog(FLOWS / "prompts.yaml"))
FOLLOWUP = load_campaign_flow(FLOWS / "discharge-followup.yaml")
SURVEY = load_campaign_flow(FLOWS / "satisfaction-survey.yaml")
CHRONIC = load_campaign_flow(FLOWS / "chronic-check.yaml")
APPOINTMENT = {"appointment.starts_at": datetime(2026, 3, 3, 10, 30, tzinfo=ZoneInfo("America/New_York")),
               "patient.language": "en"}
WOUND_QUESTIONS = [q.id for q in KNOWN.protocols["surgical_wound"].questions]

HEADER = """\
name: t
version: 1
description: a campaign test flow
languages: [en, es]
start: main
"""
OUTBOUND = HEADER + "direction: outbound\nopt_out: {key: '9', next: bye}\n"


def errors_of(tmp_path: Path, text: str, known: Registry = KNOWN) -> str:
    with pytest.raises(FlowError) as caught:
        load_flow(write(tmp_path, text), registry=known)
    return str(caught.value)


def at(tmp_path: Path, line: int) -> str:
    return f"{tmp_path / 'flow.yaml'}:{line}: "


# ---- action ----

ACTION_FLOW = OUTBOUND + """\
nodes:
  main:
    type: action
    action: appointment.confirm
    outcomes: {confirmed: yes_bye, not_possible: queue}
    next: queue
  yes_bye: {type: hangup, reason: confirmed}
  queue: {type: enqueue, queue: appointments}
  bye: {type: hangup}
"""


@pytest.mark.parametrize("result, outcome", [("confirmed", Hangup("confirmed")),
                                             ("not_possible", Enqueue("appointments")),
                                             ("something_else", Enqueue("appointments"))])
async def test_given_an_action_node_when_the_action_returns_a_result_then_its_outcome_is_followed(
        tmp_path, result, outcome):
    flow = load_flow(write(tmp_path, ACTION_FLOW), registry=KNOWN)
    port = ScriptedPort(results={"appointment.confirm": result})

    assert await run_flow(flow, port, {}) == outcome
    assert port.actions == [("appointment.confirm", {})]
    assert port.named("ivr_action") == [{"node": "main", "action": "appointment.confirm", "result": result}]


def test_given_an_unknown_action_name_when_loaded_then_the_line_names_it_with_a_hint(tmp_path):
    text = ACTION_FLOW.replace("action: appointment.confirm", "action: appointment.confrim")

    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "confrim")) in message
    assert "unknown action 'appointment.confrim' (did you mean 'appointment.confirm'?)" in message


def test_given_an_action_result_not_wired_when_loaded_then_it_is_an_error(tmp_path):
    text = ACTION_FLOW.replace("not_possible: queue}", "}").replace("yes_bye, }", "yes_bye}")

    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "outcomes:")) in message
    assert "can result in not_possible: wire each in 'outcomes'" in message


def test_given_a_result_the_action_never_gives_when_loaded_then_it_is_an_error(tmp_path):
    text = ACTION_FLOW.replace("not_possible: queue}", "not_possible: queue, maybe: queue}")

    assert "never results in maybe" in errors_of(tmp_path, text)


def test_given_no_registry_when_a_flow_names_an_action_then_it_is_refused(tmp_path):
    assert "unknown action 'appointment.confirm'" in errors_of(tmp_path, ACTION_FLOW, Registry())


# ---- opt-out ----

def test_given_an_outbound_flow_without_opt_out_when_loaded_then_it_is_refused(tmp_path):
    text = ACTION_FLOW.replace("opt_out: {key: '9', next: bye}\n", "")

    assert "an outbound flow needs opt_out" in errors_of(tmp_path, text)


def test_given_a_menu_option_on_the_opt_out_key_when_loaded_then_it_is_refused(tmp_path):
    text = OUTBOUND + """\
nodes:
  main:
    type: menu
    prompt: callcenter/main-menu
    options:
      '9': {next: bye}
    on_failure: bye
  bye: {type: hangup}
"""
    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "'9': {next: bye}")) in message
    assert "key '9' is the flow's opt-out key" in message


@pytest.mark.parametrize("flow, context, presses", [
    (REMINDER, APPOINTMENT, [(1.0, "9")]),               # during the intro (typed ahead)
    (REMINDER, APPOINTMENT, [(13.0, "9")]),              # at the menu
    (SURVEY, {}, [(3.0, "9")]),
    (CHRONIC, {}, [(3.0, "9")]),
    (FOLLOWUP, {}, [(3.0, "2"), (5.0, "9")]),            # in the middle of the questionnaire
])
async def test_given_the_opt_out_key_when_pressed_in_any_menu_then_the_patient_is_opted_out(flow, context,
                                                                                         presses):
    port = ScriptedPort(presses)

    outcome = await run_flow(flow, port, dict(context))

    assert outcome == Hangup("opted_out")
    assert [name for name, _ in port.actions][-1] == "opt_out"
    assert port.named("ivr_choice")[-1]["label"] == "opt out"
    assert port.prompts_played()[-1] == "callcenter/opted-out"


@pytest.mark.parametrize("flow", [REMINDER, FOLLOWUP, SURVEY, CHRONIC])
def test_given_each_shipped_outbound_flow_when_its_first_prompt_is_read_then_it_names_the_opt_out_key(flow):
    """Who calls first (the configured hospital's name), then the opt-out key, in the intro's first words."""
    catalog = load_catalog(FLOWS / "prompts.yaml")
    greeting, name, intro = (p.split("/", 1)[1] for p in flow.nodes["intro"].prompts)

    assert flow.direction == "outbound" and flow.opt_out.key == "9"
    assert name == "hospital-name" and catalog.text(greeting, "en").text.startswith("Hello")
    assert "press 9" in catalog.text(intro, "en").text
    assert "oprima 9" in catalog.text(intro, "es").text


# ---- say ----

def test_given_an_appointment_time_when_said_in_english_then_weekday_month_day_time_and_pm():
    moment = datetime(2026, 3, 3, 14, 5)  # a Tuesday

    assert say_media(moment, "date_time", "en") == [
        "digits/day-2", "digits/mon-2", "number:3", "callcenter/at-time", "number:2", "digits/oh", "number:5",
        "digits/p-m"]


def test_given_an_appointment_time_when_said_in_spanish_then_day_de_month_and_the_24_hour_clock():
    moment = datetime(2026, 3, 1, 9, 0)  # a Sunday

    assert say_media(moment, "date_time", "es") == [
        "digits/day-0", "number:1", "digits/es-de", "digits/mon-2", "callcenter/at-time", "number:9"]


async def test_given_a_reminder_when_it_plays_then_the_date_follows_the_intro_in_the_call_language():
    port = ScriptedPort([(12.0, "1")])

    await run_flow(REMINDER, port, dict(APPOINTMENT, **{"patient.language": "es"}))

    said = port.played[1]
    assert port.played[0].prompts == ("callcenter/reminder-from", "callcenter/hospital-name",
                                      "callcenter/reminder-intro")
    assert said.language == "es" and said.prompts[:4] == ("digits/day-2", "number:3", "digits/es-de",
                                                          "digits/mon-2")


async def test_given_no_appointment_time_when_the_say_node_runs_then_it_is_skipped_and_recorded():
    port = ScriptedPort([(6.0, "1")])

    await run_flow(REMINDER, port, {})

    assert port.named("ivr_say_missing") == [{"node": "when", "variable": "appointment.starts_at"}]


# ---- the reminder ----

@pytest.mark.parametrize("key, action, outcome", [
    ("1", "appointment.confirm", Hangup("confirmed")),
    ("2", "appointment.cancel", Hangup("cancelled")),
])
async def test_given_a_reminder_when_the_patient_presses_a_key_then_the_appointment_action_runs(key, action,
                                                                                              outcome):
    port = ScriptedPort([(12.0, key)], results={action: action.split(".")[1] + "ed"
                                                if key == "1" else "cancelled"})

    assert await run_flow(REMINDER, port, dict(APPOINTMENT)) == outcome
    assert port.actions == [(action, {})]


async def test_given_a_reminder_when_3_is_pressed_then_the_patient_is_queued_for_scheduling():
    port = ScriptedPort([(12.0, "3")])

    assert await run_flow(REMINDER, port, dict(APPOINTMENT)) == Enqueue("appointments")
    assert port.actions == [("outcome", {"outcome": "completed"})]


async def test_given_a_reminder_when_the_cancel_is_not_possible_then_scheduling_takes_over():
    port = ScriptedPort([(12.0, "2")], results={"appointment.cancel": "not_possible"})

    assert await run_flow(REMINDER, port, dict(APPOINTMENT)) == Enqueue("appointments")
    assert "callcenter/reminder-not-possible" in port.prompts_played()


async def test_given_silence_when_the_reminder_menu_waits_then_the_message_is_repeated_once_then_kept():
    port = ScriptedPort([])

    outcome = await run_flow(REMINDER, port, dict(APPOINTMENT))

    assert outcome == Hangup("no_choice")
    assert port.prompts_played().count("callcenter/reminder-intro") == 2
    assert port.actions == [("outcome", {"outcome": "completed"})]


# ---- questionnaire ----

def answers(first_yes: str | None) -> list[tuple[float, str]]:
    """Key presses answering the wound protocol: no until `first_yes`, then yes."""
    keys = []
    for index, question in enumerate(WOUND_QUESTIONS):
        keys.append((3.0 + 3 * index, "1" if question == first_yes else "2"))
        if question == first_yes:
            break
    return keys


async def test_given_no_to_every_question_when_the_followup_runs_then_thanks_and_no_red_flag():
    port = ScriptedPort(answers(None))

    outcome = await run_flow(FOLLOWUP, port, {})

    assert outcome == Hangup("completed")
    disposition = port.named("triage_disposition")
    assert disposition[0]["disposition"] == "home_care" and disposition[0]["decided_by"] == "no_to_all"
    assert len(port.named("triage_answered")) == len(WOUND_QUESTIONS)
    assert port.actions == [("outcome", {"outcome": "completed"})]


async def test_given_a_red_flag_answer_and_a_free_nurse_when_the_followup_runs_then_the_nurse_queue_at_top():
    port = ScriptedPort(answers("swollen_calf"), free_queues={"nurse"})
    context: dict = {}

    outcome = await run_flow(FOLLOWUP, port, context)

    assert outcome == Enqueue("nurse", 100)
    assert context["triage.disposition"] == "nurse_now"
    assert port.named("triage_disposition")[0]["decided_by"] == "swollen_calf"
    assert [q["question"] for q in port.named("triage_question_shown")] == WOUND_QUESTIONS[:5]
    assert port.actions == [("outcome", {"outcome": "red_flag"})]
    assert "callcenter/followup-emergency" not in port.prompts_played()


async def test_given_a_red_flag_and_no_nurse_free_when_the_followup_runs_then_an_urgent_callback():
    port = ScriptedPort(answers("fever_or_spreading_redness"))

    outcome = await run_flow(FOLLOWUP, port, {})

    assert outcome == Hangup("urgent_callback")
    assert port.named("ivr_no_agent") == [{"node": "nurse", "queue": "nurse"}]
    assert port.actions == [("outcome", {"outcome": "red_flag"}),
                            ("callback.urgent", {"queue": "nurse", "reason": "red_flag"})]
    assert port.prompts_played()[-1] == "callcenter/followup-callback"


async def test_given_an_emergency_level_answer_when_the_followup_runs_then_the_emergency_words_come_first():
    port = ScriptedPort(answers("heavy_bleeding"), free_queues={"nurse"})

    assert await run_flow(FOLLOWUP, port, {}) == Enqueue("nurse", 100)
    assert "callcenter/followup-emergency" in port.prompts_played()


async def test_given_a_less_urgent_yes_when_the_followup_runs_then_it_is_not_a_red_flag():
    port = ScriptedPort(answers("pus_or_more_pain"))

    assert await run_flow(FOLLOWUP, port, {}) == Hangup("completed")
    assert port.named("triage_disposition")[0]["disposition"] == "see_doctor_today"


async def test_given_a_wrong_key_then_silence_when_a_question_is_asked_then_the_call_ends_without_answers():
    port = ScriptedPort([(3.0, "5")])

    assert await run_flow(FOLLOWUP, port, {}) == Hangup("no_answers")
    assert port.named("ivr_invalid")[0] == {"node": "questions", "attempt": 1, "key": "5"}
    assert port.named("ivr_failure") == [{"node": "questions", "reason": "retries"}]


def test_given_an_unknown_protocol_when_loaded_then_the_line_names_it(tmp_path):
    text = OUTBOUND + """\
nodes:
  main:
    type: questionnaire
    protocol: surgical_wounds
    prompts: callcenter/main-menu
    on_red_flag: bye
    next: bye
    on_failure: bye
  bye: {type: hangup}
"""
    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "surgical_wounds")) in message
    assert "unknown triage protocol 'surgical_wounds' (did you mean 'surgical_wound'?)" in message


def test_given_the_followup_when_its_prompts_are_checked_then_every_protocol_question_has_a_prompt():
    catalog = load_catalog(FLOWS / "prompts.yaml").with_protocols(KNOWN.protocols.values())

    question = catalog.text("triage-surgical_wound-heavy_bleeding", "es")
    assert question.text.startswith("¿La herida sangra mucho") and question.voice == "es-419"
    load_campaign_flow(FLOWS / "discharge-followup.yaml", catalog=load_catalog(FLOWS / "prompts.yaml"))


# ---- enqueue if_no_agent ----

IF_NO_AGENT = HEADER + """\
nodes:
  main: {type: enqueue, queue: nurse, if_no_agent: bye, prompts: callcenter/transferring}
  bye: {type: hangup}
"""


async def test_given_a_free_agent_when_enqueued_with_if_no_agent_then_queued(tmp_path):
    port = ScriptedPort(free_queues={"nurse"})

    assert await run_flow(load_flow(write(tmp_path, IF_NO_AGENT)), port, {}) == Enqueue("nurse")


async def test_given_no_free_agent_when_enqueued_with_if_no_agent_then_the_other_way(tmp_path):
    port = ScriptedPort()

    assert await run_flow(load_flow(write(tmp_path, IF_NO_AGENT)), port, {}) == Hangup("ivr_hangup")
    assert "callcenter/transferring" not in port.prompts_played()


# ---- the survey and the chronic check ----

async def test_given_an_invalid_key_then_4_when_the_survey_asks_then_4_is_recorded():
    port = ScriptedPort([(7.0, "7"), (10.0, "4")])  # after the 3-prompt intro (6 s)
    context: dict = {}

    assert await run_flow(SURVEY, port, context) == Hangup("completed")
    assert context["survey.score"] == 4
    assert port.actions == [("survey.record", {"question": "overall"})]
    assert port.prompts_played().count("callcenter/survey-question") == 2


@pytest.mark.parametrize("key, outcome", [("1", Hangup("completed")), ("2", Enqueue("appointments")),
                                          ("3", Enqueue("nurse"))])
async def test_given_the_chronic_check_when_a_key_is_pressed_then_it_goes_where_promised(key, outcome):
    port = ScriptedPort([(3.0, key)])

    assert await run_flow(CHRONIC, port, {}) == outcome
    assert port.actions == [("outcome", {"outcome": "completed"})]

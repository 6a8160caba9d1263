"""The engine against fake ports: the hotline end to end, then each node type on small flows."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ivr_fakes import RealtimePort, ScriptedPort, write

from callcenter.ivr import Enqueue, Hangup, load_flow, run_flow
from callcenter.ivr.engine import lookup
from callcenter.selfservice.actions import load_inbound_flow

HOTLINE = load_inbound_flow(Path(__file__).resolve().parents[2] / "ivr_flows" / "hotline.yaml")
LANGUAGE_PROMPTS = ["callcenter/emergency-key-en", "callcenter/emergency-key-es", "callcenter/for-english",
                    "callcenter/para-espanol"]
NOTICES = ["callcenter/recording-consent", "callcenter/emergency-notice"]
# With 2 s per prompt: the language menu plays 0-4 s, the notices 4 s, the main menu prompt 2 s.


async def run_hotline(port: ScriptedPort, context: dict | None = None):
    return await run_flow(HOTLINE, port, {} if context is None else context)


# ---- the hotline ----

async def test_given_1_then_2_when_the_hotline_runs_then_the_caller_is_queued_for_results():
    port = ScriptedPort([(1.0, "1"), (6.0, "2")])

    outcome = await run_hotline(port)

    assert outcome == Enqueue("results", 0)
    assert port.named("ivr_choice") == [
        {"node": "language", "key": "1", "label": "English"},
        {"node": "main", "key": "2", "label": "Test results"},
    ]
    assert [event["node"] for event in port.named("ivr_node")] == ["language", "notices", "main", "results"]
    assert port.prompts_played()[-1] == "callcenter/main-menu"  # queued as soon as the caller chose


@pytest.mark.parametrize("key, queue", [
    ("1", "appointments"), ("2", "results"), ("3", "refills"), ("4", "nurse"), ("5", "complaints"),
])
async def test_given_each_main_menu_key_when_pressed_then_its_queue_is_the_outcome(key, queue):
    port = ScriptedPort([(1.0, "1"), (6.0, key)])

    assert await run_hotline(port) == Enqueue(queue)


async def test_given_keys_pressed_during_the_notices_when_the_main_menu_starts_then_they_are_used_at_once():
    port = ScriptedPort([(1.0, "1"), (2.0, "4")])  # "4" during the non-interruptible notices (1-5 s)

    outcome = await run_hotline(port)

    assert outcome == Enqueue("nurse")
    notices = next(played for played in port.played if played.prompts == tuple(NOTICES))
    assert notices.interruptible is False and notices.interrupted_by is None
    assert "callcenter/main-menu" not in port.prompts_played()  # the caller already chose


async def test_given_three_invalid_keys_when_in_the_main_menu_then_the_caller_goes_to_general():
    port = ScriptedPort([(1.0, "1"), (6.0, "9"), (9.0, "0"), (12.0, "#")])

    outcome = await run_hotline(port)

    assert outcome == Enqueue("general")
    assert [(e["key"], e["attempt"]) for e in port.named("ivr_invalid")] == [("9", 1), ("0", 2), ("#", 3)]
    assert port.named("ivr_failure") == [{"node": "main", "reason": "retries"}]
    assert port.prompts_played().count("callcenter/invalid") == 2  # before the 2nd and 3rd attempts


async def test_given_an_invalid_key_then_a_valid_one_when_in_the_main_menu_then_the_retry_succeeds():
    port = ScriptedPort([(1.0, "1"), (6.0, "8"), (7.0, "3")])

    assert await run_hotline(port) == Enqueue("refills")
    assert [played.prompts for played in port.played][3] == ("callcenter/invalid", "callcenter/main-menu")


async def test_given_silence_when_the_hotline_runs_then_english_is_kept_and_the_caller_goes_to_general():
    port = ScriptedPort([])

    outcome = await run_hotline(port)

    assert outcome == Enqueue("general")
    assert port.language == "en"
    assert [e["node"] for e in port.named("ivr_timeout")] == ["language", "main", "main", "main"]
    assert port.prompts_played().count("callcenter/timeout") == 2
    # language menu (emergency key, language halves) 8 s + 4 s timeout, notices 4 s, 3 x (prompt + 6 s),
    # timeout prompts 2 x 2 s
    assert port.now == pytest.approx(8 + 4 + 4 + 3 * (2 + 6) + 2 * 2)


async def test_given_2_in_the_language_menu_when_the_hotline_runs_then_everything_after_is_in_spanish():
    port = ScriptedPort([(3.0, "2"), (8.5, "4")])

    outcome = await run_hotline(port)

    assert outcome == Enqueue("nurse")
    assert port.language == "es"
    assert {played.language for played in port.played[1:]} == {"es"}


async def test_given_a_key_during_the_language_prompt_when_pressed_then_the_prompt_is_cut_short():
    port = ScriptedPort([(0.5, "2"), (5.0, "1")])

    await run_hotline(port)

    assert port.played[0].prompts == tuple(LANGUAGE_PROMPTS)
    assert port.played[0].interrupted_by == "2"
    assert port.played[1].at == 0.5


async def test_given_a_port_in_an_undeclared_language_when_the_flow_starts_then_the_default_language_is_set():
    port = ScriptedPort([(1.0, "1"), (6.0, "2")], language="fr")

    await run_hotline(port)

    assert port.played[0].language == "en"


async def test_given_a_port_already_in_a_flow_language_when_the_flow_starts_then_it_is_kept():
    port = ScriptedPort([], language="es")

    await run_hotline(port)

    assert {played.language for played in port.played} == {"es"}


# ---- node types on small flows ----

BRANCH_FLOW = """\
name: branching
version: 1
description: routes on what is known about the caller
languages: [en, es]
start: check
nodes:
  check:
    type: branch
    conditions:
      - when: {var: caller.known, equals: false}
        next: unknown
      - when: {var: caller.status, in: [inpatient, discharged]}
        next: ward
      - when: {var: patient.mrn, matches: 'MRN-[0-9]+'}
        next: records
      - when: {var: patient.language, exists: true}
        next: speaks
    else: general
  speaks: {type: enqueue, queue: by_language}
  unknown: {type: enqueue, queue: unknown}
  ward: {type: enqueue, queue: ward, priority: 5, prompt: callcenter/transferring}
  records: {type: enqueue, queue: records}
  general: {type: enqueue, queue: general}
"""


@pytest.mark.parametrize("context, queue", [
    ({"caller.known": False}, "unknown"),
    ({"caller": {"known": False}}, "unknown"),
    ({"caller.known": True, "caller.status": "discharged"}, "ward"),
    ({"caller": {"known": True, "status": "outpatient"}, "patient": {"mrn": "MRN-0042"}}, "records"),
    ({"patient": {"mrn": "MRN-42x", "language": "es"}}, "by_language"),
    ({"patient.language": None}, "general"),
    ({"caller.known": "false"}, "general"),  # text is not a boolean
    ({}, "general"),
])
async def test_given_a_context_when_the_branch_runs_then_the_first_matching_condition_wins(
        tmp_path, context, queue):
    flow = load_flow(write(tmp_path, BRANCH_FLOW))

    port = ScriptedPort([])

    outcome = await run_flow(flow, port, context)

    assert outcome.queue == queue
    assert outcome.priority == (5 if queue == "ward" else 0)
    assert port.prompts_played() == (["callcenter/transferring"] if queue == "ward" else [])


def test_given_nested_and_flat_contexts_when_looked_up_then_flat_keys_win():
    context = {"caller.status": "flat", "caller": {"status": "nested", "known": True}}

    assert lookup(context, "caller.status") == "flat"
    assert lookup(context, "caller.known") is True


LOOP_FLOW = """\
name: loop
version: 1
description: goes round while the variable says so
languages: [en]
start: again
nodes:
  again:
    type: branch
    conditions:
      - when: {var: loop, equals: 1}
        next: round
    else: stop
  round: {type: goto, next: again}
  stop: {type: hangup, reason: done}
"""


async def test_given_a_flow_that_goes_round_when_run_then_the_step_budget_hangs_up_with_loop(tmp_path):
    flow = load_flow(write(tmp_path, LOOP_FLOW))
    port = ScriptedPort([])

    outcome = await run_flow(flow, port, {"loop": "1"})

    assert outcome == Hangup("loop")
    assert len(port.named("ivr_node")) == 200
    assert port.named("ivr_failure") == [{"node": "again", "reason": "loop"}]


async def test_given_the_loop_variable_unset_when_run_then_the_flow_ends_normally(tmp_path):
    flow = load_flow(write(tmp_path, LOOP_FLOW))

    assert await run_flow(flow, ScriptedPort([]), {}) == Hangup("done")


DIGITS_FLOW = """\
name: digits
version: 1
description: asks for a record number
languages: [en, es]
start: ask
nodes:
  ask:
    type: read_digits
    prompt: callcenter/main-menu
    variable: patient.mrn
    min_length: 4
    max_length: 6
    timeout: 5
    inter_digit_timeout: 2
    invalid_prompt: callcenter/invalid
    on_failure: general
    next: pick
  pick:
    type: menu
    prompt: callcenter/main-menu
    options:
      '1': {next: found, set: {route: found}, language: es}
    timeout: 3
    retries: 1
    on_failure: general
  found: {type: set, set: {ivr.done: true}, next: queue}
  queue: {type: enqueue, queue: records}
  general: {type: enqueue, queue: general}
"""


def presses(start: float, keys: str, gap: float = 0.5) -> list[tuple[float, str]]:
    return [(start + index * gap, key) for index, key in enumerate(keys)]


async def test_given_digits_and_the_terminator_when_read_then_the_variable_is_set(tmp_path):
    flow = load_flow(write(tmp_path, DIGITS_FLOW))
    port, context = ScriptedPort(presses(1.0, "12345#1", gap=0.5)), {}

    outcome = await run_flow(flow, port, context)

    assert outcome == Enqueue("records")
    assert context == {"patient.mrn": "12345", "route": "found", "ivr.done": True}
    assert port.language == "es"


async def test_given_max_length_digits_when_read_then_input_ends_without_terminator(tmp_path):
    flow = load_flow(write(tmp_path, DIGITS_FLOW))
    context = {}

    await run_flow(flow, ScriptedPort(presses(1.0, "1234561")), context)

    assert context["patient.mrn"] == "123456"


async def test_given_a_pause_longer_than_the_inter_digit_timeout_when_read_then_input_ends(tmp_path):
    flow = load_flow(write(tmp_path, DIGITS_FLOW))
    context = {}

    await run_flow(flow, ScriptedPort(presses(1.0, "1234") + [(10.0, "1")]), context)

    assert context["patient.mrn"] == "1234"


async def test_given_too_few_digits_when_read_then_invalid_is_recorded_without_the_digits(tmp_path):
    flow = load_flow(write(tmp_path, DIGITS_FLOW))
    port, context = ScriptedPort(presses(1.0, "12#") + presses(5.0, "987654") + [(10.0, "1")]), {}

    await run_flow(flow, port, context)

    assert port.named("ivr_invalid") == [{"node": "ask", "length": 2, "attempt": 1}]
    assert "12" not in repr(port.events) and "987654" not in repr(port.events)
    assert context["patient.mrn"] == "987654"


async def test_given_a_pattern_when_input_does_not_match_then_it_is_invalid(tmp_path):
    text = DIGITS_FLOW.replace("    min_length: 4\n", "    min_length: 4\n    pattern: '9[0-9]*'\n")
    flow = load_flow(write(tmp_path, text))
    port, context = ScriptedPort(presses(1.0, "1234#") + presses(6.0, "9234#") + [(12.0, "1")]), {}

    await run_flow(flow, port, context)

    assert len(port.named("ivr_invalid")) == 1
    assert context["patient.mrn"] == "9234"


async def test_given_silence_when_reading_digits_then_the_failure_route_is_taken(tmp_path):
    flow = load_flow(write(tmp_path, DIGITS_FLOW))
    port = ScriptedPort([])

    assert await run_flow(flow, port, {}) == Enqueue("general")
    assert len(port.named("ivr_timeout")) == 3


# ---- real asyncio timing ----

async def until_playing(port: RealtimePort, prompts: list[str]) -> None:
    while tuple(prompts) not in port.played:
        await asyncio.sleep(0.001)


async def test_given_a_realtime_port_when_keys_arrive_during_a_notice_then_the_next_menu_uses_them():
    port = RealtimePort(prompt_seconds=0.1)
    task = asyncio.create_task(run_flow(HOTLINE, port, {}))
    await asyncio.wait_for(until_playing(port, LANGUAGE_PROMPTS), 5)
    port.press("2")  # interrupts the language prompt
    await asyncio.wait_for(until_playing(port, NOTICES), 5)
    port.press("5")  # during the non-interruptible notices

    outcome = await asyncio.wait_for(task, 5)

    assert outcome == Enqueue("complaints")
    assert port.language == "es"
    assert ("callcenter/main-menu",) not in port.played


async def test_given_a_caller_who_hangs_up_when_the_task_is_cancelled_then_cancellation_propagates():
    port = RealtimePort(prompt_seconds=0.01)
    task = asyncio.create_task(run_flow(HOTLINE, port, {}))
    await asyncio.wait_for(port.waiting.wait(), 5)  # the language menu waits for a key

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert not [event for event, _ in port.events if event == "ivr_failure"]

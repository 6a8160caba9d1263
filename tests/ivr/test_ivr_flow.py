"""Flow loading and validation: every broken file is reported as `file:line: where: what`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ivr_fakes import line_of, write

from callcenter.ivr import CatalogError, FlowError, check_prompts, load_catalog, load_flow
from callcenter.ivr.flow import BranchNode, EnqueueNode, MenuNode, ReadDigitsNode
from callcenter.selfservice.actions import load_inbound_flow

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "ivr_flows"
PROMPTS = FLOWS / "prompts.yaml"

VALID = """\
name: test
version: 1
description: a test flow
languages: [en, es]
start: main
nodes:
  main:
    type: menu
    prompt: callcenter/main-menu
    options:
      '1': {next: done, label: Done}
    on_failure: done
  done:
    type: enqueue
    queue: general
"""


def errors_of(tmp_path: Path, text: str, **kwargs) -> str:
    path = write(tmp_path, text)
    with pytest.raises(FlowError) as caught:
        load_flow(path, **kwargs)
    return str(caught.value)


def at(tmp_path: Path, line: int) -> str:
    return f"{tmp_path / 'flow.yaml'}:{line}: "


# ---- the happy cases ----

def test_given_the_hotline_when_loaded_with_the_catalog_then_it_validates():
    flow = load_inbound_flow(FLOWS / "hotline.yaml", catalog=load_catalog(PROMPTS))

    assert flow.name == "hotline"
    assert flow.languages == ("en", "es")
    assert flow.default_language == "en"
    assert "clinical review" in flow.review


def test_given_the_hotline_when_loaded_then_main_menu_keys_go_to_their_queues():
    flow = load_inbound_flow(FLOWS / "hotline.yaml")
    main = flow.nodes["main"]

    queues = {key: flow.nodes[option.next].queue for key, option in main.options.items() if key != "6"}

    assert queues == {"1": "appointments", "2": "results", "3": "refills", "4": "nurse", "5": "complaints"}
    assert main.options["6"].next == "self_service"  # self-service (issue 17): no queue, the IVR serves it
    assert flow.nodes[main.on_failure].queue == "general"


@pytest.mark.parametrize("flow_file", sorted(p for p in FLOWS.glob("*.yaml") if p.name != "prompts.yaml"))
def test_given_any_flow_when_checked_against_prompts_yaml_then_each_prompt_exists_in_each_language(flow_file):
    # Campaign flows name campaign actions, triage protocols and follow-up questionnaires, whose questions
    # join the catalog; inbound flows name the self-service actions.
    from callcenter.campaigns.actions import registry
    from callcenter.selfservice.actions import ACTIONS as INBOUND_ACTIONS
    campaign = registry()
    known = dataclasses.replace(campaign, actions={**campaign.actions, **INBOUND_ACTIONS})
    catalog = load_catalog(PROMPTS).with_protocols(known.protocols.values())
    catalog = catalog.with_questionnaires(known.followups.values())
    check_prompts(load_flow(flow_file, registry=known), catalog)


def test_given_a_valid_flow_when_loaded_then_it_is_immutable(tmp_path):
    flow = load_flow(write(tmp_path, VALID))

    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.start = "done"
    with pytest.raises(TypeError):
        flow.nodes["x"] = flow.nodes["main"]
    with pytest.raises(TypeError):
        flow.nodes["main"].options["2"] = flow.nodes["main"].options["1"]


def test_given_a_menu_without_optional_keys_when_loaded_then_defaults_apply(tmp_path):
    menu = load_flow(write(tmp_path, VALID)).nodes["main"]

    assert isinstance(menu, MenuNode)
    assert (menu.timeout, menu.retries, menu.invalid_prompts, menu.on_timeout) == (5.0, 3, (), None)


def test_given_unquoted_digit_keys_when_loaded_then_they_are_keys_as_text(tmp_path):
    flow = load_flow(write(tmp_path, VALID.replace("'1':", "1:")))

    assert list(flow.nodes["main"].options) == ["1"]


def test_given_every_node_type_when_loaded_then_each_has_its_class(tmp_path):
    text = VALID.replace("      '1': {next: done, label: Done}", """\
      '1': {next: ask, set: {route: digits}}
      '2': {next: check, language: es}
      '*': {next: bye}""") + """\
  ask:
    type: read_digits
    prompt: callcenter/main-menu
    variable: caller.mrn
    min_length: 6
    max_length: 8
    terminator: 'none'
    pattern: '[0-9]{6,8}'
    on_failure: done
    next: check
  check:
    type: branch
    conditions:
      - when: {var: caller.known, equals: true}
        next: spanish
      - when: {var: caller.status, in: [vip, staff]}
        next: jump
    else: done
  spanish: {type: set_language, language: es, next: mark}
  mark: {type: set, set: {ivr.path: known}, next: jump}
  jump: {type: goto, next: done}
  bye: {type: hangup, prompt: callcenter/goodbye, reason: caller_left}
"""
    flow = load_flow(write(tmp_path, text))

    kinds = {node_id: node.kind for node_id, node in flow.nodes.items()}
    assert kinds == {"main": "menu", "done": "enqueue", "ask": "read_digits", "check": "branch",
                     "spanish": "set_language", "mark": "set", "jump": "goto", "bye": "hangup"}
    ask, check, done = flow.nodes["ask"], flow.nodes["check"], flow.nodes["done"]
    assert isinstance(ask, ReadDigitsNode) and ask.terminator is None
    assert isinstance(check, BranchNode) and check.conditions[1].value == ("vip", "staff")
    assert isinstance(done, EnqueueNode) and done.priority == 0


# ---- the broken files the brief names ----

def test_given_bad_yaml_when_loaded_then_the_error_names_file_and_line(tmp_path):
    text = VALID.replace("languages: [en, es]", "languages: [en, es")

    message = errors_of(tmp_path, text)

    assert message.startswith(str(tmp_path / "flow.yaml") + ":")
    assert "invalid YAML" in message


def test_given_an_option_to_an_unknown_node_when_loaded_then_file_line_node_and_target_are_named(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'1': {next: done}\n      '7': {next: q_foo}")

    message = errors_of(tmp_path, text)

    line = line_of(text, "q_foo")
    assert at(tmp_path, line) + "node 'main': option '7': next: unknown node 'q_foo'" in message


def test_given_a_typo_in_a_key_when_loaded_then_it_is_unknown_with_a_suggestion(tmp_path):
    text = VALID.replace("    on_failure: done", "    on_failure: done\n    tiemout: 5")

    message = errors_of(tmp_path, text)

    line = line_of(text, "tiemout")
    assert at(tmp_path, line) + "node 'main': unknown key 'tiemout' (did you mean 'timeout'?)" in message


def test_given_a_key_that_is_not_a_phone_key_when_loaded_then_it_is_rejected(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'7x': {next: done}")

    message = errors_of(tmp_path, text)

    line = line_of(text, "'7x'")
    assert at(tmp_path, line) + "node 'main': option '7x' is not a phone key (one of 0-9, *, #)" in message


def test_given_no_start_when_loaded_then_the_missing_key_is_reported(tmp_path):
    text = VALID.replace("start: main\n", "")

    assert at(tmp_path, 1) + "missing required key 'start'" in errors_of(tmp_path, text)


def test_given_a_flow_that_only_loops_when_loaded_then_it_has_no_path_to_an_end(tmp_path):
    text = """\
name: loop
version: 1
description: never ends
languages: [en]
start: a
nodes:
  a: {type: play, prompt: callcenter/main-menu, next: b}
  b: {type: goto, next: a}
"""
    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "start:")) + "the flow has no enqueue or hangup node" in message


def test_given_a_loop_beside_an_end_when_loaded_then_the_trapped_nodes_are_named(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'1': {next: trap}") + """\
  trap: {type: goto, next: trap2}
  trap2: {type: goto, next: trap}
"""
    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "trap: {")) + "node 'trap': has no path to an end" in message
    assert at(tmp_path, line_of(text, "trap2: {")) + "node 'trap2': has no path to an end" in message


def test_given_a_prompt_missing_from_prompts_yaml_when_loaded_with_the_catalog_then_it_is_reported(tmp_path):
    text = VALID.replace("prompt: callcenter/main-menu", "prompt: callcenter/no-such-prompt")

    message = errors_of(tmp_path, text, catalog=load_catalog(PROMPTS))

    line = line_of(text, "main:")
    assert at(tmp_path, line) + "node 'main': prompt 'callcenter/no-such-prompt' is not in" in message


def test_given_a_prompt_without_one_language_when_checked_then_that_language_is_named(tmp_path):
    catalog_path = write(tmp_path, "voices: {en: en-us, es: es}\nprompts:\n  main-menu: {en: Menu}\n",
                         "prompts.yaml")

    message = errors_of(tmp_path, VALID, catalog=load_catalog(catalog_path))

    assert "prompt 'callcenter/main-menu' has no text in" in message and "for language(s) es" in message


def test_given_a_misspelt_namespace_when_checked_then_it_is_not_taken_for_a_core_sound(tmp_path):
    text = VALID.replace("prompt: callcenter/main-menu", "prompt: calcenter/main-menu")

    message = errors_of(tmp_path, text, catalog=load_catalog(PROMPTS))

    assert "prompt 'calcenter/main-menu' is neither 'callcenter/<name>' nor an Asterisk core sound" in message


def test_given_a_core_digit_sound_when_checked_then_it_is_accepted(tmp_path):
    text = VALID.replace("prompt: callcenter/main-menu", "prompts: [callcenter/main-menu, digits/5]")

    load_flow(write(tmp_path, text), catalog=load_catalog(PROMPTS))


# ---- more ways to break a flow ----

@pytest.mark.parametrize("old, new, marker, expected", [
    ("on_failure: done", "on_failure: done\n    timeout: 600", "timeout: 600",
     "node 'main': timeout: 600 s is out of range 1..60 s"),
    ("on_failure: done", "on_failure: done\n    retries: 0", "retries: 0",
     "node 'main': retries: 0 is out of range 1..10"),
    ("on_failure: done", "on_failure: done\n    timeout: soon", "timeout: soon",
     "node 'main': timeout: expected a number of seconds, got str 'soon'"),
    ("prompt: callcenter/main-menu", "prompt: callcenter/Main Menu", "Main Menu",
     "node 'main': prompt: 'callcenter/Main Menu' is not a prompt name"),
    ("'1': {next: done, label: Done}", "'1': {next: done, language: fr}", "language: fr",
     "node 'main': option '1': language: language 'fr' is not declared in 'languages' (en, es)"),
    ("    type: enqueue", "    type: enqueu", "type: enqueu",
     "node 'done': type: 'enqueu' is not a node type"),
    ("    queue: general", "    queue: general\n    priority: high", "priority: high",
     "node 'done': priority: expected a whole number, got str 'high'"),
    ("'1': {next: done, label: Done}", "'1': {next: done}\n      '1': {next: done}", "'1'",
     "invalid YAML: duplicate key '1'"),
    ("languages: [en, es]", "languages: [en, no]", "languages:",
     "languages: boolean false (quote it if you meant text) is not a language code"),
    ("on_failure: done", "on_failure: main", "on_failure: main",
     "node 'main': on_failure must leave the menu"),
])
def test_given_a_broken_value_when_loaded_then_file_line_and_meaning_are_reported(
        tmp_path, old, new, marker, expected):
    text = VALID.replace(old, new)
    occurrence = 2 if marker == "'1'" else 1

    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, marker, occurrence)) + expected in message


def test_given_an_unreachable_node_when_loaded_then_it_is_an_error(tmp_path):
    text = VALID + "  orphan: {type: hangup}\n"

    message = errors_of(tmp_path, text)

    line = line_of(text, "orphan")
    assert at(tmp_path, line) + "node 'orphan': is never reached from start 'main'" in message


def test_given_an_unquoted_star_key_when_loaded_then_the_yaml_error_says_to_quote_it(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "*: {next: done}")

    message = errors_of(tmp_path, text)

    assert at(tmp_path, line_of(text, "*: {")) in message
    assert "quote the keys '*' and '#'" in message


def test_given_an_unquoted_hash_terminator_when_loaded_then_it_is_not_silently_none(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'1': {next: ask}") + """\
  ask:
    type: read_digits
    prompt: callcenter/main-menu
    variable: mrn
    max_length: 8
    terminator: #
    on_failure: done
    next: done
"""
    message = errors_of(tmp_path, text)

    line = line_of(text, "terminator")
    assert at(tmp_path, line) + "node 'ask': terminator: is empty: write '#' in quotes" in message


def test_given_read_digits_with_min_above_max_and_a_bad_pattern_when_loaded_then_both_are_reported(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'1': {next: ask}") + """\
  ask:
    type: read_digits
    prompt: callcenter/main-menu
    variable: mrn
    min_length: 9
    max_length: 8
    pattern: '[0-9'
    on_failure: done
    next: done
"""
    message = errors_of(tmp_path, text)

    min_line, pattern_line = line_of(text, "min_length"), line_of(text, "pattern")
    assert at(tmp_path, min_line) + "node 'ask': min_length 9 is more than max_length 8" in message
    assert at(tmp_path, pattern_line) + "node 'ask': pattern: '[0-9' is not a valid regular expression" \
        in message


def test_given_a_branch_condition_with_two_operators_when_loaded_then_it_is_rejected(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'1': {next: check}") + """\
  check:
    type: branch
    conditions:
      - when: {var: caller.known, equals: true, exists: true}
        next: done
    else: done
"""
    message = errors_of(tmp_path, text)

    line = line_of(text, "when:")
    assert at(tmp_path, line) + "node 'check': condition 1: when: needs exactly one of" in message


def test_given_a_branch_without_else_when_loaded_then_else_is_required(tmp_path):
    text = VALID.replace("'1': {next: done, label: Done}", "'1': {next: check}") + """\
  check:
    type: branch
    conditions:
      - {when: {var: caller.known, exists: true}, next: done}
"""
    assert at(tmp_path, line_of(text, "type: branch")) + "node 'check': missing required key 'else'" \
        in errors_of(tmp_path, text)


def test_given_several_problems_when_loaded_then_all_are_reported_at_once(tmp_path):
    text = VALID.replace("on_failure: done", "on_failure: nowhere\n    retires: 2")
    text = text.replace("queue: general", "queue: General")

    problems = errors_of(tmp_path, text).splitlines()

    assert len(problems) == 3
    assert any("unknown node 'nowhere'" in problem for problem in problems)
    assert any("unknown key 'retires' (did you mean 'retries'?)" in problem for problem in problems)
    assert any("'General' is not a queue name" in problem for problem in problems)


def test_given_a_file_that_is_not_a_mapping_when_loaded_then_it_says_what_it_got(tmp_path):
    message = errors_of(tmp_path, "- a\n- b\n")

    assert at(tmp_path, 1) + "expected a flow (a mapping with 'nodes'), got a list" in message


def test_given_a_missing_file_when_loaded_then_flow_error_names_it(tmp_path):
    with pytest.raises(FlowError, match="nope.yaml: cannot read"):
        load_flow(tmp_path / "nope.yaml")


# ---- the prompt catalog ----

def test_given_prompts_yaml_when_loaded_then_every_prompt_has_en_and_es():
    catalog = load_catalog(PROMPTS)

    assert set(catalog.voices) == {"en", "es"}
    assert all(set(texts) == {"en", "es"} for texts in catalog.prompts.values())
    assert catalog.text("para-espanol", "en").voice == catalog.voices["es"]


def test_given_a_catalog_language_without_voice_when_loaded_then_it_is_reported(tmp_path):
    text = "voices: {en: en-us}\nprompts:\n  hello:\n    en: Hello\n    fr: Bonjour\n"
    path = write(tmp_path, text, "prompts.yaml")

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    line = line_of(text, "fr:")
    assert f"{path}:{line}: prompt 'hello': language 'fr' has no voice in 'voices'" in str(caught.value)


def test_given_a_bad_prompt_name_in_the_catalog_when_loaded_then_it_is_reported(tmp_path):
    text = "voices: {en: en-us}\nprompts:\n  Hello There: {en: Hello}\n"
    path = write(tmp_path, text, "prompts.yaml")

    with pytest.raises(CatalogError, match=r"prompts.yaml:3: prompts: 'Hello There' is not a prompt name"):
        load_catalog(path)

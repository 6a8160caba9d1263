"""The question bank and questionnaire files: the shipped examples load, and every broken file is reported as
`file:line: where: what`."""
from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.followup.exceptions import QuestionnaireDataError
from callcenter.followup.schema import (
    KINDS,
    TYPES,
    load_bank,
    load_questionnaire,
    load_questionnaires,
)
from callcenter.triage.schema import LADDER_FILE, load_ladder

BANK = """\
version: 3
source: ["NHS.uk: Test page"]
review_status: example content, requires clinical review
languages: [en]
questions:
  fever:
    type: yes_no
    text: {en: "Fever?"}
  temperature:
    type: number
    unit: "°C"
    min: 34
    max: 43
    decimals: 1
    text: {en: "Temperature?"}
  pain:
    type: scale
    min: 0
    max: 10
    text: {en: "Pain?"}
  wound:
    type: single_choice
    choices:
      - {key: dry, text: {en: "Dry"}}
      - {key: pus, text: {en: "Pus"}}
    text: {en: "Wound?"}
  problems:
    type: multiple_choice
    choices:
      - {key: fall, text: {en: "A fall"}}
      - {key: clot, text: {en: "A clot"}}
    text: {en: "Problems?"}
  notes:
    type: free_text
    text: {en: "Anything else?"}
"""

QUESTIONNAIRE = """\
id: wound_check
title: {en: "Wound check"}
version: 1
source: ["NHS.uk: Test page"]
review_status: example content, requires clinical review
kind: post_surgery
department: surgery
questions:
  - code: fever
  - code: temperature
    show_if: {question: fever, equals: true}
    red_flags:
      - {when: {at_least: 38.5}, disposition: nurse_now, escalation: urgent_callback}
  - code: wound
    red_flags:
      - {when: {equals: pus}, disposition: nurse_now, escalation: nurse_transfer}
  - code: notes
    required: false
"""


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def bank(tmp_path: Path, text: str = BANK):
    return load_bank(write(tmp_path, text, "bank.yaml"))


def problems_of_questionnaire(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text, "q.yaml")
    with pytest.raises(QuestionnaireDataError) as caught:
        load_questionnaire(path, bank(tmp_path))
    return [p.replace(str(path), "q.yaml") for p in caught.value.problems]


def problems_of_bank(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text, "bank.yaml")
    with pytest.raises(QuestionnaireDataError) as caught:
        load_bank(path)
    return [p.replace(str(path), "bank.yaml") for p in caught.value.problems]


# ---- the shipped example content ----

def test_given_the_shipped_files_when_loaded_then_every_template_is_there_versioned_sourced_and_for_review():
    shipped = load_questionnaires()

    departments = {q.department for q in shipped.values() if q.kind == "post_discharge"}
    assert departments == {"cardiology", "surgery", "obstetrics", "paediatrics", "general_medicine"}
    assert {"post_surgery_wound_check", "hypertension", "diabetes", "copd", "maternal_newborn",
            "satisfaction_after_discharge"} <= set(shipped)
    assert [q.id for q in shipped.values() if q.kind == "research" and q.study]
    for questionnaire in shipped.values():
        assert questionnaire.review_status == "example content, requires clinical review"
        assert questionnaire.version and questionnaire.source
        assert "EXAMPLE CONTENT" in Path(questionnaire.path).read_text().splitlines()[0]
    assert load_bank().review_status == "example content, requires clinical review"


def test_given_the_shipped_bank_when_loaded_then_every_question_type_is_used_somewhere():
    used = {item.question.type for q in load_questionnaires().values() for item in q.items}

    assert used == set(TYPES)


def test_given_the_shipped_questionnaires_when_loaded_then_red_flags_escalate_with_triage_words():
    flags = [f for q in load_questionnaires().values() for item in q.items for f in item.red_flags]

    assert {f.escalation for f in flags} == {"nurse_transfer", "urgent_callback"}
    assert {f.disposition for f in flags} == {"nurse_now"}


# ---- a good file ----

def test_given_a_good_questionnaire_when_loaded_then_questions_come_from_the_bank_in_order(tmp_path):
    questionnaire = load_questionnaire(write(tmp_path, QUESTIONNAIRE, "q.yaml"), bank(tmp_path))

    assert [i.code for i in questionnaire.items] == ["fever", "temperature", "wound", "notes"]
    assert questionnaire.version == "1" and questionnaire.kind in KINDS
    temperature = questionnaire.item("temperature")
    assert (temperature.question.unit, temperature.question.min, temperature.question.max) == ("°C", 34, 43)
    assert temperature.show_if[0].question == "fever" and temperature.show_if[0].value is True
    assert temperature.red_flags[0].escalation == "urgent_callback"
    assert questionnaire.item("notes").required is False


def test_given_a_questionnaire_when_its_definition_is_read_back_then_it_is_the_same(tmp_path):
    questionnaire = load_questionnaire(write(tmp_path, QUESTIONNAIRE, "q.yaml"), bank(tmp_path))

    again = type(questionnaire).from_definition(questionnaire.definition())

    assert again.items == questionnaire.items and again.version == questionnaire.version


# ---- bad questionnaires: each problem with its line ----

def test_given_skip_logic_looking_forward_when_loaded_then_the_cycle_is_refused_with_its_line(tmp_path):
    text = QUESTIONNAIRE.replace("  - code: fever\n",
                                 "  - code: fever\n    show_if: {question: wound, equals: dry}\n")

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:10: question 'fever': show_if: question: 'wound' is asked later; skip logic may only look"
        " back at an earlier question (looking forward would allow a cycle)"]


def test_given_a_question_depending_on_itself_when_loaded_then_refused_as_a_cycle(tmp_path):
    text = QUESTIONNAIRE.replace("show_if: {question: fever, equals: true}",
                                 "show_if: {question: temperature, at_least: 38}")

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:11: question 'temperature': show_if: question: 'temperature' cannot depend on its own answer"
        " (a cycle)"]


def test_given_an_unknown_question_code_when_loaded_then_the_closest_bank_code_is_suggested(tmp_path):
    text = QUESTIONNAIRE.replace("  - code: wound\n", "  - code: wounds\n")

    assert problems_of_questionnaire(tmp_path, text) == [
        f"q.yaml:14: question 3: code: no question 'wounds' in the question bank {tmp_path}/bank.yaml"
        " (did you mean 'wound'?)"]


def test_given_a_question_asked_twice_when_loaded_then_the_duplicate_code_is_refused(tmp_path):
    text = QUESTIONNAIRE + "  - code: fever\n"

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:19: question 'fever': code: 'fever' is asked twice in this questionnaire"]


def test_given_an_operator_that_does_not_fit_the_type_when_loaded_then_refused(tmp_path):
    text = QUESTIONNAIRE.replace("{equals: pus}", "{at_least: 3}")

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:16: question 'wound' red flag 1: when: 'at_least' does not apply to 'wound', a single_choice"
        " question (applies to: scale, number)"]


def test_given_a_red_flag_outside_the_range_or_choices_when_loaded_then_refused(tmp_path):
    text = QUESTIONNAIRE.replace("{at_least: 38.5}", "{at_least: 45}").replace("{equals: pus}",
                                                                               "{equals: blood}")

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:13: question 'temperature' red flag 1: when: temperature: 45 is out of range 34..43 °C",
        "q.yaml:16: question 'wound' red flag 1: when: wound: 'blood' is not one of its choices (dry, pus)"]


def test_given_an_escalation_that_does_not_satisfy_the_rung_when_loaded_then_refused(tmp_path):
    text = (QUESTIONNAIRE.replace("escalation: nurse_transfer", "escalation: emergency_conference")
            .replace("disposition: nurse_now, escalation: urgent_callback",
                     "disposition: home_care, escalation: urgent_callback"))

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:13: question 'temperature' red flag 1: disposition: 'home_care' requires no escalation: a red"
        " flag names a rung that escalates",
        "q.yaml:16: question 'wound' red flag 1: escalation: 'emergency_conference' is not one of:"
        " nurse_transfer, urgent_callback"]


def test_given_a_ladder_rung_not_satisfied_by_the_escalation_when_loaded_then_refused(tmp_path):
    shipped = Path(LADDER_FILE).read_text(encoding="utf-8")
    ladder = load_ladder(write(tmp_path, shipped.replace(
        "satisfied_by: [nurse_transfer, emergency_conference, urgent_callback]",
        "satisfied_by: [nurse_transfer, emergency_conference]"), "ladder.yaml"))
    path = write(tmp_path, QUESTIONNAIRE, "q.yaml")

    with pytest.raises(QuestionnaireDataError) as caught:
        load_questionnaire(path, bank(tmp_path), ladder)

    assert caught.value.problems == [
        f"{path}:13: question 'temperature' red flag 1: escalation: 'urgent_callback' does not satisfy"
        " 'nurse_now' in the triage ladder (it is satisfied by: nurse_transfer, emergency_conference)"]


def test_given_a_misspelt_key_and_a_bad_kind_when_loaded_then_both_are_reported(tmp_path):
    text = QUESTIONNAIRE.replace("kind: post_surgery", "kind: surgery").replace("    required: false",
                                                                              "    requird: false")

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:6: kind: 'surgery' is not one of: " + ", ".join(KINDS),
        "q.yaml:18: question 'notes': unknown key 'requird' (did you mean 'required'?)"]


def test_given_no_version_and_no_review_status_when_loaded_then_clinical_content_is_refused(tmp_path):
    text = QUESTIONNAIRE.replace("version: 1\n", "").replace(
        "review_status: example content, requires clinical review", "review_status: fine")

    assert problems_of_questionnaire(tmp_path, text) == [
        "q.yaml:1: missing required key 'version'",
        "q.yaml:4: review_status: 'fine' is not one of: example content, requires clinical review,"
        " clinically approved"]


def test_given_two_files_with_one_id_when_the_directory_is_loaded_then_the_second_is_refused(tmp_path):
    the_bank = bank(tmp_path)
    (tmp_path / "q").mkdir()
    write(tmp_path / "q", QUESTIONNAIRE, "a.yaml")
    write(tmp_path / "q", QUESTIONNAIRE, "b.yaml")

    with pytest.raises(QuestionnaireDataError) as caught:
        load_questionnaires(tmp_path / "q", the_bank)

    assert caught.value.problems == [
        f"{tmp_path}/q/b.yaml:1: id 'wound_check' is already used by {tmp_path}/q/a.yaml"]


# ---- bad banks ----

def test_given_an_unknown_question_type_when_the_bank_is_loaded_then_the_type_line_names_the_types(tmp_path):
    text = BANK.replace("    type: yes_no\n", "    type: yesno\n")

    assert problems_of_bank(tmp_path, text) == [
        "bank.yaml:7: question 'fever': type: unknown question type 'yesno' (did you mean 'yes_no'?); types: "
        + ", ".join(TYPES)]


def test_given_a_duplicate_code_when_the_bank_is_loaded_then_the_yaml_line_is_named(tmp_path):
    text = BANK + "  fever:\n    type: yes_no\n    text: {en: \"Again?\"}\n"

    assert problems_of_bank(tmp_path, text) == [
        "bank.yaml:36: invalid YAML: duplicate key 'fever'"]


def test_given_bad_limits_when_the_bank_is_loaded_then_each_is_reported(tmp_path):
    text = (BANK.replace("    min: 0\n    max: 10\n", "    min: 0\n    max: 12\n")
            .replace("    min: 34\n    max: 43\n", "    min: 43\n    max: 34\n")
            .replace("{key: clot, text", "{key: fall, text"))

    assert problems_of_bank(tmp_path, text) == [
        "bank.yaml:13: question 'temperature': max: 34 must be above min 43",
        "bank.yaml:19: question 'pain': max: 12 is out of range 0..10",
        "bank.yaml:30: question 'problems': choices: duplicate choice key(s): fall"]


def test_given_a_text_without_the_declared_language_when_the_bank_is_loaded_then_refused(tmp_path):
    text = BANK.replace('text: {en: "Pain?"}', 'text: {es: "¿Dolor?"}')

    assert problems_of_bank(tmp_path, text) == [
        "bank.yaml:20: question 'pain': text: missing language variant(s): en"]

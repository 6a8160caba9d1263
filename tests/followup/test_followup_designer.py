"""The designer's check (followup/designer.py), without a database: a draft written out as YAML and parsed by
the questionnaire files' own validator, each problem mapped back to the field that caused it."""
from __future__ import annotations

import copy

import pytest

from callcenter.followup.designer import DraftInvalid, check, draft_of
from callcenter.followup.schema import load_bank

from .test_followup_designer_http import DRAFT

BANK = load_bank()


def test_given_a_valid_draft_when_checked_then_its_skip_logic_red_flag_and_new_question_are_there():
    design = check(DRAFT, BANK)
    temperature = design.questionnaire.item("body_temperature")
    assert [(c.question, c.op, c.value) for c in temperature.show_if] == [
        ("fever_since_discharge", "equals", True)]
    assert [(f.when.op, f.when.value, f.disposition, f.escalation) for f in temperature.red_flags] == [
        ("at_least", 38, "nurse_now", "urgent_callback")]
    assert design.new_codes == ("stairs_climbed",)
    assert design.questionnaire.item("stairs_climbed").question.unit == "flights"
    again = check(draft_of(design.questionnaire) | {"new_questions": DRAFT["new_questions"]}, BANK)
    assert again.questionnaire.definition() == design.questionnaire.definition(), "a stored one round-trips"


def _broken(change) -> dict:
    draft = copy.deepcopy(DRAFT)
    change(draft)
    return draft


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d["questions"][0].update(show_if=[{"question": "body_temperature", "op": "at_least",
                                                  "value": "38"}]),
     "questions.0.show_if", "asked later"),
    (lambda d: d["questions"][1].update(show_if=[{"question": "body_temperature", "op": "at_least",
                                                  "value": "38"}]),
     "questions.1.show_if", "cannot depend on its own answer (a cycle)"),
    (lambda d: d["new_questions"][0].update(type="counter"), "new_questions.0.type", "unknown question type"),
    (lambda d: d["questions"].append({"code": "fever_since_discharge"}), "questions.3.code", "asked twice"),
    (lambda d: d["new_questions"][0].update(code="pain_score"), "new_questions.0.code",
     "already in the question bank"),
    (lambda d: d["new_questions"][0].update(min=40), "new_questions.0.max", "must be above min 40"),
    (lambda d: d["questions"][1]["red_flags"][0].update(value="50"), "questions.1.red_flags",
     "out of range 34..43"),
], ids=["forward", "cycle", "unknown-type", "duplicate-code", "code-taken", "bad-range", "operand-range"])
def test_given_a_broken_draft_when_checked_then_the_problem_is_on_its_field(change, field, words):
    with pytest.raises(DraftInvalid) as raised:
        check(_broken(change), BANK)
    assert words in {p.field: p.message for p in raised.value.problems}[field]



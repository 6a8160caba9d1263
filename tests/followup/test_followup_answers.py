"""Answer validation against each question type, skip logic and red flags: pure functions, no database."""
from __future__ import annotations

from datetime import date

import pytest

from callcenter.followup.answers import is_shown, next_item, normalise, red_flags, shown_items
from callcenter.followup.exceptions import InvalidAnswer
from callcenter.followup.schema import load_bank, load_questionnaires

BANK = load_bank()
SHIPPED = load_questionnaires(bank=BANK)


def q(code: str):
    return BANK.questions[code]


@pytest.mark.parametrize(("code", "given", "stored"), [
    ("fever_since_discharge", True, True),
    ("fever_since_discharge", "no", False),
    ("fever_since_discharge", "Yes", True),
    ("wound_discharge", "pus", "pus"),
    ("new_health_problems", ["none", "fall"], ["fall", "none"]),  # kept in the question's order
    ("pain_score", 0, 0),
    ("pain_score", "10", 10),
    ("pain_score", 7.0, 7),
    ("body_temperature", "38.5", 38.5),
    ("body_temperature", 39, 39),
    ("systolic_bp", "120", 120),
    ("follow_up_appointment_date", date(2027, 1, 5), "2027-01-05"),
    ("follow_up_appointment_date", "2027-01-05", "2027-01-05"),
    ("other_concerns", "  stitches itch  ", "stitches itch"),
    ("spoken_message", "followup-42-spoken_message", "followup-42-spoken_message"),
])
def test_given_an_answer_of_the_right_type_when_normalised_then_the_stored_value_is_returned(
        code, given, stored):
    assert normalise(q(code), given) == stored


@pytest.mark.parametrize(("code", "given", "message"), [
    ("fever_since_discharge", "maybe", "fever_since_discharge: expected yes or no"),
    ("fever_since_discharge", None, "fever_since_discharge: no answer given"),
    ("wound_discharge", "green",
     "wound_discharge: 'green' is not one of its choices (none, clear, pus, bleeding)"),
    ("new_health_problems", "fall", "new_health_problems: expected a list of one or more choices"),
    ("new_health_problems", [], "new_health_problems: expected a list of one or more choices"),
    ("new_health_problems", ["fall", "fall"], "new_health_problems: a choice given twice"),
    ("pain_score", 11, "pain_score: 11 is out of range 0..10"),
    ("pain_score", -1, "pain_score: -1 is out of range 0..10"),
    ("pain_score", 2.5, "pain_score: expected a whole number"),
    ("pain_score", True, "pain_score: expected a number"),
    ("pain_score", "NaN", "pain_score: expected a number"),
    ("body_temperature", "38.55", "body_temperature: at most 1 decimal place(s)"),
    ("body_temperature", 45, "body_temperature: 45 is out of range 34..43 °C"),
    ("systolic_bp", "12O", "systolic_bp: expected a number"),
    ("follow_up_appointment_date", "05/01/2027", "follow_up_appointment_date: expected a date as YYYY-MM-DD"),
    ("other_concerns", "x" * 1001, "other_concerns: longer than 1000 characters"),
    ("spoken_message", "../etc/passwd",
     "spoken_message: expected the name of the recording of the spoken answer"),
])
def test_given_an_answer_that_does_not_fit_when_normalised_then_refused_naming_the_rule(code, given, message):
    with pytest.raises(InvalidAnswer) as caught:
        normalise(q(code), given)

    assert str(caught.value) == message


def test_given_a_free_text_too_long_when_refused_then_the_message_never_quotes_the_text():
    with pytest.raises(InvalidAnswer) as caught:
        normalise(q("other_concerns"), "Mrs Example at 12 Test Street " * 40)

    assert "Example" not in str(caught.value)


# ---- skip logic ----

def test_given_no_fever_when_the_surgery_follow_up_is_asked_then_the_temperature_is_skipped():
    questionnaire = SHIPPED["post_discharge_surgery"]
    answers = {"overall_recovery": 4, "pain_score": 3, "fever_since_discharge": False}

    assert next_item(questionnaire, answers).code == "wound_redness"
    assert "body_temperature" not in [i.code for i in shown_items(questionnaire, answers)]


def test_given_a_fever_when_the_surgery_follow_up_is_asked_then_the_temperature_comes_next():
    questionnaire = SHIPPED["post_discharge_surgery"]

    answers = {"overall_recovery": 4, "pain_score": 3, "fever_since_discharge": True}

    assert next_item(questionnaire, answers).code == "body_temperature"


def test_given_a_condition_list_when_one_fails_then_the_question_is_not_shown():
    item = SHIPPED["post_surgery_wound_check"].item("body_temperature")

    assert is_shown(item, {"fever_since_discharge": True, "wound_redness": True})
    assert not is_shown(item, {"fever_since_discharge": True, "wound_redness": False})
    assert not is_shown(item, {"fever_since_discharge": True})  # not answered: not matched


def test_given_in_and_at_least_conditions_when_answers_match_then_the_dependent_question_is_shown():
    copd, diabetes = SHIPPED["copd"], SHIPPED["diabetes"]

    assert is_shown(copd.item("rescue_pack_used"), {"sputum_change": "coloured"})
    assert not is_shown(copd.item("rescue_pack_used"), {"sputum_change": "no_change"})
    assert is_shown(diabetes.item("hypo_needed_help"), {"hypo_episodes": 2})
    assert not is_shown(diabetes.item("hypo_needed_help"), {"hypo_episodes": 0})


def test_given_every_question_answered_when_asking_the_next_then_the_questionnaire_is_done():
    questionnaire = SHIPPED["satisfaction_after_discharge"]

    answers = {"recommend_hospital": 5, "staff_kindness": 5, "discharge_information": 4}

    assert next_item(questionnaire, answers) is None  # what_to_improve asked only at 3 or less


def test_given_a_hidden_question_when_it_was_answered_anyway_then_its_dependants_stay_hidden():
    questionnaire = SHIPPED["research_recovery_outcomes"]
    answers = {"returned_to_usual_activities": False, "usual_activities_date": "2027-01-01"}

    assert "usual_activities_date" not in [i.code for i in shown_items(questionnaire, answers)]


# ---- red flags ----

def test_given_a_red_flag_answer_when_checked_then_the_escalation_of_the_rule_is_returned():
    item = SHIPPED["post_surgery_wound_check"].item("wound_discharge")

    assert [(f.disposition, f.escalation) for f in red_flags(item, "bleeding")] == [
        ("nurse_now", "nurse_transfer")]
    assert [f.escalation for f in red_flags(item, "pus")] == ["urgent_callback"]
    assert red_flags(item, "clear") == []


def test_given_threshold_red_flags_when_checked_then_both_bounds_apply():
    item = SHIPPED["diabetes"].item("blood_glucose_mmol")

    assert len(red_flags(item, 3.2)) == 1 and len(red_flags(item, 24)) == 1
    assert red_flags(item, 6.1) == []

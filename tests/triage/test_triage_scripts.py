"""Call scripts: steps in order, fields merged, autoescaped, missing fields visible."""
from __future__ import annotations

import pytest

from callcenter.triage.exceptions import UnknownScript
from callcenter.triage.guide import CALL_TYPES, Record, ScriptGuide

GUIDE = ScriptGuide()
PATIENT = {"first_name": "Ana", "last_name": "Jiménez", "phone": "+1 415 555 0123", "mrn": "MRN100023",
           "date_of_birth": "1971-10-10", "next_appointment": "6 May", "pharmacy": "Main St"}
CALL = {"part_of_day": "morning", "hospital_name": "St Example", "offered_slot": "Tuesday 10:00",
        "offered_clinician": "Dr Lee", "offered_location": "Clinic B", "test_name": "blood count",
        "test_date": "2 May", "result_status": "ready", "callback_by": "5 pm", "medication": "metformin",
        "reference": "C-1", "response_days": 3, "callback_number": "415 555 0100", "reason": "surgery",
        "visit_date": "1 May"}


@pytest.mark.parametrize("call_type", CALL_TYPES)
def test_given_every_field_when_a_script_renders_then_every_step_has_text_and_nothing_is_missing(call_type):
    steps = GUIDE.render(call_type, patient=PATIENT, call=CALL, agent={"first_name": "Carla"})
    assert [s.id for s in steps] == GUIDE.steps(call_type)
    assert len(steps) >= 5 and steps[0].id == "greet" and steps[-1].id == "close"
    assert all(s.html.strip() for s in steps)
    assert [s.id for s in steps if s.missing] == []


@pytest.mark.parametrize("call_type", CALL_TYPES)
def test_given_no_fields_at_all_when_a_script_renders_then_markers_not_a_crash(call_type):
    steps = GUIDE.render(call_type)
    assert all(s.html.strip() for s in steps)
    assert any("[missing: " in s.html for s in steps)


def test_given_a_missing_first_name_when_the_greeting_renders_then_a_visible_marker_names_the_field():
    patient = {**PATIENT, "first_name": None}
    steps = GUIDE.render("scheduling", patient=patient, call=CALL, agent={"first_name": "Carla"})
    [greet] = [s for s in steps if s.id == "greet"]
    assert '<mark class="script-missing">[missing: patient.first_name]</mark> Jiménez?' in greet.html
    assert greet.missing == ("patient.first_name",)
    assert greet.public()["missing"] == ["patient.first_name"]


def test_given_an_absent_record_when_a_nested_field_is_used_then_the_marker_names_the_whole_path():
    env = GUIDE.env
    html = env.from_string("{{ call.visit.date }} / {{ patient.address.city }}").render(
        call=Record("call", {}), patient=Record("patient", {"address": {}}))
    assert "[missing: call.visit.date]" in html and "[missing: patient.address.city]" in html


def test_given_markup_in_a_patient_field_when_rendered_then_it_is_escaped():
    patient = {**PATIENT, "first_name": '<script>alert("x")</script>'}
    greet = GUIDE.render("scheduling", patient=patient, call=CALL)[0]
    assert "<script>" not in greet.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in greet.html


def test_given_a_field_named_like_a_dict_method_when_rendered_then_the_field_is_used():
    html = GUIDE.env.from_string("{{ call.items }} {{ call.keys }}").render(call=Record("call", {"items": 2}))
    assert html.startswith("2 ") and "[missing: call.keys]" in html


def test_given_an_unknown_call_type_when_rendered_then_unknown_script():
    with pytest.raises(UnknownScript):
        GUIDE.render("billing")

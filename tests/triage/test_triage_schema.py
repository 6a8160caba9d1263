"""Protocol, ladder and suggestion files: every broken file is reported as `file:line: where: what`."""
from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.triage.exceptions import TriageDataError
from callcenter.triage.schema import load_ladder, load_protocol, load_protocols, load_suggestions

LADDER = load_ladder()

VALID = """\
id: test_protocol
title: {en: "Test", es: "Prueba"}
version: 1
source: ["NHS.uk: Test page"]
review_status: example content, requires clinical review
languages: [en, es]
call_back_if_worse: {en: "Call back if worse.", es: "Llame si empeora."}
questions:
  - id: first
    text: {en: "First?", es: "¿Primera?"}
    if_yes: call_emergency_services_now
    advice: {en: "Call now.", es: "Llame ahora."}
  - id: second
    text: {en: "Second?", es: "¿Segunda?"}
    if_yes: nurse_now
    advice: {en: "Nurse.", es: "Enfermera."}
if_no_to_all:
  disposition: home_care
  advice: {en: "Rest.", es: "Descanse."}
"""


def write(tmp_path: Path, text: str, name: str = "protocol.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    return [n for n, line in enumerate(text.splitlines(), 1) if marker in line][occurrence - 1]


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(TriageDataError) as caught:
        load_protocol(path, LADDER)
    return caught.value.problems


def test_given_a_valid_protocol_when_loaded_then_questions_keep_their_order_and_lines(tmp_path):
    protocol = load_protocol(write(tmp_path, VALID), LADDER)
    assert [q.id for q in protocol.questions] == ["first", "second"]
    assert protocol.questions[1].line == line_of(VALID, "id: second")
    assert protocol.if_no_to_all.disposition == "home_care"
    assert protocol.title["es"] == "Prueba"


def test_given_an_unknown_disposition_when_loaded_then_the_error_names_file_line_and_the_ladder(tmp_path):
    text = VALID.replace("if_yes: nurse_now", "if_yes: nurse_soon")
    [problem] = problems_of(tmp_path, text)
    where = f"{tmp_path / 'protocol.yaml'}:{line_of(text, 'nurse_soon')}"
    assert problem.startswith(f"{where}: question 'second':")
    assert "unknown disposition 'nurse_soon'" in problem and "nurse_now" in problem


def test_given_a_question_more_urgent_than_the_one_before_when_loaded_then_acuity_order_error(tmp_path):
    text = VALID.replace("if_yes: call_emergency_services_now", "if_yes: see_doctor_today")
    [problem] = problems_of(tmp_path, text)
    where = f"{tmp_path / 'protocol.yaml'}:{line_of(text, 'id: second')}"
    assert problem.startswith(f"{where}: question 'second':")
    assert "acuity order" in problem and "'nurse_now' is more urgent than 'see_doctor_today'" in problem


def test_given_no_to_all_more_urgent_than_the_last_question_when_loaded_then_error(tmp_path):
    text = VALID.replace("disposition: home_care", "disposition: emergency_department_now")
    [problem] = problems_of(tmp_path, text)
    assert f":{line_of(text, 'disposition: emergency')}: if_no_to_all: " in problem
    assert "more urgent than the last question's 'nurse_now'" in problem


def test_given_a_missing_spanish_variant_when_loaded_then_the_error_names_the_line_and_language(tmp_path):
    text = VALID.replace('text: {en: "Second?", es: "¿Segunda?"}', 'text: {en: "Second?"}')
    [problem] = problems_of(tmp_path, text)
    assert f":{line_of(text, 'Second?')}: question 'second': text: missing language variant(s): es" in problem


def test_given_languages_without_spanish_when_loaded_then_error(tmp_path):
    problems = problems_of(tmp_path, VALID.replace("languages: [en, es]", "languages: [en]"))
    assert any("languages: must list each of en, es once" in p for p in problems)


def test_given_a_duplicate_question_id_when_loaded_then_error_at_the_second(tmp_path):
    text = VALID.replace("id: second", "id: first")
    [problem] = problems_of(tmp_path, text)
    assert f":{line_of(text, 'id: first', 2)}: question 'first': duplicate question id" in problem


def test_given_two_files_with_the_same_id_when_loading_the_directory_then_both_files_are_named(tmp_path):
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    with pytest.raises(TriageDataError) as caught:
        load_protocols(tmp_path, LADDER)
    [problem] = caught.value.problems
    assert problem == f"{tmp_path / 'b.yaml'}:1: id 'test_protocol' is already used by {tmp_path / 'a.yaml'}"


def test_given_an_unquoted_yes_key_when_loaded_then_the_hint_says_if_yes(tmp_path):
    problems = problems_of(tmp_path, VALID.replace("if_yes: nurse_now", "yes: nurse_now"))
    assert any("write 'if_yes:'" in p for p in problems), problems
    assert not any("unknown key" in p for p in problems), problems


def test_given_an_unreviewed_status_and_no_source_when_loaded_then_both_are_reported(tmp_path):
    text = VALID.replace("review_status: example content, requires clinical review", "review_status: fine") \
        .replace('source: ["NHS.uk: Test page"]', "source: []")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 2
    status_line = line_of(text, 'review_status')
    assert any(f":{status_line}: review_status: 'fine' is not one of" in p for p in problems)
    assert any(f":{line_of(text, 'source:')}: source: name at least one public source" in p for p in problems)


def test_given_broken_yaml_when_loaded_then_the_line_is_named(tmp_path):
    text = VALID.replace("  - id: second", "  - id: second: oops")
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'protocol.yaml'}:{line_of(text, 'oops')}: invalid YAML")


def test_given_a_ladder_with_an_unknown_action_when_loaded_then_error(tmp_path):
    text = """\
review: x
languages: [en, es]
dispositions:
  home_care:
    label: {en: Home, es: Casa}
    action: pray
    escalation_required: false
    instruction: {en: Rest, es: Descanse}
"""
    with pytest.raises(TriageDataError) as caught:
        load_ladder(write(tmp_path, text, "ladder.yaml"))
    assert caught.value.problems == [
        f"{tmp_path / 'ladder.yaml'}:6: disposition 'home_care': action: 'pray' is not one of:"
        " emergency_services, emergency_department, nurse_transfer, appointment, home_care"]


def test_given_suggestions_naming_an_unknown_protocol_when_loaded_then_error(tmp_path):
    text = ("version: 1\nsource: x\nreview_status: example content, requires clinical review\n"
            "languages: [en, es]\nqueues:\n  nurse: [chest_pain, chest_pian]\n"
            "phrases:\n  chest_pain: {en: [chest], es: [pecho]}\n")
    with pytest.raises(TriageDataError) as caught:
        load_suggestions(write(tmp_path, text, "s.yaml"), protocol_ids={"chest_pain"})
    assert caught.value.problems == [
        f"{tmp_path / 's.yaml'}:6: queues: 'nurse': unknown protocol 'chest_pian'"]

"""`callcenter questionnaires check|load`."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callcenter import cli
from callcenter.db.database import Database
from callcenter.followup.services import AnswerGiven, QuestionnaireService, pseudonym

from .test_followup_schema import QUESTIONNAIRE, write

pytestmark = pytest.mark.usefixtures("isolated")  # tests/conftest.py: state in tmp_path, no CALLCENTER_*


def test_given_the_shipped_questionnaires_when_checked_then_each_file_is_ok(capsys):
    assert cli.main(["questionnaires", "check"]) == 0

    out = capsys.readouterr().out
    assert "question_bank.yaml: ok (question bank version 2026-12-04" in out
    assert out.count(": ok (") == 13 and "post_discharge_cardiology version 1" in out


def test_given_a_broken_file_when_checked_then_exit_1_with_file_and_line(capsys, tmp_path):
    in_both_languages = QUESTIONNAIRE.replace('{en: "Wound check"}', '{en: "Wound check", es: "Herida"}')
    path = write(tmp_path, in_both_languages.replace("code: fever", "code: fevr").replace(
        "kind: post_surgery", "kind: surgery"), "broken.yaml")

    assert cli.main(["questionnaires", "check", str(path)]) == 1

    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}:6: kind: 'surgery' is not one of: post_discharge, post_surgery, chronic_care," \
                     " maternal_newborn, satisfaction, research"
    assert err[1].startswith(f"{path}:9: question 1: code: no question 'fevr' in the question bank")


def test_given_the_shipped_questionnaires_when_loaded_twice_then_stored_once(capsys):
    assert cli.main(["questionnaires", "load"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["questionnaires", "load"]) == 0
    second = capsys.readouterr().out

    assert first.count("stored ") == 12 and "stored copd 1" in first
    assert second.count("unchanged ") == 12 and "stored" not in second


def test_given_a_broken_file_when_loaded_then_nothing_is_stored(capsys, tmp_path):
    path = write(tmp_path, QUESTIONNAIRE.replace("version: 1\n", ""), "broken.yaml")

    assert cli.main(["questionnaires", "load", str(path)]) == 1

    assert f"{path}:1: missing required key 'version'" in capsys.readouterr().err
    assert not (tmp_path / "state" / "callcenter.db").exists()


async def answer_in_research_study(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'state' / 'callcenter.db'}")
    try:
        service = QuestionnaireService(db)
        response = await service.start_response("research_recovery_outcomes", channel="phone", patient_id=11,
                                                call_id="c1")
        await service.record_answer(AnswerGiven(response, "quality_of_life_eq_vas", 8, channel="phone",
                                                answered_by="automated", call_id="c1"))
    finally:
        db.close()


def test_given_answers_in_a_study_when_exported_then_csv_or_json_with_pseudonyms_on_request(capsys, tmp_path):
    assert cli.main(["questionnaires", "load"]) == 0
    asyncio.run(answer_in_research_study(tmp_path))
    key_file = write(tmp_path, "a-research-office-secret\n", "key")
    capsys.readouterr()

    assert cli.main(["questionnaires", "export", "recovery_outcomes"]) == 0
    plain = capsys.readouterr().out.splitlines()
    pseudonymised = ["--pseudonym-key-file", str(key_file)]
    assert cli.main(["questionnaires", "export", "recovery_outcomes", *pseudonymised]) == 0
    hidden = capsys.readouterr().out.splitlines()
    assert cli.main(["questionnaires", "export", "recovery_outcomes", "--format", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)

    assert plain[1].split(",")[1:7] == ["11", "research_recovery_outcomes", "1", "quality_of_life_eq_vas",
                                        "scale", "8"]
    assert hidden[1].split(",")[1] == pseudonym(b"a-research-office-secret", "recovery_outcomes", 11)
    assert "c1" not in hidden[1] and "call_id" not in hidden[0]
    assert [(a["patient"], a["value"], a["call_id"]) for a in as_json["answers"]] == [(11, 8, "c1")]

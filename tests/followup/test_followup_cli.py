"""`callcenter questionnaires check|load`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from callcenter import cli
from callcenter.config import SCRIPT_PREFIXES

from .test_followup_schema import QUESTIONNAIRE, write


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and not name.startswith(SCRIPT_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "callcenter.toml"))
    return tmp_path


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

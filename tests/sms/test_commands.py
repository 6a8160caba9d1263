"""`callcenter sms check|outbox|kannel-conf`, run in-process through `callcenter.cli.main`."""
from __future__ import annotations

import json

import pytest

from callcenter import cli

pytestmark = pytest.mark.usefixtures("isolated")  # tests/conftest.py: state in tmp_path, no CALLCENTER_*


def test_given_the_shipped_texts_when_checked_then_0_and_what_they_hold(capsys):
    assert cli.main(["sms", "check"]) == 0
    assert "texts in en, es, version 1" in capsys.readouterr().out


def test_given_a_text_with_a_clinical_placeholder_when_checked_then_2_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "texts.yaml"
    bad.write_text('version: 1\nsource: s\nreview: r\nlanguages: [en]\n'
                   'formats:\n  en: {date: "%x", time: "%X"}\n'
                   'templates:\n  reminder:\n    en: "See {clinician} on {date}"\n')

    assert cli.main(["sms", "check", str(bad)]) == 2
    assert f"{bad}:9: templates.reminder: en: unknown placeholder {{clinician}}" in capsys.readouterr().err


def test_given_no_callback_key_when_kannel_conf_is_asked_then_2_saying_so(capsys):
    assert cli.main(["sms", "kannel-conf"]) == 2
    assert "callback_key" in capsys.readouterr().err


def test_given_the_sms_settings_when_kannel_conf_is_asked_then_the_smsbox_groups_fit_them(monkeypatch,
                                                                                         capsys):
    monkeypatch.setenv("CALLCENTER_SMS_CALLBACK_KEY", "k3y")
    monkeypatch.setenv("CALLCENTER_SMS_CALLBACK_URL", "http://10.0.0.5:8080/")
    monkeypatch.setenv("CALLCENTER_SMS_KANNEL_URL", "http://127.0.0.1:14013/cgi-bin/sendsms")
    monkeypatch.setenv("CALLCENTER_SMS_SENDER", "45678")

    assert cli.main(["sms", "kannel-conf"]) == 0
    out = capsys.readouterr().out
    assert 'post-url = "http://10.0.0.5:8080/sms/gateway/inbound?key=k3y"' in out
    assert "sendsms-port = 14013" in out and "default-sender = 45678" in out and "send-sender = true" in out


def test_given_an_empty_database_when_the_outbox_is_asked_then_an_empty_list(capsys):
    assert cli.main(["sms", "outbox"]) == 0
    assert json.loads(capsys.readouterr().out) == []

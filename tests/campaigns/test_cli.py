"""`callcenter campaign ...` and `callcenter dnc ...`, run in-process through callcenter.cli.main, on both
databases (CALLCENTER_DATABASE_URL)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter import cli
from callcenter.db.models import AuditEvent, DoNotCall

from .conftest import HOSPITAL_ZONE, add_appointment, add_patient, campaign_yaml

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch, isolated: Path, db, database_url: str) -> Path:
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLCENTER_SITE_TIME_ZONE", HOSPITAL_ZONE)
    return isolated


def test_given_a_broken_file_when_validated_then_every_problem_with_file_and_line_and_exit_1(env, capsys):
    bad = env / "bad.yaml"
    bad.write_text(campaign_yaml(flow="no-such-flow", extra="compliance: {max_attempts: 0}\n"))

    code = cli.main(["campaign", "validate", str(bad), str(PROJECT / "campaigns")])

    err = capsys.readouterr()
    assert code == 1
    assert f"{bad}:7: flow: no flow file no-such-flow.yaml" in err.err
    assert f"{bad}:8: compliance: max_attempts: 0 is out of range" in err.err
    assert err.out.count(": ok (") == 4                                    # the examples are fine


def test_given_the_example_campaigns_when_loaded_planned_and_reported_then_targets_show(env, db, capsys):
    with db.session() as s:
        from datetime import UTC, datetime, time, timedelta
        from zoneinfo import ZoneInfo
        zone = ZoneInfo(HOSPITAL_ZONE)
        tomorrow = datetime.combine(datetime.now(zone).date() + timedelta(days=1), time(11), zone)
        for n in range(3):
            add_appointment(s, add_patient(s, n), tomorrow.astimezone(UTC))

    assert cli.main(["campaign", "load", str(PROJECT / "campaigns")]) == 0
    assert cli.main(["campaign", "load", str(PROJECT / "campaigns")]) == 0     # unchanged: same versions
    assert cli.main(["campaign", "plan", "appointment-reminders"]) == 0
    assert cli.main(["campaign", "list"]) == 0
    assert cli.main(["campaign", "report", "appointment-reminders"]) == 0
    assert cli.main(["campaign", "report", "appointment-reminders", "--csv"]) == 0

    out = capsys.readouterr().out
    plan = json.loads(next(line for line in out.splitlines() if line.startswith('{"campaign"')))
    assert plan["created"] == 3 and plan["pending"] == 3
    assert "appointment-reminders" in out and "targets=3 pending=3" in out
    assert out.count("target_id,patient_id,subject_kind") == 1 and out.count(",appointment,") == 3


def test_given_an_unknown_campaign_when_planned_then_a_clear_error(env, capsys):
    assert cli.main(["campaign", "plan", "nope"]) == 1
    assert "no campaign named 'nope'" in capsys.readouterr().err


def test_given_a_dnc_csv_with_bad_rows_when_imported_then_every_bad_row_is_listed_and_nothing_written(
        env, db, capsys):
    with db.session() as s:
        add_patient(s, 1)
    bad = env / "dnc.csv"
    bad.write_text("number,mrn,campaign_kind,reason\n"
                   "+1 415 555 0100,,,asked\n"          # row 2: fine
                   "not-a-number,,,\n"                  # row 3
                   ",T999999,,\n"                       # row 4: unknown MRN
                   ",T000001,reminders,\n"              # row 5: unknown kind
                   ",,,\n")                             # row 6: nothing

    assert cli.main(["dnc", "import", str(bad)]) == 1

    err = capsys.readouterr().err
    for row in (3, 4, 5, 6):
        assert f"{bad}: row {row}:" in err
    assert "row 2:" not in err
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DoNotCall)) == 0


def test_given_a_good_dnc_csv_when_imported_then_listed_and_removable(env, db, capsys):
    with db.session() as s:
        add_patient(s, 1)
    good = env / "dnc.csv"
    good.write_text("number,mrn,campaign_kind,reason\n"
                    "+1 415 555 0100,,,asked\n,T000001,satisfaction_survey,\n")

    assert cli.main(["dnc", "import", str(good)]) == 0
    assert cli.main(["dnc", "add", "--number", "+14155550199", "--reason", "by phone"]) == 0
    assert cli.main(["dnc", "list"]) == 0
    out = capsys.readouterr().out
    assert "imported 2" in out and "+14155550100" in out and "T000001" in out and "satisfaction_survey" in out
    assert cli.main(["dnc", "remove", "1", "--reason", "patient asked again"]) == 0
    assert cli.main(["dnc", "remove", "1", "--reason", "patient asked again"]) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DoNotCall)) == 2
        removed = s.scalars(select(AuditEvent).where(AuditEvent.action == "dnc_removed")).one()
    assert (removed.reason, removed.detail["entry"]) == ("patient asked again", 1)


def test_given_no_reason_when_a_dnc_entry_is_removed_then_refused_and_kept(env, db, capsys):
    assert cli.main(["dnc", "add", "--number", "+14155550199", "--reason", "by phone"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["dnc", "remove", "1"])
    assert "--reason" in capsys.readouterr().err
    assert cli.main(["dnc", "remove", "1", "--reason", " "]) == 1
    assert "say why" in capsys.readouterr().err
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DoNotCall)) == 1

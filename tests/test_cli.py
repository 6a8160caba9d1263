"""The `callcenter` command, run in-process through `callcenter.cli.main`."""
from __future__ import annotations

import json
import socket
import stat

import pytest

from callcenter import cli
from callcenter.ari.client import AriClient

SUBCOMMANDS = ("serve", "setup", "db", "seed-demo", "prompts", "simulate-call", "agent", "config")


pytestmark = pytest.mark.usefixtures("isolated")  # tests/conftest.py: state in tmp_path, no CALLCENTER_*


@pytest.fixture
def no_asterisk(monkeypatch) -> list[str]:
    """Fail loudly if anything opens an ARI session; returns the list of attempts."""
    attempts: list[str] = []

    async def start(self) -> None:
        attempts.append(self.app)
        raise AssertionError("the command contacted Asterisk")
    monkeypatch.setattr(AriClient, "start", start)
    return attempts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_given_help_flag_when_run_then_every_subcommand_listed(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])

    out = capsys.readouterr().out
    assert caught.value.code == 0
    for command in SUBCOMMANDS:
        assert f"    {command} " in out or f"    {command}\n" in out, command
    with pytest.raises(SystemExit):
        cli.main(["db", "--help"])
    assert "upgrade" in capsys.readouterr().out


def test_given_no_command_when_run_then_help_and_exit_2(capsys):
    assert cli.main([]) == 2
    assert "simulate-call" in capsys.readouterr().out


@pytest.mark.parametrize("digits", ["1,x", "1,,2", "12a", ",1", "1;2"])
def test_given_bad_digits_when_simulating_call_then_exit_2_without_contacting_asterisk(
        capsys, no_asterisk, digits):
    code = cli.main(["simulate-call", "--caller", "+14155550101", "--digits", digits])

    err = capsys.readouterr().err
    assert code == 2
    assert "--digits must be keys 0-9, * or # separated by commas" in err and repr(digits) in err
    assert no_asterisk == []


@pytest.mark.parametrize("seconds", ["0", "-5", "3601"])
def test_given_bad_hangup_after_when_simulating_call_then_exit_2_without_contacting_asterisk(
        capsys, no_asterisk, seconds):
    code = cli.main(["simulate-call", "--caller", "+14155550101", "--hangup-after", seconds])

    assert code == 2
    assert "--hangup-after must be between 0 and 3600 seconds" in capsys.readouterr().err
    assert no_asterisk == []


def test_given_asterisk_not_running_when_simulating_call_then_exit_1_with_clear_message(capsys, monkeypatch):
    monkeypatch.setenv("CALLCENTER_ARI_URL", f"http://127.0.0.1:{free_port()}")

    code = cli.main(["simulate-call", "--caller", "+14155550101", "--digits", "2,1", "--hangup-after", "5"])

    err = capsys.readouterr().err
    assert code == 1
    assert "Asterisk did not answer" in err and "[ari] url" in err


def test_given_secrets_when_showing_config_then_secrets_hidden(capsys, monkeypatch):
    monkeypatch.setenv("CALLCENTER_ARI_PASSWORD", "ari-pass-123")
    monkeypatch.setenv("CALLCENTER_HTTP_API_TOKEN", "api-token-456")
    monkeypatch.setenv("CALLCENTER_HTTP_SESSION_KEY", "session-key-789")
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", "postgresql+psycopg://cc:db-pass-000@db.internal/cc")
    monkeypatch.setenv("CALLCENTER_HTTP_PORT", "9090")

    assert cli.main(["config"]) == 0

    out = capsys.readouterr().out
    for secret in ("ari-pass-123", "api-token-456", "session-key-789", "db-pass-000"):
        assert secret not in out
    shown = json.loads(out)
    assert shown["ari"]["password"] == "***" and shown["http"]["api_token"] == "***"
    assert shown["http"]["session_key"] == "***"
    assert shown["database"]["url"] == "postgresql+psycopg://***@db.internal/cc"
    assert shown["http"]["port"] == 9090


def test_given_no_secrets_when_showing_config_then_empty_values_shown_as_empty(capsys, isolated):
    assert cli.main(["config"]) == 0

    shown = json.loads(capsys.readouterr().out)
    assert shown["ari"]["password"] == "" and shown["http"]["api_token"] == ""
    assert shown["database"]["url"] == f"sqlite:///{isolated / 'state' / 'callcenter.db'}"
    assert not (isolated / "state" / "secrets.toml").exists()  # showing the config creates nothing


def test_given_bad_env_when_running_a_command_then_exit_2_naming_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("CALLCENTER_HTTP_PORT", "eighty")

    assert cli.main(["config"]) == 2
    assert ("configuration error: http.port: expected an integer, got 'eighty' (from CALLCENTER_HTTP_PORT)"
            in capsys.readouterr().err)


def test_given_no_server_listening_when_setting_agent_state_then_exit_1_with_clear_message(
        capsys, monkeypatch):
    port = free_port()
    monkeypatch.setenv("CALLCENTER_HTTP_PORT", str(port))

    code = cli.main(["agent", "1001", "available"])

    err = capsys.readouterr().err
    assert code == 1
    assert f"the server at http://127.0.0.1:{port}/api/agents/1001/state did not answer" in err


def test_given_unknown_agent_state_when_run_then_argparse_refuses_with_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["agent", "1001", "on_call"])

    assert caught.value.code == 2
    assert "invalid choice: 'on_call'" in capsys.readouterr().err


def test_given_fresh_state_dir_when_setup_then_private_secrets_and_upgraded_database(capsys, isolated):
    assert cli.main(["setup"]) == 0

    secrets = isolated / "state" / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert (isolated / "state" / "callcenter.db").stat().st_size > 0
    assert "database: upgraded" in capsys.readouterr().out


def test_given_config_option_when_setup_then_database_of_that_file_is_upgraded(capsys, isolated):
    db_file = isolated / "chosen.db"
    config = isolated / "chosen.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db_file}"\n')

    assert cli.main(["--config", str(config), "setup"]) == 0

    assert db_file.exists() and db_file.stat().st_size > 0
    assert not (isolated / "state" / "callcenter.db").exists()


def test_given_config_option_when_db_upgrade_then_database_of_that_file_is_upgraded(capsys, isolated):
    db_file = isolated / "chosen.db"
    config = isolated / "chosen.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db_file}"\n')

    assert cli.main(["--config", str(config), "db", "upgrade"]) == 0

    assert db_file.stat().st_size > 0
    assert "upgraded" in capsys.readouterr().out


def test_given_no_from_when_kpi_then_report_covers_today_in_hospital_time(capsys, monkeypatch, sqlite_url):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from callcenter.db.database import Database
    db = Database(sqlite_url)
    db.upgrade()
    db.close()
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CALLCENTER_SITE_TIME_ZONE", "Pacific/Kiritimati")   # UTC+14: its today is not UTC's

    assert cli.main(["kpi", "--format", "csv"]) == 0

    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].startswith(f"{today},{today},0,0,0,")

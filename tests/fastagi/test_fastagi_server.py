"""The FastAGI server over real sockets, with Asterisk's side of each connection played by the test (a real
call through the sandbox Asterisk: tests/integration/test_fastagi.py). Both databases."""
from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.config import ConfigError, load
from callcenter.db.database import upgrade
from callcenter.db.models import AuditEvent, Complaint, Patient, PatientFlag, PatientPhone
from callcenter.fastagi.server import FastAgiServer
from callcenter.fastagi.services import FastAgiScripts
from callcenter.selfservice.actions import load_inbound_flow

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = load_inbound_flow(ROOT / "ivr_flows" / "hotline.yaml")
SET = re.compile(r'SET VARIABLE "([A-Z_]+)" "(.*)"')
VIP_NUMBER, SHARED_NUMBER = "+14155550171", "+14155550172"
# The protocol tests do little with the database: SQLite only (the identify tests run on both).
PROTOCOL_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class FakeAsterisk:
    """Asterisk's side of one FastAGI connection: sends the request's environment, then answers commands."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = self.sock.makefile("rb")
        self.commands: list[str] = []

    def request(self, script: str, *args: str, callerid: str = "4155550171", uniqueid: str = "1764.7"):
        env = {"agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://127.0.0.1/{script}",
               "agi_channel": "Local/hotline@fastagi-example-0001;2", "agi_language": "en",
               "agi_uniqueid": uniqueid, "agi_callerid": callerid, "agi_calleridname": "unknown"}
        env |= {f"agi_arg_{n}": arg for n, arg in enumerate(args, 1)}
        self.send("".join(f"{key}: {value}\n" for key, value in env.items()) + "\n")
        return self

    def send(self, text: str | bytes) -> None:
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def command(self) -> str | None:
        line = self.reader.readline()
        if not line:
            return None
        self.commands.append(line.decode().strip())
        return self.commands[-1]

    def converse(self, answers: dict[str, str] | None = None) -> list[str]:
        """Answer every command (`200 result=1`, or the answer for the command's first words) until the
        server closes the connection; the commands it sent."""
        while (command := self.command()) is not None:
            answer = next((a for start, a in (answers or {}).items() if command.startswith(start)),
                          "200 result=1")
            self.send(answer + "\n")
        self.close()
        return self.commands

    def variables(self) -> dict[str, str]:
        return dict(m.groups() for m in map(SET.fullmatch, self.commands) if m)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def server(db):
    server = FastAgiServer(FastAgiScripts(db, "US", {"hotline": HOTLINE}, "callcenter"), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def patients(db) -> dict[str, int]:
    """A VIP in chronic care, Spanish-speaking, with an open complaint; a landline two patients share."""
    with db.session() as s:
        vip = _patient(s, "MRN-AGI-1", "Rosa", "es", VIP_NUMBER)
        s.add_all([PatientFlag(patient_id=vip, flag="vip", note="Board"),
                   PatientFlag(patient_id=vip, flag="chronic"),
                   Complaint(serial="C-1", patient_id=vip, status="in_progress"),
                   Complaint(serial="C-0", patient_id=vip, status="resolved")])
        first, second = (_patient(s, f"MRN-AGI-{n}", name, "en", SHARED_NUMBER) for n, name in
                         ((2, "Ann"), (3, "Bob")))
    return {"vip": vip, "first": first, "second": second}


def _patient(session, mrn: str, given: str, language: str, phone: str) -> int:
    patient = Patient(mrn=mrn, given_name=given, family_name="Quintana", date_of_birth=date(1950, 1, 2),
                      sex="F", language=language)
    session.add(patient)
    session.flush()
    session.add(PatientPhone(patient_id=patient.id, e164=phone, kind="home", is_primary=True))
    return patient.id


def _audits(db) -> list[tuple[str, int | None, dict]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(a.action, a.patient_id, a.detail) for a in rows]


def test_given_a_vip_with_an_open_complaint_when_identified_then_variables_are_set_and_the_read_audited(
        server, patients, db, caplog):
    caplog.set_level(logging.DEBUG)
    asterisk = FakeAsterisk(server.address[1]).request("identify", callerid="(415) 555-0171")

    asterisk.converse()

    assert asterisk.variables() == {
        "CALLCENTER_CALLER_STATUS": "valid", "CALLCENTER_PATIENTS": "1", "CALLCENTER_LANGUAGE": "es",
        "CALLCENTER_VIP": "1", "CALLCENTER_CHRONIC": "1", "CALLCENTER_OPEN_COMPLAINT": "1",
        "CALLCENTER_AGI_STATUS": "OK", "CALLCENTER_AGI_ERROR": ""}
    assert _audits(db) == [("fastagi_identify", patients["vip"], {"channel": "1764.7", "candidates": 1})]
    assert "identify on channel 1764.7: 1 candidate" in caplog.text
    for patient_data in ("555", "0171", "Rosa", "Quintana", "MRN-AGI"):
        assert patient_data not in caplog.text


def test_given_a_landline_two_patients_share_when_identified_then_only_the_count_is_told(
        server, patients, db):
    asterisk = FakeAsterisk(server.address[1]).request("identify", callerid="+1 415 555 0172")

    asterisk.converse()

    variables = asterisk.variables()
    assert (variables["CALLCENTER_PATIENTS"], variables["CALLCENTER_LANGUAGE"]) == ("2", "")
    assert (variables["CALLCENTER_VIP"], variables["CALLCENTER_CHRONIC"]) == ("0", "0")
    assert sorted(p for _, p, _ in _audits(db)) == sorted([patients["first"], patients["second"]])


@pytest.mark.parametrize("callerid, status", [("unknown", "anonymous"), ("555-0100", "malformed"),
                                              ("4155550199", "valid")])
def test_given_a_caller_no_patient_has_when_identified_then_zero_patients_and_nothing_audited(
        server, patients, db, callerid, status):
    asterisk = FakeAsterisk(server.address[1]).request("identify", callerid=callerid)

    asterisk.converse()

    assert asterisk.variables() == {
        "CALLCENTER_CALLER_STATUS": status, "CALLCENTER_PATIENTS": "0", "CALLCENTER_LANGUAGE": "",
        "CALLCENTER_VIP": "0", "CALLCENTER_CHRONIC": "0", "CALLCENTER_OPEN_COMPLAINT": "0",
        "CALLCENTER_AGI_STATUS": "OK", "CALLCENTER_AGI_ERROR": ""}
    assert _audits(db) == []


@PROTOCOL_ONLY
def test_given_choices_when_routed_then_the_call_enters_the_hotline_application_with_them(server):
    asterisk = FakeAsterisk(server.address[1]).request("route", "language=2", "main=5")

    commands = asterisk.converse({"GET VARIABLE": "200 result=1 (SUCCESS)"})

    assert 'EXEC Stasis "callcenter,inbound,hotline,language=2,main=5"' in commands
    assert asterisk.variables() == {"CALLCENTER_AGI_STATUS": "OK", "CALLCENTER_AGI_ERROR": ""}


@PROTOCOL_ONLY
def test_given_the_hotline_application_is_down_when_routed_then_the_failure_says_so(server):
    asterisk = FakeAsterisk(server.address[1]).request("route")

    commands = asterisk.converse({"GET VARIABLE": "200 result=1 (FAILED)"})

    assert 'EXEC Stasis "callcenter,inbound,hotline"' in commands
    assert asterisk.variables() == {
        "CALLCENTER_AGI_STATUS": "FAILED",
        "CALLCENTER_AGI_ERROR": "the hotline application is not connected to Asterisk"}


@PROTOCOL_ONLY
@pytest.mark.parametrize("args, error", [
    (("main=9",), "menu 'main' of flow 'hotline' has no option '9'"),
    (("",), "'' is not a choice of the form MENU=KEY (a node name and one phone key)"),  # an unset variable
    (("language=2", "lobby=1"), "flow 'hotline' has no menu 'lobby'"),
])
def test_given_a_choice_the_hotline_lacks_when_routed_then_a_clear_failure_and_no_stasis(server, args, error):
    asterisk = FakeAsterisk(server.address[1]).request("route", *args)

    commands = asterisk.converse()

    assert not any(c.startswith("EXEC") for c in commands)
    assert asterisk.variables() == {"CALLCENTER_AGI_STATUS": "FAILED", "CALLCENTER_AGI_ERROR": error}
    assert commands[-1] == f'VERBOSE "callcenter FastAGI: {error}" 1'


@PROTOCOL_ONLY
def test_given_an_unknown_script_or_arguments_to_identify_when_requested_then_a_clear_failure(
        server, patients):
    unknown = FakeAsterisk(server.address[1]).request("identfy")
    with_args = FakeAsterisk(server.address[1]).request("identify", "4155550171")

    unknown.converse()
    with_args.converse()

    assert unknown.variables() == {
        "CALLCENTER_AGI_STATUS": "FAILED",
        "CALLCENTER_AGI_ERROR": "unknown script 'identfy': this server has identify, route"}
    assert with_args.variables() == {
        "CALLCENTER_AGI_STATUS": "FAILED",
        "CALLCENTER_AGI_ERROR": "identify takes no arguments: it reads the caller ID of the channel"}


@PROTOCOL_ONLY
def test_given_a_hang_up_mid_script_when_identifying_then_the_connection_ends_and_the_server_serves_on(
        server, patients):
    asterisk = FakeAsterisk(server.address[1]).request("identify")
    assert asterisk.command().startswith("SET VARIABLE")
    asterisk.send("HANGUP\n")  # what Asterisk writes when the channel hangs up

    assert asterisk.command() is None, "the server closes the connection"
    asterisk.close()
    assert _identified_vip(server)
    assert server.figures() == ({("identify", "hung_up"): 1, ("identify", "ok"): 1}, 0)


@PROTOCOL_ONLY
@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",          # a web client: no agi_request
    b"\xff\xfe\x00" * 2000,                         # binary, no newline: an overlong line
    b"agi_network: yes\n" * 600,                     # an environment that never ends
    b"agi_request: agi://x/identify\nagi_netw",      # closed mid-environment
    b"",                                             # connected and closed at once
])
def test_given_garbage_on_the_socket_when_sent_then_the_connection_is_closed_and_the_server_serves_on(
        server, patients, garbage):
    peer = socket.create_connection(server.address, timeout=5)
    peer.sendall(garbage)
    peer.shutdown(socket.SHUT_WR)

    assert _read_all(peer) == b"", "nothing is answered to what is not Asterisk"
    peer.close()
    assert _identified_vip(server)


@PROTOCOL_ONLY
def test_given_a_connection_that_stalls_when_another_request_comes_then_it_is_answered_meanwhile(
        server, patients):
    stalled = socket.create_connection(server.address, timeout=5)
    stalled.sendall(b"agi_network: yes\nagi_request: agi://127.0.0.1/identify\n")  # and then nothing

    results = []
    others = [threading.Thread(target=lambda: results.append(_identified_vip(server))) for _ in range(3)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)

    assert results == [True, True, True]
    stalled.close()


@PROTOCOL_ONLY
def test_given_every_connection_in_use_when_another_request_comes_then_busy_until_one_is_free(db, patients):
    server = FastAgiServer(FastAgiScripts(db, "US", {"hotline": HOTLINE}, "callcenter"), "127.0.0.1", 0,
                           max_connections=1)
    server.start()
    try:
        routed = FakeAsterisk(server.address[1]).request("route", "language=1")
        while not routed.command().startswith("EXEC"):  # the call is in the hotline: its connection stays
            routed.send("200 result=1\n")

        busy = FakeAsterisk(server.address[1]).request("identify")
        busy.converse()
        assert busy.variables() == {"CALLCENTER_AGI_STATUS": "FAILED",
                                    "CALLCENTER_AGI_ERROR": "the FastAGI server is busy"}
        assert server.figures() == ({("identify", "busy"): 1}, 1), "the routed call's connection is open"

        routed.send("HANGUP\n")  # the routed call ends
        routed.converse()
        assert _eventually(lambda: _identified_vip(server)), "served again once the connection is free"
    finally:
        server.stop()


def test_given_the_listen_command_when_run_then_it_serves_until_terminated(tmp_path, sqlite_url):
    port = _free_port()
    env = {**os.environ, "CALLCENTER_DATABASE_URL": sqlite_url, "PYTHONPATH": str(ROOT)}
    upgrade(sqlite_url)
    command = ["--config", str(tmp_path / "none.toml"), "fastagi", "listen", "--listen", f"127.0.0.1:{port}"]
    process = subprocess.Popen([sys.executable, "-m", "callcenter.cli", *command], env=env, cwd=tmp_path)
    try:
        # A new interpreter importing the package: seconds on a loaded 2-core machine (10 s was once too few).
        asterisk = _eventually(lambda: FakeAsterisk(port), seconds=60)
        asterisk.request("identify", callerid="anonymous").converse()
        assert asterisk.variables()["CALLCENTER_CALLER_STATUS"] == "anonymous"
    finally:
        process.terminate()
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()   # never leave it running: its Popen's ResourceWarning fails a later test
            process.wait()
            raise
    assert code == 0


def test_given_a_bad_listen_address_when_the_configuration_loads_then_the_setting_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"fastagi.listen: expected HOST:PORT"):
        load(config_file=tmp_path / "absent.toml", env={"CALLCENTER_FASTAGI_LISTEN": "4573"})
    cfg = load(config_file=tmp_path / "absent.toml", env={"CALLCENTER_FASTAGI_LISTEN": "127.0.0.1:4573"})
    assert cfg.fastagi.listen == "127.0.0.1:4573"
    assert load(config_file=tmp_path / "absent.toml", env={}).fastagi.listen == "", "off by default"


def _identified_vip(server: FastAgiServer) -> bool:
    asterisk = FakeAsterisk(server.address[1]).request("identify")
    asterisk.converse()
    return asterisk.variables().get("CALLCENTER_VIP") == "1"


def _eventually(attempt, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if result := attempt():
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{attempt} did not succeed within {seconds} s")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_all(peer: socket.socket) -> bytes:
    data = b""
    while chunk := peer.recv(4096):
        data += chunk
    return data

"""Real calls through the sandbox Asterisk: IVR, queue, offer with screen pop, bridge, recording, event
log."""
from __future__ import annotations

import array
import asyncio
import hashlib
import math
import os
import re
import signal
import sys
import time
import wave
from datetime import date
from pathlib import Path

import pytest

from callcenter.db.models import Allergy, Patient, PatientPhone

pytestmark = pytest.mark.asterisk

ENGLISH, RESULTS, NURSE = "1", "2", "4"


async def add_patient(center, mrn: str, phone: str, given="Ada", family="Lovelace") -> int:
    def create(session):
        patient = Patient(mrn=mrn, given_name=given, family_name=family, date_of_birth=date(1960, 12, 10),
                          sex="F", language="en")
        session.add(patient)
        session.flush()
        session.add(PatientPhone(patient_id=patient.id, e164=phone, kind="mobile", is_primary=True))
        session.add(Allergy(patient_id=patient.id, substance="Penicillin", reaction="rash",
                            severity="moderate"))
        return patient.id
    return await center.s.db.run(create)


async def receive(ws, kind: str, timeout: float = 60) -> tuple[dict, float]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
        if msg["type"] == kind:
            return msg, time.time()


def event_types(events) -> list[str]:
    return [e.type for e in events]


async def test_given_known_patient_when_calling_then_pop_before_answer_bridge_recording_and_log(center):
    patient_id = await add_patient(center, "MRN-T1", "+14155550199")
    ws = await center.agent_socket("1005")  # a nurse: skills nurse, results
    await center.set_agent("1005", "available")

    # The caller ID arrives in national format; the patient's number is stored as E.164.
    await center.call("4155550199", f"{ENGLISH},{RESULTS}", hangup_after=25)
    pop, pop_at = await receive(ws, "screen_pop")
    row = await center.call_row("connected")
    app = await center.ari.request("GET", f"/applications/{center.s.ari.app}")
    assert {"StasisStart", "ChannelDtmfReceived"} <= {f["type"] for f in app["events_allowed"]}

    assert pop["known"] is True
    assert [p["id"] for p in pop["patients"]] == [patient_id]
    # Only what the identity check needs: the record (allergies...) comes later, through the audited view.
    assert pop["patients"][0] == {"id": patient_id, "name": "Ada Lovelace", "date_of_birth": "1960-12-10",
                                  "mrn": "MRN-T1", "language": "en", "flags": []}
    assert "Penicillin" not in str(pop)
    assert pop["queue"] == "results"
    assert [c["key"] for c in pop["ivr_path"]] == [ENGLISH, RESULTS]
    assert pop_at < row.answered_at.timestamp(), "the pop must reach the agent before the agent answers"
    bridges = await center.ari.request("GET", "/bridges")
    assert any(len(b["channels"]) == 2 for b in bridges), "caller and agent are bridged"

    row = await center.call_row("ended", timeout=60)
    assert (row.outcome, row.patient_id, row.queue_name) == ("completed", patient_id, "results")
    assert row.started_at <= row.queued_at <= row.offered_at <= row.answered_at <= row.ended_at
    events = await center.events(row.id)
    types = event_types(events)
    for expected in ("call_started", "answered", "caller_identified", "ivr_choice", "queued", "offered",
                     "connected", "recording_started", "ended"):
        assert expected in types, f"{expected} missing from {types}"
    assert types.index("queued") < types.index("offered") < types.index("connected") < types.index("ended")
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps), "event timestamps follow the order of the log"

    recordings = await center.recordings()
    assert len(recordings) == 1
    rec = recordings[0]
    path = Path(center.s.recordings.directory) / rec.path
    talk = (row.ended_at - row.answered_at).total_seconds()
    assert abs(rec.duration_seconds - talk) < 1.5, (rec.duration_seconds, talk)
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.size_bytes == path.stat().st_size
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        samples = array.array("h", w.readframes(w.getnframes()))
    rms = math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))
    assert rms > 50, f"the recording has speech, not silence (rms {rms:.0f})"

    audits = [a for a in await center.audits() if a.action == "screen_pop"]
    assert [(a.patient_id, a.call_id) for a in audits] == [(patient_id, row.id)]
    assert await center.live_channels() == []


async def test_given_anonymous_caller_when_calling_then_unknown_pop_and_call_goes_on(center):
    ws = await center.agent_socket("1005")
    await center.set_agent("1005", "available")
    await center.call("anonymous", f"{ENGLISH},{NURSE}", hangup_after=18)
    pop, _ = await receive(ws, "screen_pop")
    assert pop["known"] is False and pop["patients"] == []
    assert pop["caller"] == {"number": None, "status": "anonymous"}
    row = await center.call_row("connected")
    assert row.caller_status == "anonymous" and row.queue_name == "nurse"
    row = await center.call_row("ended")
    assert row.outcome == "completed"


async def test_given_three_invalid_keys_when_in_main_menu_then_caller_reaches_general_queue(center):
    await center.set_agent("1001", "available")  # a scheduler with the general skill
    await center.call("+14155550142", f"{ENGLISH},7,8,9", hangup_after=30)
    row = await center.call_row("connected", timeout=90)
    assert row.queue_name == "general"
    types = event_types(await center.events(row.id))
    assert types.count("ivr_invalid") == 3


async def test_given_no_free_agent_when_caller_hangs_up_in_queue_then_abandoned(center):
    await center.call("+14155550143", f"{ENGLISH},{NURSE}", hangup_after=24)
    row = await center.call_row("queued")
    assert row.queue_name == "nurse"
    row = await center.call_row("ended", timeout=40)
    assert row.outcome == "abandoned" and row.answered_at is None
    events = await center.events(row.id)
    types = event_types(events)
    assert types.index("queued") < types.index("position_announced") < types.index("ended")
    assert [e.data["position"] for e in events if e.type == "position_announced"][0] == 1
    assert center.s.queues.waiting("nurse") == []
    assert await center.live_channels() == []


@pytest.mark.parametrize("phone, result, reason", [("noanswer", "no_answer", "ring-no-answer"),
                                                   ("busy", "busy", "phone-busy")])
async def test_given_agent_does_not_answer_when_offered_then_paused_and_call_goes_to_next_agent(
        center, phone, result, reason):
    # 1005 has been idle longest, so it is offered first; its phone never answers (or is busy).
    await center.set_agent("1005", "available", endpoint=f"Local/{phone}-1005@agent-phones/n")
    await asyncio.sleep(0.05)
    await center.set_agent("1006", "available")
    await center.call("+14155550144", f"{ENGLISH},{NURSE}", hangup_after=40)
    row = await center.call_row("connected", timeout=90)
    assert row.agent_id == center.s.queues.agent("1006").id
    first = center.s.queues.agent("1005")
    assert (first.state, first.pause_reason) == ("paused", reason)
    events = await center.events(row.id)
    failed = [e for e in events if e.type == "offer_failed"]
    assert len(failed) == 1 and failed[0].agent_id == first.id and failed[0].data["result"] == result


async def test_given_asterisk_crashes_when_call_waiting_then_reconnect_reconcile_and_next_call_works(center):
    # A crash (SIGKILL) loses the hangup events: only reconciliation after the reconnect can end the call.
    from .harness import TEST_INSTANCE, sandbox
    await center.call("+14155550145", f"{ENGLISH},{NURSE}", hangup_after=120)
    row = await center.call_row("queued")
    connections = center.s.ari.connections
    status = await asyncio.to_thread(sandbox, "status", "--instance", TEST_INSTANCE)
    pid = int(re.search(r"pid (\d+)", status.stdout).group(1))
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(sandbox, "start", "--instance", TEST_INSTANCE)
    await center.wait_for(lambda: _true(center.s.ari.connections > connections), 60, "the ARI reconnect")
    row = await center.call_row("ended", timeout=30)
    assert (row.outcome, row.end_reason) == ("abandoned", "lost_asterisk_restart")
    assert center.s.router.live_calls() == [] and center.s.queues.waiting("nurse") == []
    assert await center.live_channels() == []

    await center.set_agent("1005", "available")
    await center.call("+14155550145", f"{ENGLISH},{NURSE}", hangup_after=15)

    async def second_connected():
        rows = await center.s.db.run(lambda s: s.query(type(row)).filter_by(status="connected").all())
        return rows
    assert await center.wait_for(second_connected, 90, "the next call to connect")


async def _true(value):
    return value


async def test_given_simulate_call_command_when_run_then_patient_call_reaches_an_agent(center, tmp_path):
    await center.set_agent("1001", "available")
    cfg = center.s.cfg
    env = {**os.environ, "CALLCENTER_STATE_DIR": str(tmp_path / "cli-state"),
           "CALLCENTER_ARI_URL": cfg.ari.url,
           "CALLCENTER_ARI_PASSWORD": cfg.ari.password, "CALLCENTER_HTTP_API_TOKEN": "test-token",
           "CALLCENTER_HTTP_PORT": center.base_url.rsplit(":", 1)[1]}  # it asks the server for the call id
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "callcenter"), "simulate-call", "--caller", "+14155550146",
        "--digits", "1,1", "--hangup-after", "20", env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.strip(), "the command prints the call id"
    row = await center.call_row("connected", timeout=60)
    assert (row.queue_name, row.caller_e164) == ("appointments", "+14155550146")

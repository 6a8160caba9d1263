"""Real calls through the sandbox Asterisk while the controller fails: its ARI websocket cut, and the
controller process killed (SIGKILL) and started again, with calls in the IVR, waiting, ringing and talking."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from sqlalchemy import select, update

from callcenter.ari.client import AriClient, AriNotFound
from callcenter.config import TelephonyConfig
from callcenter.db.database import Database
from callcenter.db.models import Agent, Call, CallEvent, CallLeg, Recording
from callcenter.eventlog import utcnow
from callcenter.kpi.compute import KpiService
from callcenter.simulate import place_call

from .harness import CALLBACK, HOSPITAL, ROOT, TEST_INSTANCE, TEST_PORT, poll, sandbox, seeded_database
from .harness import test_config as config_for
from .test_call_controls import Ear

pytestmark = pytest.mark.asterisk

ENGLISH, APPOINTMENTS, RESULTS, REFILLS, NURSE = "1", "1", "2", "3", "4"


def rows(db: Database) -> dict[str, Call]:
    with db.session() as session:
        return {r.id: r for r in session.scalars(select(Call))}


def events_of(db: Database, call_id: str) -> list[CallEvent]:
    with db.session() as session:
        return list(session.scalars(select(CallEvent).where(CallEvent.call_id == call_id)
                                    .order_by(CallEvent.id)))


async def bridge_channels(ari: AriClient, bridge_id: str) -> set[str]:
    return set((await ari.bridge(bridge_id))["channels"])


async def offered_once(db_url: str, cfg, expected: int, per_queue: dict[str, int] | None = None) -> None:
    """The KPIs count each caller as one offer, whatever happened to the controller meanwhile."""
    db = Database(db_url)
    try:
        now = utcnow()
        report = await KpiService(db, cfg).report(now - timedelta(hours=1), now + timedelta(seconds=1),
                                                  by="queue")
    finally:
        db.close()
    assert report.totals["offered"] == expected
    if per_queue is not None:
        assert {r.key: r.kpis["offered"] for r in report.rows if r.kpis["offered"]} == per_queue


# -- the websocket cut, Asterisk keeps every channel ------------------------------------------------------


async def test_given_calls_talking_waiting_and_in_ivr_when_the_ari_websocket_drops_then_every_call_goes_on(
        center):
    await center.set_agent("1001", "available")
    await center.call("+14155550171", f"{ENGLISH},{APPOINTMENTS}", hangup_after=120)
    talking = await center.call_row("connected")
    await center.call("+14155550172", f"{ENGLISH},{NURSE}", hangup_after=120)
    await center.wait_for(lambda: _status_count(center, "queued", 1), 60, "a caller waiting for a nurse")
    # This caller presses their keys after the cut: the IVR must go on hearing them.
    await center.call("+14155550173", f"{ENGLISH},{RESULTS}", hangup_after=120, first_delay=6)
    await center.wait_for(lambda: _status_count(center, "ivr", 1), 30, "a caller in the IVR")
    calls_before = {c.id: c for c in center.s.router.live_calls()}
    connections = center.s.ari.connections

    await center.s.ari.drop_connection()

    await center.wait_for(lambda: _true(center.s.ari.connections > connections), 20, "the ARI reconnect")
    call = center.s.router.find(talking.id)
    # The same call objects go on: nothing adopted or re-queued.
    assert {c.id: c for c in center.s.router.live_calls()} == calls_before
    assert call.state.name == "connected" and call.legs.bridge_id == "call-" + talking.id
    both = {call.channel.id, call.legs.agent_channel_id}
    assert await bridge_channels(center.ari, call.legs.bridge_id) == both
    assert {(await center.ari.channel(c)).state for c in both} == {"Up"}
    assert center.s.queues.agent("1001").state == "on_call"
    await center.wait_for(lambda: _status_count(center, "queued", 2), 60, "the IVR caller to reach results")
    queued = await center.s.db.run(lambda s: s.scalars(select(Call.queue_name)
                                                       .where(Call.status == "queued")).all())
    assert sorted(queued) == ["nurse", "results"]

    for channel_id in await center.live_channels():
        await _quietly_hangup(center.ari, channel_id)
    await center.wait_for(lambda: _true(not center.s.router.live_calls()), 30, "every call to end")
    await center.s.events.flush()
    ended = await center.s.db.run(lambda s: s.scalars(select(CallEvent.call_id)
                                                      .where(CallEvent.type == "ended")).all())
    assert sorted(ended) == sorted(calls_before)  # every call ended, once
    events = await center.events(talking.id)
    assert not {"adopted", "rebuilt", "requeued"} & {e.type for e in events}
    await offered_once(center.s.cfg.database_url, center.s.cfg, 3)


async def _status_count(center, status: str, count: int) -> bool:
    await center.s.events.flush()
    found = await center.s.db.run(lambda s: s.scalars(select(Call.id).where(Call.status == status)).all())
    return len(found) >= count


async def _true(value):
    return value


async def _quietly_hangup(ari: AriClient, channel_id: str) -> None:
    try:
        await ari.hangup(channel_id)
    except AriNotFound:
        pass


# -- the controller killed and started again ---------------------------------------------------------------


class Controller:
    """`python -m callcenter.cli serve` as the operator runs it, on the test's Asterisk and database."""

    def __init__(self, tmp_path: Path, config_file: Path, port: int):
        self.config_file, self.port, self.log = config_file, port, tmp_path / "serve.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, available: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        env["PYTHONPATH"] = str(ROOT)
        with open(self.log, "a") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "callcenter.cli", "--config", str(self.config_file), "serve",
                "--available", available, cwd=ROOT, env=env, stdout=out, stderr=out)
        await poll(self._ari_connected, 60, f"the controller to connect (log: {self.log})")

    async def _ari_connected(self) -> bool:
        assert self.proc.returncode is None, self.log.read_text()[-3000:]
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{self.port}/health") as resp:
                    return resp.status == 200 and (await resp.json())["ari_connected"]
        except aiohttp.ClientError:
            return False

    async def get(self, path: str):
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer test-token"}) as http:
            async with http.get(f"http://127.0.0.1:{self.port}{path}") as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

    async def post(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer test-token"}) as http:
            async with http.post(f"http://127.0.0.1:{self.port}{path}", json=body or {}) as resp:
                return resp.status, await resp.json()

    async def console_messages(self, number: str, kind: str, timeout: float = 10) -> list[dict]:
        """What an agent's console (re)opened now is told, up to the first message of `kind`."""
        url = f"ws://127.0.0.1:{self.port}/api/agents/{number}/ws"
        messages: list[dict] = []
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer test-token"}) as http, \
                http.ws_connect(url) as ws:
            while not messages or messages[-1]["type"] != kind:
                messages.append(await ws.receive_json(timeout=timeout))
        return messages

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def write_config(tmp_path: Path, database_url: str, password: str, port: int) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(f'''state_dir = "{tmp_path / 'state'}"
[database]
url = "{database_url}"
[ari]
url = "http://127.0.0.1:{TEST_PORT}"
password = "{password}"
reconnect_max_delay = 1.0
[http]
host = "127.0.0.1"
port = {port}
api_token = "test-token"
[recordings]
dir = "{tmp_path / 'recordings'}"
[site]
hospital_name = "{HOSPITAL}"
callback_number = "{CALLBACK}"
[telephony]
agent_ring_timeout = 60
queue_announce_seconds = 4
''')
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def controller(asterisk, database_url, tmp_path):
    db = seeded_database(database_url)
    with db.session() as session:
        # A nurse whose phone rings and rings: the caller offered to her is ringing when the controller dies.
        session.execute(update(Agent).where(Agent.number == "1004")
                        .values(endpoint="Local/noanswer-1004@agent-phones/n"))
    port = free_port()
    ctl = Controller(tmp_path, write_config(tmp_path, database_url, asterisk, port), port)
    ari = AriClient(f"http://127.0.0.1:{TEST_PORT}", "callcenter", asterisk, "callcenter-test")
    await ari.start()
    yield ctl, ari, db
    for channel in await ari.channels():
        await _quietly_hangup(ari, channel.id)
    await ctl.stop()
    await ari.close()
    db.close()


async def test_given_calls_in_every_state_when_the_controller_is_killed_and_started_again_then_none_is_cut(
        controller, database_url, tmp_path):
    ctl, ari, db = controller
    settings = TelephonyConfig()
    await ctl.start("1001,1004")

    async def call(number: str, digits: str, first_delay: float = 1.5) -> str:
        channel = await place_call(ari, settings, caller=number, digits=digits, hangup_after=180,
                                   first_delay=first_delay, digit_gap=1)
        return channel.id

    talking_patient = await call("+14155550181", f"{ENGLISH},{APPOINTMENTS}")
    talking = await poll(lambda: _row_in(db, "connected"), 60, "a call to connect")
    await call("+14155550182", f"{ENGLISH},{NURSE}")  # rings 1004, who never answers
    await call("+14155550183", f"{ENGLISH},{REFILLS}")  # waits: 1001, the only scheduler, is talking
    ringing = await poll(lambda: _row_in(db, "offering"), 60, "a call to ring an agent")
    waiting = await poll(lambda: _row_in(db, "queued"), 60, "a call to wait")
    await call("+14155550184", "", first_delay=60)  # still at the first menu when the controller dies
    in_ivr = await poll(lambda: _row_in(db, "ivr"), 30, "a call in the IVR")
    ringing_leg = _agent_legs(db, ringing.id)[-1]
    talking_before = rows(db)[talking.id]

    ctl.kill()
    killed_at = utcnow()
    await ctl.proc.wait()
    # How soon the operator (or systemd) starts it again is not the controller's to decide, nor how long its
    # imports and migrations take on a starved machine (over 30 s in loaded runs): its own part of the silence
    # is counted from the moment it is connected to Asterisk again.
    await ctl.start("1001")  # as `scripts/start` does; 1004 stays away, so the nurse caller waits
    connected_at = utcnow()

    # The talking call is rebuilt, not re-queued: same call, bridge, channels, agent; nobody on hold.
    found = await ctl.get(f"/api/calls/{talking.id}")
    assert (found["state"], found["agent_id"]) == ("connected", talking_before.agent_id)
    bridge = "call-" + talking.id
    caller_leg, agent_leg = talking.channel_id, _agent_legs(db, talking.id)[-1]
    assert await bridge_channels(ari, bridge) == {caller_leg, agent_leg}
    assert {(await ari.channel(c)).state for c in (caller_leg, agent_leg)} == {"Up"}
    agents = {a["number"]: a for a in await ctl.get("/api/agents")}
    assert (agents["1001"]["state"], agents["1001"]["call_id"]) == ("on_call", talking.id)
    # The ringing offer: its agent leg hung up, the caller waiting again first in the nurse queue; the caller
    # who waited waits on; the caller in the IVR waits for a person. All under their own call ids.
    await poll(lambda: _gone(ari, ringing_leg), 10, "the orphan agent leg to be hung up")
    queues = {q["name"]: [w["call_id"] for w in q["waiting"]] for q in await ctl.get("/api/queues")}
    assert ringing.id in queues["nurse"] and waiting.id in queues["refills"]
    assert in_ivr.id in queues["general"]
    for call_id in (ringing.id, waiting.id, in_ivr.id):
        back = [e for e in events_of(db, call_id) if e.ts > killed_at and e.type == "state"]
        assert back and back[0].data["state"] == "queued"
        assert (back[0].ts - connected_at).total_seconds() < 10, "music again within 10 s of the reconnection"
    assert len(rows(db)) == 4

    # The rebuilt call ends as any other: the patient hangs up; its recording spans the restart.
    await asyncio.sleep(2)
    await ari.hangup(talking_patient)
    await poll(lambda: _ended(db, talking.id), 30, "the talking call to end")
    row = rows(db)[talking.id]
    assert (row.outcome, row.end_reason) == ("completed", "caller_hangup")
    recording = await poll(lambda: _recording(db, talking.id), 30, "the recording to be saved")
    assert recording.duration_seconds >= (row.ended_at - row.answered_at).total_seconds() - 3

    for channel in await ari.channels():
        await _quietly_hangup(ari, channel.id)
    await poll(lambda: _all_ended(db), 30, "every call to end")
    ended = [e.call_id for e in _all_events(db) if e.type == "ended"]
    assert sorted(ended) == sorted(rows(db))  # four calls, each ended once
    # The caller taken from the IVR into the general queue is one caller waiting once there, not an IVR
    # caller and then a second one (the issue accepts "resume or are queued": they are queued).
    in_ivr_events = [e.type for e in events_of(db, in_ivr.id)]
    assert in_ivr_events.count("adopted") == 1 and in_ivr_events.count("queued") == 1
    cfg = config_for(tmp_path, database_url, "")
    await offered_once(database_url, cfg, 4, {talking.queue_name: 1, "nurse": 1, "refills": 1, "general": 1})


async def test_given_call_ended_while_no_controller_ran_when_started_again_then_row_ends_when_the_call_did(
        controller):
    ctl, ari, db = controller
    patient, talking = await talking_call(controller, "+14155550185")
    ctl.kill()
    await ctl.proc.wait()
    await asyncio.sleep(3)
    # The patient, then the agent, hang up while nobody watches.
    await ari.hangup(patient.id)
    await asyncio.sleep(1)
    await ari.hangup(_agent_legs(db, talking.id)[-1])
    hung_up_at = utcnow()
    await asyncio.sleep(10)

    await ctl.start("1001")

    await poll(lambda: _ended(db, talking.id), 15, "the lost call's row to end")
    row = rows(db)[talking.id]
    assert (row.outcome, row.end_reason) == ("completed", "lost")
    # Ended when the conversation ended (its recording says so), not when the controller came back (10 s
    # later). A loaded machine records fewer frames than the wall clock runs: the recording may end early.
    assert -6 < (row.ended_at - hung_up_at).total_seconds() < 2, (row.ended_at, hung_up_at)
    recording = await poll(lambda: _recording(db, talking.id), 15, "the lost call's recording")
    assert recording.duration_seconds > 3
    assert not [b for b in await ari.bridges() if b["id"].startswith("call-" + talking.id)]


async def test_given_a_call_on_hold_when_the_controller_is_killed_and_started_again_then_it_is_rebuilt_held(
        controller):
    ctl, ari, db = controller
    patient, talking = await talking_call(controller, "+14155550186")
    assert await ctl.post(f"/api/calls/{talking.id}/hold") == (200, {"call_id": talking.id, "state": "held"})
    agent_leg = _agent_legs(db, talking.id)[-1]

    ctl.kill()
    await ctl.proc.wait()
    await ctl.start("1001")

    # Rebuilt as it was: on hold, the agent's console told so (its resume button), the caller hearing music
    # and the agent not hearing the caller.
    assert (await ctl.get(f"/api/calls/{talking.id}"))["state"] == "held"
    told = await ctl.console_messages("1001", "call_state")
    assert (told[-1]["call_id"], told[-1]["state"]) == (talking.id, "held")
    caller_leg = talking.channel_id
    assert await bridge_channels(ari, "call-" + talking.id) == {caller_leg, agent_leg}
    async with Ear(SimpleNamespace(ari=ari)) as ear:
        assert await ear.loudness(caller_leg) > 100, "the held caller hears music, not silence"
        assert await ear.loudness(agent_leg) < 30, "the agent does not hear the held caller"

        assert await ctl.post(f"/api/calls/{talking.id}/unhold") == (
            200, {"call_id": talking.id, "state": "connected"})
        assert await ear.loudness(agent_leg) > 100, "after resume the agent hears the caller again"
    assert (await ctl.get(f"/api/calls/{talking.id}"))["state"] == "connected"

    await ari.hangup(patient.id)
    await poll(lambda: _ended(db, talking.id), 30, "the call to end")
    row = rows(db)[talking.id]
    assert (row.outcome, row.end_reason) == ("completed", "caller_hangup")
    types = [e.type for e in events_of(db, talking.id)]
    assert types.count("rebuilt") == 1 and types.count("ended") == 1
    assert types.index("held") < types.index("rebuilt") < types.index("unheld")
    assert [e.data["held"] for e in events_of(db, talking.id) if e.type == "rebuilt"] == [True]


async def test_given_a_warm_transfer_ringing_then_talking_when_the_controller_is_killed_then_it_goes_on(
        controller):
    ctl, ari, db = controller
    patient, talking = await talking_call(controller, "+14155550188")
    call_id, caller_leg = talking.id, talking.channel_id
    agent_leg = _agent_legs(db, call_id)[-1]
    for colleague in ("1002", "1004"):
        assert (await ctl.post(f"/api/agents/{colleague}/state", {"state": "available"}))[0] == 200

    # The colleague's phone rings (1004 never answers) when the controller dies: it still rings after.
    transfer = f"/api/calls/{call_id}/transfer"
    assert await ctl.post(transfer, {"mode": "warm", "agent": "1004"}) == (
        200, {"call_id": call_id, "state": "consulting"})
    # (The leg's row is written a moment after the answer.)
    ringing = await poll(lambda: _new_leg(db, call_id, {agent_leg}), 15, "the colleague's leg")
    # (Written a moment after the answer: a consultation killed before it is on disk is offered again.)
    await poll(lambda: _has_event(db, call_id, "transfer_started"), 15, "the consultation on disk")
    await restart(ctl, "1001,1002,1004")
    assert (await ctl.get(f"/api/calls/{call_id}"))["state"] == "consulting"
    assert not await _gone(ari, ringing) and await bridge_channels(ari, "call-" + call_id) == {caller_leg}
    # The agent gives up on that colleague: back to their caller, off hold.
    assert await ctl.post(f"{transfer}/cancel") == (200, {"call_id": call_id, "state": "connected"})
    await poll(lambda: _gone(ari, ringing), 15, "the colleague's phone to stop ringing")
    assert await bridge_channels(ari, "call-" + call_id) == {caller_leg, agent_leg}

    # Now 1002 answers and talks with the agent when the controller dies: they go on talking, the caller on
    # hold, and the agent hands the caller over after the restart.
    assert (await ctl.post(transfer, {"mode": "warm", "agent": "1002"}))[0] == 200
    target_leg = await poll(lambda: _new_leg(db, call_id, {agent_leg, ringing}), 15, "the colleague's leg")
    await poll(lambda: _has_event(db, call_id, "transfer_answered"), 30, "the colleague to answer")
    consult_bridge = await poll(lambda: _bridge_with(ari, target_leg), 15, "the consultation's bridge")
    await restart(ctl, "1001,1002")
    assert (await ctl.get(f"/api/calls/{call_id}"))["state"] == "consulting"
    assert await bridge_channels(ari, consult_bridge) == {agent_leg, target_leg}
    async with Ear(SimpleNamespace(ari=ari)) as ear:
        assert await ear.loudness(caller_leg) > 100, "the caller waits hearing music, not silence"
        assert await ctl.post(f"{transfer}/complete") == (200, {"call_id": call_id, "state": "connected"})
        assert await bridge_channels(ari, "call-" + call_id) == {caller_leg, target_leg}
        assert await ear.loudness(target_leg) > 100, "the colleague hears the caller"
    await poll(lambda: _gone(ari, agent_leg), 15, "the first agent's leg to hang up")

    await ari.hangup(patient.id)
    await poll(lambda: _ended(db, call_id), 30, "the call to end")
    row = rows(db)[call_id]
    assert (row.outcome, row.end_reason) == ("completed", "caller_hangup")
    assert row.agent_id == _agent_id(db, "1002")
    types = [e.type for e in events_of(db, call_id)]
    assert types.count("rebuilt") == 2 and types.count("ended") == 1
    assert types.index("transfer_cancelled") < types.index("transfer_completed")


async def test_given_a_held_caller_whose_agent_left_while_no_controller_ran_when_started_then_heard_again(
        controller):
    ctl, ari, db = controller
    patient, talking = await talking_call(controller, "+14155550189")
    assert (await ctl.post(f"/api/calls/{talking.id}/hold"))[0] == 200
    first_leg = _agent_legs(db, talking.id)[-1]
    ctl.kill()
    await ctl.proc.wait()
    await ari.hangup(first_leg)  # the agent's phone went down with nobody to hear it

    await ctl.start("1001")
    second_leg = await poll(lambda: _new_leg(db, talking.id, first_leg), 60, "the caller offered again")
    await poll(lambda: _row_in(db, "connected"), 60, "the caller to reach the agent again")
    async with Ear(SimpleNamespace(ari=ari)) as ear:
        assert await ear.loudness(second_leg) > 100, "the agent hears the caller: the hold's mute is gone"
    await ari.hangup(patient.id)
    await poll(lambda: _ended(db, talking.id), 30, "the call to end")


async def _new_leg(db: Database, call_id: str, old: str | set[str]) -> str | None:
    """The call's newest agent leg that is not one of `old`, once its row is written."""
    known = {old} if isinstance(old, str) else old
    legs = [leg for leg in _agent_legs(db, call_id) if leg not in known]
    return legs[-1] if legs else None


async def restart(ctl: "Controller", available: str) -> None:
    ctl.kill()
    await ctl.proc.wait()
    await ctl.start(available)


def _agent_id(db: Database, number: str) -> int:
    with db.session() as session:
        return session.scalar(select(Agent.id).where(Agent.number == number))


async def _has_event(db: Database, call_id: str, type_: str) -> bool:
    return any(e.type == type_ for e in events_of(db, call_id))


async def _bridge_with(ari: AriClient, channel_id: str) -> str | None:
    return next((b["id"] for b in await ari.bridges() if channel_id in (b.get("channels") or [])), None)


async def talking_call(controller, caller: str):
    """The controller started with 1001 available, a patient talking with 1001: (patient's channel, row)."""
    ctl, ari, db = controller
    await ctl.start("1001")
    patient = await place_call(ari, TelephonyConfig(), caller=caller, hangup_after=180,
                               digits=f"{ENGLISH},{APPOINTMENTS}", first_delay=1.5, digit_gap=1)
    return patient, await poll(lambda: _row_in(db, "connected"), 60, "the call to connect")


async def _row_in(db: Database, status: str) -> Call | None:
    found = [r for r in rows(db).values() if r.status == status]
    return found[0] if found else None


def _agent_legs(db: Database, call_id: str) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(CallLeg.channel_id).where(CallLeg.call_id == call_id,
                                                                     CallLeg.role == "agent")
                                    .order_by(CallLeg.id)))


async def _gone(ari: AriClient, channel_id: str) -> bool:
    try:
        await ari.channel(channel_id)
    except AriNotFound:
        return True
    return False


async def _ended(db: Database, call_id: str) -> bool:
    return rows(db)[call_id].status == "ended"


async def _all_ended(db: Database) -> bool:
    return all(r.status == "ended" for r in rows(db).values())


async def _recording(db: Database, call_id: str) -> Recording | None:
    with db.session() as session:
        return session.scalar(select(Recording).where(Recording.call_id == call_id))


def _all_events(db: Database) -> list[CallEvent]:
    with db.session() as session:
        return list(session.scalars(select(CallEvent).where(CallEvent.call_id.is_not(None))))


# -- Asterisk stopped under the controller ------------------------------------------------------------------


async def test_given_a_talking_call_when_asterisk_restarts_then_it_ends_lost_in_the_restart_not_as_a_hangup(
        center):
    # Asterisk hangs up every channel as it stops: the agent's leg or the caller's may go first, and
    # neither was a person hanging up.
    await center.set_agent("1001", "available")
    await center.call("+14155550191", f"{ENGLISH},{APPOINTMENTS}", hangup_after=120)
    talking = await center.call_row("connected")
    connections = center.s.ari.connections

    await asyncio.to_thread(sandbox, "restart", "--instance", TEST_INSTANCE)

    row = await center.call_row("ended", timeout=30)
    assert (row.id, row.outcome, row.end_reason, row.hangup_cause) == (
        talking.id, "completed", "lost_asterisk_restart", "asterisk_restart")
    assert [e.data for e in await center.events(talking.id) if e.type == "ended"] == [
        {"outcome": "completed", "reason": "lost_asterisk_restart"}]
    await center.wait_for(lambda: _true(center.s.ari.connections > connections), 60, "the ARI reconnect")
    assert center.s.router.live_calls() == []

"""Call controls on real calls through the sandbox Asterisk: hold, hang up, blind and warm transfer, and
click-to-dial. Every check that matters is asked of Asterisk itself (bridges, channels, music on hold)."""
from __future__ import annotations

import array
import asyncio
import io
import math
import time
import uuid
import wave

import pytest

from callcenter.ari.client import AriError, AriNotFound

from .test_hotline import ENGLISH, NURSE, add_patient, event_types, receive

pytestmark = pytest.mark.asterisk


async def post(center, path: str, body: dict | None = None) -> tuple[int, dict]:
    async with center.http.post(center.base_url + path, json=body or {}, headers=center.headers) as resp:
        return resp.status, await resp.json()


async def get_call(center, call_id: str) -> dict:
    async with center.http.get(f"{center.base_url}/api/calls/{call_id}", headers=center.headers) as resp:
        assert resp.status == 200
        return await resp.json()


async def nurse_call(center, nurse: str = "1005", caller: str = "+14155550170"):
    """A patient's call answered by `nurse`: (the live call, its row)."""
    await center.set_agent(nurse, "available")
    await center.call(caller, f"{ENGLISH},{NURSE}", hangup_after=90)
    row = await center.call_row("connected", timeout=60)
    return center.s.router.find(row.id), row


async def bridge_members(center, bridge_id: str) -> set[str]:
    return set((await center.ari.request("GET", f"/bridges/{bridge_id}"))["channels"])


async def bridge_with(center, *channel_ids: str) -> dict | None:
    """The Asterisk bridge that holds exactly these channels, if there is one."""
    for bridge in await center.ari.request("GET", "/bridges"):
        if set(bridge["channels"]) == set(channel_ids):
            return bridge
    return None


class Ear:
    """Listens to what a channel hears, through an ARI snoop channel recorded by the test's own ARI app."""

    def __init__(self, center):
        self.center = center
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "Ear":
        async def ignore(*_):
            return None
        self.task = asyncio.create_task(self.center.ari.run(ignore, ignore))
        await asyncio.wait_for(self.center.ari.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _record(self, channel_id: str, name: str, seconds: int) -> None:
        for _ in range(50):  # the snoop channel enters our app a moment after it is created
            try:
                await self.center.ari.request("POST", f"/channels/{channel_id}/record", params={
                    "name": name, "format": "wav", "maxDurationSeconds": seconds, "ifExists": "overwrite"})
                return
            except AriError as exc:
                if exc.status != 409:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("the snoop channel never entered the test's ARI app")

    async def _finished_file(self, name: str) -> bytes:
        """The file, once Asterisk has closed it (a live recording is no longer listed)."""
        for _ in range(50):
            try:
                await self.center.ari.request("GET", f"/recordings/live/{name}")
            except AriNotFound:
                return await self.center.ari.stored_recording_file(name)
            await asyncio.sleep(0.1)
        raise AssertionError(f"recording {name} never finished")

    async def loudness(self, channel_id: str, seconds: int = 2) -> float:
        """RMS of what `channel_id` hears during the next `seconds`."""
        ari = self.center.ari
        snoop = await ari.snoop(channel_id, app=ari.app, app_args="ear", spy="out")
        name = "ear-" + uuid.uuid4().hex
        try:
            await self._record(snoop.id, name, seconds)
            await asyncio.sleep(seconds + 0.5)
        finally:
            await ari.hangup(snoop.id)
        data = await self._finished_file(name)
        await ari.delete_stored_recording(name)
        with wave.open(io.BytesIO(data)) as w:
            samples = array.array("h", w.readframes(w.getnframes()))
        return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


async def state_message(ws, state: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg, _ = await receive(ws, "call_state", max(0.1, deadline - time.monotonic()))
        if msg["state"] == state:
            return msg


async def test_given_connected_call_when_hold_then_caller_hears_music_and_unhold_resumes(center):
    ws = await center.agent_socket("1005")
    call, row = await nurse_call(center)
    caller, agent_leg = call.channel.id, call.legs.agent_channel_id
    async with Ear(center) as ear:
        status, body = await post(center, f"/api/calls/{row.id}/hold")
        assert (status, body) == (200, {"call_id": row.id, "state": "held"})
        assert (await state_message(ws, "held"))["call_id"] == row.id
        assert (await get_call(center, row.id))["state"] == "held"
        assert await bridge_members(center, call.legs.bridge_id) == {caller, agent_leg}, \
            "the agent stays in the bridge with the caller"
        # The agent's phone is muted on hold, so what the caller hears now is the music.
        assert await ear.loudness(caller) > 100, "the held caller hears music, not silence"
        assert await ear.loudness(agent_leg) < 30, "the agent does not hear the held caller"

        status, body = await post(center, f"/api/calls/{row.id}/hold")
        assert status == 409 and "held" in body["error"]
        status, body = await post(center, f"/api/calls/{row.id}/unhold")
        assert (status, body["state"]) == (200, "connected")
        await state_message(ws, "connected")
        assert (await get_call(center, row.id))["state"] == "connected"
        assert await bridge_members(center, call.legs.bridge_id) == {caller, agent_leg}
        assert await ear.loudness(agent_leg) > 100, "after unhold the agent hears the caller again"
    types = event_types(await center.events(row.id))
    assert types.index("connected") < types.index("held") < types.index("unheld")


async def agent_state(center, number: str) -> str:
    return center.s.queues.agent(number).state


async def wrapped_up(center, call_id: str, number: str) -> bool:
    """Did the agent go to wrap-up after this call? (The tests run with a zero wrap-up time.)"""
    agent_id = center.s.queues.agent(number).id
    return any(e.type == "agent_state" and e.agent_id == agent_id and e.data["state"] == "wrapup"
               for e in await center.events(call_id))


async def test_given_connected_call_when_blind_transfer_to_queue_then_second_agent_talks_with_caller(center):
    ws2 = await center.agent_socket("1001")
    call, row = await nurse_call(center)
    first_leg = call.legs.agent_channel_id
    await center.set_agent("1001", "available")  # a scheduler: skill 'general', not 'nurse'

    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "blind", "queue": "general"})
    assert status == 200, body
    pop, _ = await receive(ws2, "screen_pop")
    assert pop["call_id"] == row.id and pop["queue"] == "general"

    async def bridged_with_second_agent():
        return call.agent is not None and call.agent.number == "1001" and \
            await bridge_with(center, call.channel.id, call.legs.agent_channel_id)
    await center.wait_for(bridged_with_second_agent, 30, "the caller bridged with agent 1001")
    assert first_leg not in await center.live_channels(), "the first agent's phone is hung up"
    assert await wrapped_up(center, row.id, "1005")
    assert await agent_state(center, "1001") == "on_call"

    events = await center.events(row.id)
    transferred = [e for e in events if e.type == "transferred"]
    assert len(transferred) == 1
    expected = {"mode": "blind", "from_agent": "1005", "to_queue": "general"}
    assert expected.items() <= transferred[0].data.items()
    types = event_types(events)
    after = types[types.index("transferred"):]
    assert after.index("requeued") < after.index("offered") < after.index("connected")
    assert (await get_call(center, row.id))["queue_name"] == "general"

    status, _ = await post(center, f"/api/calls/{row.id}/hangup")
    assert status == 200
    row = await center.call_row("ended")
    assert (row.outcome, row.end_reason, row.agent_id) == ("completed", "agent_hangup",
                                                           center.s.queues.agent("1001").id)
    assert len(await center.recordings()) == 2, "one recording per agent's part of the call"


async def test_given_busy_target_when_blind_transfer_to_agent_then_409_and_call_stays(center):
    call, row = await nurse_call(center)
    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "blind", "agent": "1006"})
    assert status == 409 and "1006" in body["error"]
    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "sideways", "agent": "1006"})
    assert status == 400
    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "blind", "queue": "nowhere"})
    assert status == 404
    assert await bridge_with(center, call.channel.id, call.legs.agent_channel_id), \
        "the call goes on untouched"

    await center.set_agent("1006", "available")
    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "blind", "agent": "1006"})
    assert status == 200, body

    async def with_1006():
        return call.agent is not None and call.agent.number == "1006" and \
            await bridge_with(center, call.channel.id, call.legs.agent_channel_id)
    await center.wait_for(with_1006, 30, "the caller bridged with agent 1006")


async def consult_answered(center, call) -> dict:
    """Waits until the consulted agent answered; returns the consultation bridge."""
    async def answered():
        state = call.state
        if state.name != "consulting" or not state.answered:
            return None
        return await bridge_with(center, call.legs.agent_channel_id, state.leg_id)
    return await center.wait_for(answered, 30, "the consultation to be answered")


async def test_given_connected_call_when_warm_transfer_completed_then_caller_talks_with_target(center):
    ws1 = await center.agent_socket("1005")
    call, row = await nurse_call(center)
    first_leg = call.legs.agent_channel_id
    await center.set_agent("1006", "available")

    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "warm", "agent": "1006"})
    assert (status, body["state"]) == (200, "consulting")
    assert (await state_message(ws1, "consulting"))["target"] == "1006"
    status, body = await post(center, f"/api/calls/{row.id}/transfer/complete")
    assert status == 409, "cannot complete before the target answered"
    await consult_answered(center, call)
    consult_leg = call.state.leg_id
    assert await bridge_members(center, call.legs.bridge_id) == {call.channel.id}, "the caller waits on hold"
    assert (await get_call(center, row.id))["state"] == "consulting"

    status, body = await post(center, f"/api/calls/{row.id}/transfer/complete")
    assert (status, body["state"]) == (200, "connected")
    assert await bridge_members(center, call.legs.bridge_id) == {call.channel.id, consult_leg}
    await state_message(ws1, "ended")
    await center.wait_for(lambda: _gone(center, first_leg), 10, "the first agent's leg to end")
    assert await wrapped_up(center, row.id, "1005") and await agent_state(center, "1006") == "on_call"
    types = event_types(await center.events(row.id))
    steps = ("transfer_started", "transfer_answered", "transfer_completed")
    assert [types.index(step) for step in steps] == sorted(types.index(step) for step in steps)
    assert (await get_call(center, row.id))["agent_id"] == center.s.queues.agent("1006").id


async def _gone(center, channel_id: str) -> bool:
    return channel_id not in await center.live_channels()


async def test_given_warm_transfer_to_queue_when_cancelled_then_agent_back_with_caller(center):
    call, row = await nurse_call(center)
    first_leg = call.legs.agent_channel_id
    await center.set_agent("1002", "available")

    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "warm", "queue": "general"})
    assert status == 200, body
    assert call.state.target.number == "1002", "the queue's free agent is consulted"
    await consult_answered(center, call)
    consult_leg = call.state.leg_id

    status, body = await post(center, f"/api/calls/{row.id}/transfer/cancel")
    assert (status, body["state"]) == (200, "connected")
    assert await bridge_members(center, call.legs.bridge_id) == {call.channel.id, first_leg}
    await center.wait_for(lambda: _gone(center, consult_leg), 10, "the consultation leg to end")
    assert (await agent_state(center, "1005"), await agent_state(center, "1002")) == ("on_call", "available")
    status, body = await post(center, f"/api/calls/{row.id}/transfer/cancel")
    assert status == 409
    types = event_types(await center.events(row.id))
    assert types.index("transfer_started") < types.index("transfer_cancelled")


async def test_given_connected_call_when_agent_hangs_up_then_call_ends_and_agent_wraps_up(center):
    ws = await center.agent_socket("1005")
    call, row = await nurse_call(center)
    status, body = await post(center, f"/api/calls/{row.id}/hangup")
    assert status == 200
    msg = await state_message(ws, "ended")
    assert msg["reason"] == "agent_hangup"
    row = await center.call_row("ended")
    assert (row.outcome, row.end_reason) == ("completed", "agent_hangup")
    assert await wrapped_up(center, row.id, "1005")
    await center.wait_for(lambda: _empty(center), 10, "every channel to end")
    status, body = await post(center, f"/api/calls/{row.id}/hold")
    assert status == 409 and "ended" in body["error"]
    status, body = await post(center, f"/api/calls/{'f' * 32}/hold")
    assert status == 404


async def _empty(center) -> bool:
    return await center.live_channels() == []


async def test_given_available_agent_when_click_to_dial_then_agent_and_patient_bridged_and_recorded(center):
    patient_id = await add_patient(center, "MRN-OUT1", "+14155550188")
    ws = await center.agent_socket("1001")
    await center.set_agent("1001", "paused")

    status, body = await post(center, "/api/agents/1001/dial", {"phone": "(415) 555-0188",
                                                                "patient_id": patient_id})
    assert status == 201, body
    call_id = body["call_id"]
    status, body = await post(center, "/api/agents/1001/dial", {"phone": "+14155550188"})
    assert status == 409, "one call at a time"
    await state_message(ws, "connected", timeout=30)
    call = center.s.router.find(call_id)
    assert await bridge_with(center, call.channel.id, call.legs.agent_channel_id), \
        "agent and patient are bridged"
    live = await center.ari.channel(call.channel.id)
    assert "sim-callee" in live.name

    await asyncio.sleep(3)
    status, _ = await post(center, f"/api/calls/{call_id}/hangup")
    assert status == 200
    row = await center.call_row("ended")
    assert (row.id, row.direction, row.patient_id, row.caller_e164) == (call_id, "outbound", patient_id,
                                                                        "+14155550188")
    assert row.answered_at is not None and row.outcome == "completed"
    types = event_types(await center.events(call_id))
    assert types.index("dialing_agent") < types.index("dialing_patient") < types.index("connected") < \
        types.index("recording_started") < types.index("ended")
    recordings = await center.recordings()
    assert len(recordings) == 1 and recordings[0].call_id == call_id
    assert recordings[0].duration_seconds > 2
    assert await wrapped_up(center, call_id, "1001")


async def test_given_bad_requests_when_click_to_dial_then_refused(center):
    await center.set_agent("1001", "available")
    status, body = await post(center, "/api/agents/1001/dial", {"phone": "12"})
    assert status == 400 and "phone" in body["error"]
    status, body = await post(center, "/api/agents/1001/dial", {"phone": "+14155550188", "patient_id": 99999})
    assert status == 400
    status, body = await post(center, "/api/agents/1002/dial", {"phone": "+14155550188"})
    assert status == 409, "a logged-out agent cannot dial"
    status, body = await post(center, "/api/agents/7777/dial", {"phone": "+14155550188"})
    assert status == 404
    assert await center.only_call() is None

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
    return center.s.router.calls[row.id], row


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
    caller, agent_leg = call.channel.id, call.agent_channel_id
    async with Ear(center) as ear:
        status, body = await post(center, f"/api/calls/{row.id}/hold")
        assert (status, body) == (200, {"call_id": row.id, "state": "held"})
        assert (await state_message(ws, "held"))["call_id"] == row.id
        assert (await get_call(center, row.id))["state"] == "held"
        assert await bridge_members(center, call.bridge_id) == {caller, agent_leg}, \
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
        assert await bridge_members(center, call.bridge_id) == {caller, agent_leg}
        assert await ear.loudness(agent_leg) > 100, "after unhold the agent hears the caller again"
    types = event_types(await center.events(row.id))
    assert types.index("connected") < types.index("held") < types.index("unheld")

"""Live monitoring on real calls through the sandbox Asterisk: listen, whisper, barge, and stopping.

The supervisor's phone is an auto-answering test phone (Local/auto-<x>@agent-phones/n), or one that sends a
1 kHz tone (Local/tone-<x>@monitor-test-phones/n). What must hold every time: the monitoring channels exist
and are bridged as the mode says, and the patient's call is never disturbed: it stays connected, with caller
and agent in its bridge, before, during and after monitoring. Who heard the supervisor is checked in the audio
itself: the agent's and the patient's phones record what they hear, and the test looks for the tone.
"""
from __future__ import annotations

import array
import asyncio
import dataclasses
import io
import math
import wave

import pytest
from sqlalchemy import select

from callcenter.db.models import CallEvent
from callcenter.simulate import place_call

pytestmark = pytest.mark.asterisk

ENGLISH, NURSE = "1", "4"
SUPERVISOR_PHONE = "Local/auto-7001@agent-phones/n"
# Phones of asterisk_conf/extensions.conf [monitor-test-phones]: one sends a 1 kHz tone, one records what the
# agent hears.
TONE_PHONE = "Local/tone-7001@monitor-test-phones/n"
RECORDING_AGENT_PHONE = "Local/rec-1005@monitor-test-phones/n"
HEARD = "monitor-heard-1005"
PATIENT_HEARD, PATIENT_MIX = "monitor-patient-heard", "monitor-patient-mix"


def tone_seconds(wav_bytes: bytes, hz: float = 1000.0, frame: int = 400) -> float:
    """Seconds of sound in which a `hz` tone carries a good part of the energy (Goertzel per 50 ms frame).
    The test phones' talk has next to none (measured: 0 frames); the tone phone's whisper mixed with the
    patient's talk gives 20-100 % per frame."""
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        samples = array.array("h", w.readframes(w.getnframes()))
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    tonal = 0
    for start in range(0, len(samples) - frame, frame):
        chunk = samples[start:start + frame]
        s1 = s2 = 0.0
        for x in chunk:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        energy = sum(x * x for x in chunk)
        tonal += energy > frame * 100 and power / (frame / 2 * energy) > 0.2
    return tonal * frame / rate


async def connected_call(center, hangup_after: float = 60, *, recorded_phones: bool = False):
    """A call connected to agent 1005. recorded_phones: the agent's and the patient's phones record what they
    hear ([monitor-test-phones] rec-, [monitor-test-patient] = sim-patient plus a recorder); read it with
    heard_tones() once the call has ended."""
    await center.set_agent("1005", "available", endpoint=RECORDING_AGENT_PHONE if recorded_phones else None)
    settings = center.s.cfg.telephony
    if recorded_phones:
        settings = dataclasses.replace(settings, simulated_patient_context="monitor-test-patient")
    await place_call(center.ari, settings, caller="+14155550142", digits=f"{ENGLISH},{NURSE}",
                     hangup_after=hangup_after, first_delay=1.5, digit_gap=1)
    row = await center.call_row("connected", timeout=90)
    return center.s.router.find(row.id)


def spy_on_snoops(center) -> list[dict]:
    """Record the parameters of every snoop the product asks Asterisk for (the directions are not visible in
    the channel's ARI JSON)."""
    seen: list[dict] = []
    original = center.s.ari.snoop

    async def snoop(channel_id, **kw):
        seen.append({"channel_id": channel_id, **kw})
        return await original(channel_id, **kw)
    center.s.ari.snoop = snoop
    return seen


async def monitor(center, call_id: str, mode: str, endpoint: str = SUPERVISOR_PHONE) -> tuple[int, dict]:
    """Monitor as the API client, which rings the configured supervisor phone: the operator's setting, the
    request never names it ([telephony] supervisor_phone, set on the running service here)."""
    center.s.monitors.default_endpoint = endpoint
    async with center.http.post(f"{center.base_url}/api/calls/{call_id}/monitor",
                                json={"mode": mode}, headers=center.headers) as resp:
        return resp.status, await resp.json()


async def stop(center, session_id: str) -> dict:
    async with center.http.post(f"{center.base_url}/api/monitors/{session_id}/stop",
                                headers=center.headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def session_state(center, session_id: str) -> str | None:
    session = center.s.monitors.sessions.get(session_id)
    return session.state.name if session else None


async def bridge(center, bridge_id: str) -> dict | None:
    return next((b for b in await center.ari.request("GET", "/bridges") if b["id"] == bridge_id), None)


async def assert_call_undisturbed(center, call) -> None:
    assert not call.ended.is_set() and call.state.name == "connected"
    call_bridge = await bridge(center, call.legs.bridge_id)
    assert call_bridge is not None
    assert {call.channel.id, call.legs.agent_channel_id} <= set(call_bridge["channels"])


async def wait_monitoring(center, session_id: str) -> None:
    async def check():
        state = await session_state(center, session_id)
        assert state is not None, f"the session ended: {await end_reason(center, session_id)}"
        return state == "monitoring"
    await center.wait_for(check, 20, "the supervisor to be monitoring")


async def end_reason(center, session_id: str) -> str | None:
    await center.s.events.flush()
    rows = await center.s.db.run(lambda s: s.scalars(select(CallEvent).where(
        CallEvent.type == "monitoring_ended")).all())
    return next((r.data["reason"] for r in rows if r.data.get("session") == session_id), None)


async def wait_gone(center, channel_ids: list[str]) -> None:
    async def check():
        live = set(await center.live_channels())
        return not (set(channel_ids) & live)
    await center.wait_for(check, 10, f"channels {channel_ids} to hang up")


@pytest.mark.parametrize("mode, directions", [("listen", ("both", "none")), ("whisper", ("both", "out"))])
async def test_given_connected_call_when_supervisor_listens_or_whispers_then_snoop_bridged_with_phone_and_stop_leaves_call_up(  # noqa: E501
        center, mode, directions):
    snoops = spy_on_snoops(center)
    call = await connected_call(center, hangup_after=30, recorded_phones=True)

    status, session = await monitor(center, call.id, mode, endpoint=TONE_PHONE)
    assert status == 201, session
    sid = session["id"]
    await wait_monitoring(center, sid)

    supervisor, snoop = f"sup-{sid}", f"snoop-{sid}"
    snoop_channel = await center.ari.request("GET", f"/channels/{snoop}")
    assert snoop_channel["name"].startswith("Snoop/"), snoop_channel["name"]
    spied = [(s["channel_id"], s["spy"], s["whisper"]) for s in snoops]
    assert spied == [(call.legs.agent_channel_id, *directions)]
    own = await bridge(center, f"monitor-{sid}")
    assert own is not None and set(own["channels"]) == {supervisor, snoop}
    assert supervisor not in (await bridge(center, call.legs.bridge_id))["channels"]
    await assert_call_undisturbed(center, call)
    await asyncio.sleep(3)  # the supervisor's phone sends its tone all along

    ended = await stop(center, sid)
    assert ended["end_reason"] == "stopped"
    await wait_gone(center, [supervisor, snoop])
    assert await bridge(center, f"monitor-{sid}") is None
    await assert_call_undisturbed(center, call)
    events = [e.type for e in await center.events(call.id)]
    assert "monitoring_started" in events and "monitoring_ended" in events
    audits = [a for a in await center.audits() if a.action == "call_monitored"]
    assert [(a.call_id, a.reason) for a in audits] == [(call.id, mode)]

    # What the agent and the patient heard, recorded by their phones: the agent hears a whisper (the tone);
    # the patient never hears the supervisor; nobody hears a mere listen.
    row = await center.call_row("ended", timeout=60)
    assert row.outcome == "completed"
    agent_heard, patient_heard = await heard_tones(center)
    if mode == "whisper":  # 3 s of whisper
        assert agent_heard >= 2.0, f"the agent heard the whisper for only {agent_heard:.1f}s"
    else:
        assert agent_heard < 0.3, f"a listening supervisor was heard by the agent ({agent_heard:.1f}s)"
    assert patient_heard < 0.3, f"the patient heard the supervisor ({patient_heard:.1f}s of tone)"


async def heard_tones(center) -> tuple[float, float]:
    """Seconds of the supervisor's tone in what the agent and the patient heard (after the call ended)."""
    agent = await center.wait_for(lambda: _stored(center, HEARD), 10, "the agent phone's recording")
    patient = await center.wait_for(lambda: _stored(center, PATIENT_HEARD), 10, "the patient's recording")
    for name in (HEARD, PATIENT_HEARD, PATIENT_MIX):
        try:
            await center.ari.delete_stored_recording(name)
        except Exception:
            pass
    return tone_seconds(agent), tone_seconds(patient)


async def _stored(center, name: str) -> bytes | None:
    try:
        return await center.ari.stored_recording_file(name)
    except Exception:
        return None


async def test_given_connected_call_when_supervisor_barges_then_joins_call_bridge_and_stop_leaves_call_up(
        center):
    call = await connected_call(center, hangup_after=30, recorded_phones=True)

    status, session = await monitor(center, call.id, "barge", endpoint=TONE_PHONE)
    assert status == 201, session
    sid = session["id"]
    await wait_monitoring(center, sid)

    call_bridge = await bridge(center, call.legs.bridge_id)
    assert set(call_bridge["channels"]) == {call.channel.id, call.legs.agent_channel_id, f"sup-{sid}"}
    assert await bridge(center, f"monitor-{sid}") is None, "barge uses the call's own bridge"

    await asyncio.sleep(3)  # the supervisor's phone sends its tone all along

    await stop(center, sid)
    await wait_gone(center, [f"sup-{sid}"])
    call_bridge = await bridge(center, call.legs.bridge_id)
    assert set(call_bridge["channels"]) == {call.channel.id, call.legs.agent_channel_id}
    await assert_call_undisturbed(center, call)

    # In a barge everyone hears everyone: the tone reached the agent and the patient.
    await center.call_row("ended", timeout=60)
    agent_heard, patient_heard = await heard_tones(center)
    assert agent_heard >= 2.0 and patient_heard >= 2.0, (agent_heard, patient_heard)


async def test_given_barging_supervisor_when_call_ends_then_supervisor_leg_hangs_up(center):
    call = await connected_call(center, hangup_after=30)
    status, session = await monitor(center, call.id, "barge")
    assert status == 201
    sid = session["id"]
    await wait_monitoring(center, sid)

    row = await center.call_row("ended", timeout=60)
    assert row.outcome == "completed"
    await wait_gone(center, [f"sup-{sid}"])

    async def ended():
        return sid not in center.s.monitors.sessions
    await center.wait_for(ended, 10, "the session to end")
    end = next(e for e in await center.events(call.id) if e.type == "monitoring_ended")
    assert end.data["reason"] == "call_ended"


async def test_given_busy_supervisor_phone_when_monitoring_then_session_ends_and_call_is_untouched(center):
    call = await connected_call(center)

    status, session = await monitor(center, call.id, "listen", endpoint="Local/busy-7001@agent-phones/n")
    assert status == 201, session

    async def ended():
        return session["id"] not in center.s.monitors.sessions
    await center.wait_for(ended, 15, "the session to end")
    end = next(e for e in await center.events(call.id) if e.type == "monitoring_ended")
    assert end.data["reason"] in ("busy", "failed")
    await assert_call_undisturbed(center, call)


async def test_given_call_in_queue_when_monitoring_then_refused_with_409(center):
    await center.call("+14155550142", f"{ENGLISH},{NURSE}", hangup_after=20)  # nobody available: queued
    row = await center.call_row("queued", timeout=60)

    status, body = await monitor(center, row.id, "listen")
    assert status == 409, body
    assert center.s.monitors.sessions == {}
    status, body = await monitor(center, row.id, "shout")
    assert status == 400


async def test_given_api_client_naming_a_phone_when_monitoring_then_400_nothing_rings_and_call_untouched(
        center):
    center.s.monitors.default_endpoint = SUPERVISOR_PHONE
    call = await connected_call(center)
    before = set(await center.live_channels())

    async with center.http.post(f"{center.base_url}/api/calls/{call.id}/monitor", headers=center.headers,
                                json={"mode": "listen", "endpoint": TONE_PHONE}) as resp:
        status, body = resp.status, await resp.json()

    assert status == 400 and "endpoint" in body["error"], body
    assert center.s.monitors.sessions == {}
    assert set(await center.live_channels()) <= before  # no phone was rung
    await assert_call_undisturbed(center, call)

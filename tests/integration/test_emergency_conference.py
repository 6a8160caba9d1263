"""The emergency number conferenced into a real call through the sandbox Asterisk (issue 13, defects 2 and 8):
it counts only once answered; a busy one does not count and a retry does; when the agent hangs up the caller
stays talking to the emergency service in the call's bridge; no emergency leg is ever left without its caller.
Every check that matters is asked of Asterisk itself (bridges, channels, what the caller hears)."""
from __future__ import annotations

import dataclasses

import aiohttp
import pytest

from callcenter.ari.client import AriNotFound
from callcenter.config import TelephonyConfig
from callcenter.simulate import place_call

from . import test_restarts
from .test_call_controls import Ear, bridge_members, nurse_call, post
from .test_hotline import receive
from .test_restarts import APPOINTMENTS, ENGLISH, bridge_channels, poll, rows

pytestmark = pytest.mark.asterisk
controller = test_restarts.controller  # the controller process of the restart tests, as a fixture here

DESK = "1005"
TRIAGE = f"/api/agents/{DESK}/triage"
ANSWERS = "Local/auto-911@agent-phones/n"  # answers after one ring and talks until hung up
BUSY = "Local/busy-911@agent-phones/n"


def emergency_number(center, template: str) -> None:
    """Where the emergency number leads in this test (the sandbox's test phones)."""
    deps = center.s.router.deps
    deps.settings = dataclasses.replace(deps.settings, emergency_dial_template=template)


async def red_flag(center) -> None:
    """Chest pain with heart attack signs: 'call emergency services now', owed."""
    status, _ = await post(center, TRIAGE, {"protocol": "chest_pain"})
    assert status == 200
    await post(center, f"{TRIAGE}/answer", {"question": "unresponsive", "answer": "no"})
    status, state = await post(center, f"{TRIAGE}/answer",
                               {"question": "heart_attack_signs", "answer": "yes"})
    assert status == 200 and state["governing"]["id"] == "call_emergency_services_now", state
    assert state["governing"]["owed"] is True


async def conference(center) -> tuple[int, dict]:
    return await post(center, f"{TRIAGE}/escalate", {"kind": "emergency_conference"})


async def triage_state(center) -> dict:
    async with center.http.get(center.base_url + TRIAGE, headers=center.headers) as resp:
        assert resp.status == 200
        return await resp.json()


async def wrap_up(center, call_id: str) -> int:
    body = {"call_id": call_id, "code": "referred_emergency", "notes": "chest pain, red flag"}
    status, _ = await post(center, f"/api/agents/{DESK}/disposition", body)
    return status


async def emergency_in_bridge(center, call) -> str:
    """The emergency leg, once it answered and joined the caller's bridge."""
    async def joined():
        members = await bridge_members(center, call.legs.bridge_id)
        return next((c for c in members if c.startswith("emergency-")), None)
    return await center.wait_for(joined, 30, "the emergency service in the caller's bridge")


async def emergency_legs(center) -> list[str]:
    return [c for c in await center.live_channels() if c.startswith("emergency-")]


async def no_emergency_leg_left(center) -> None:
    async def none_left():
        return not await emergency_legs(center)
    await center.wait_for(none_left, 20, "no emergency leg left up")


async def types_of(center, call_id: str) -> list[str]:
    return [e.type for e in await center.events(call_id)]


async def test_given_the_emergency_service_in_the_call_when_the_agent_hangs_up_then_the_caller_keeps_talking(
        center):
    emergency_number(center, ANSWERS)
    ws = await center.agent_socket(DESK)
    call, row = await nurse_call(center, DESK)
    caller, agent_leg = call.channel.id, call.legs.agent_channel_id
    await red_flag(center)
    status, body = await conference(center)
    assert (status, body["performed"], body["state"]) == (200, False, "dialing"), body
    leg = await emergency_in_bridge(center, call)
    assert leg == body["channel"]
    answered, _ = await receive(ws, "emergency_leg", 15)
    while answered["state"] != "answered":  # the console hears 'dialing' first, then 'answered'
        answered, _ = await receive(ws, "emergency_leg", 15)
    assert answered["call_id"] == row.id
    assert await wrap_up(center, row.id) == 201, "answered: the escalation is done"

    status, body = await post(center, f"/api/calls/{row.id}/hangup")
    assert (status, body["state"]) == (200, "with_emergency")
    ended, _ = await receive(ws, "call_state", 15)
    while ended["state"] != "ended":
        ended, _ = await receive(ws, "call_state", 15)
    assert ended["reason"] == "handed_to_emergency"

    async def agent_gone():
        return agent_leg not in await center.live_channels()
    await center.wait_for(agent_gone, 15, "the agent's leg to be hung up")
    assert await bridge_members(center, call.legs.bridge_id) == {caller, leg}, "the bridge survives the agent"
    assert {(await center.ari.channel(c)).state for c in (caller, leg)} == {"Up"}
    assert center.s.router.find(row.id) is call and call.state.name == "with_emergency"
    assert center.s.queues.agent(DESK).state in ("wrapup", "available"), "the agent's part is over"
    async with Ear(center) as ear:
        assert await ear.loudness(caller) > 100, "the caller hears the emergency service, not silence"

    await center.ari.hangup(caller)
    await no_emergency_leg_left(center)
    ended_row = await center.call_row("ended", 20)
    assert (ended_row.outcome, ended_row.end_reason) == ("completed", "caller_hangup")
    types = await types_of(center, row.id)
    assert types.index("emergency_conference_joined") < types.index("escalation_performed") \
        < types.index("emergency_handover") < types.index("ended")


async def test_given_the_agent_gone_when_the_emergency_service_hangs_up_then_the_caller_is_not_left_alone(
        center):
    emergency_number(center, ANSWERS)
    call, row = await nurse_call(center, DESK)
    caller = call.channel.id
    await red_flag(center)
    await conference(center)
    leg = await emergency_in_bridge(center, call)
    status, body = await post(center, f"/api/calls/{row.id}/hangup")
    assert body["state"] == "with_emergency"

    await center.ari.hangup(leg)

    async def caller_gone():
        return caller not in await center.live_channels()
    await center.wait_for(caller_gone, 20, "the caller's channel to be hung up")
    ended = await center.call_row("ended", 20)
    assert (ended.outcome, ended.end_reason) == ("completed", "emergency_hangup")
    assert "emergency_conference_left" in await types_of(center, row.id)


async def test_given_the_emergency_service_and_agent_in_the_call_when_the_caller_hangs_up_then_no_leg_is_left(
        center):
    emergency_number(center, ANSWERS)
    call, row = await nurse_call(center, DESK)
    agent_leg = call.legs.agent_channel_id
    await red_flag(center)
    await conference(center)
    await emergency_in_bridge(center, call)

    await center.ari.hangup(call.channel.id)

    await no_emergency_leg_left(center)
    ended = await center.call_row("ended", 20)
    assert (ended.outcome, ended.end_reason) == ("completed", "caller_hangup")
    assert agent_leg not in await center.live_channels()


async def test_given_the_emergency_number_ringing_when_the_caller_hangs_up_then_the_ringing_leg_is_hung_up(
        center):
    emergency_number(center, "Local/noanswer-911@agent-phones/n")  # rings until hung up
    call, row = await nurse_call(center, DESK)
    await red_flag(center)
    status, body = await conference(center)
    assert status == 200 and body["state"] == "dialing"
    assert body["channel"] in await emergency_legs(center)

    await center.ari.hangup(call.channel.id)

    await no_emergency_leg_left(center)
    await center.call_row("ended", 20)


async def test_given_a_busy_emergency_number_when_conferenced_then_it_does_not_count_and_a_retry_does(
        center):
    emergency_number(center, BUSY)
    ws = await center.agent_socket(DESK)
    call, row = await nurse_call(center, DESK)
    await red_flag(center)
    status, body = await conference(center)
    assert (status, body["performed"]) == (200, False)
    failed, _ = await receive(ws, "emergency_leg", 15)
    while failed["state"] != "failed":
        failed, _ = await receive(ws, "emergency_leg", 15)
    assert failed["result"] == "busy"
    state = await triage_state(center)
    assert state["governing"]["owed"] is True, "a busy emergency number escalated nothing"
    assert state["governing"]["emergency"]["state"] == "failed"
    assert state["governing"]["emergency"]["result"] == "busy"
    assert state["governing"]["emergency_dialed"] is False, "the console offers the retry"
    assert await wrap_up(center, row.id) == 409
    assert not await emergency_legs(center)
    assert "escalation_performed" not in await types_of(center, row.id)

    emergency_number(center, ANSWERS)
    status, body = await conference(center)
    assert status == 200, body
    again, _ = await conference(center)
    assert again == 409, "one ringing emergency leg at a time"
    leg = await emergency_in_bridge(center, call)
    assert leg == body["channel"]

    async def satisfied():
        governing = (await triage_state(center))["governing"]
        return governing if not governing["owed"] else None
    governing = await center.wait_for(satisfied, 15, "the escalation to count once answered")
    assert governing["satisfied_kind"] == "emergency_conference" and governing["emergency_dialed"] is True
    assert await wrap_up(center, row.id) == 201
    third, body = await conference(center)
    assert third == 409 and "already" in body["error"]
    types = await types_of(center, row.id)
    assert types.count("emergency_conference_dialed") == 2 and types.count("escalation_performed") == 1
    assert types.index("emergency_conference_failed") < types.index("emergency_conference_joined")


async def test_given_the_emergency_service_in_the_call_when_the_agent_holds_or_transfers_then_refused(center):
    emergency_number(center, ANSWERS)
    call, row = await nurse_call(center, DESK)
    await red_flag(center)
    await conference(center)
    leg = await emergency_in_bridge(center, call)
    status, body = await post(center, f"/api/calls/{row.id}/hold")
    assert status == 409 and "emergency" in body["error"]
    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "blind", "queue": "general"})
    assert status == 409 and "emergency" in body["error"]
    members = {call.channel.id, call.legs.agent_channel_id, leg}
    assert await bridge_members(center, call.legs.bridge_id) == members


# -- the controller killed and started again (calls/reconcile.py) --------------------------------------------


async def ctl_post(ctl, path: str, body: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer test-token"}) as http:
        async with http.post(f"http://127.0.0.1:{ctl.port}{path}", json=body or {}) as resp:
            return resp.status, await resp.json()


async def restart(ctl) -> None:
    ctl.kill()
    await ctl.proc.wait()
    await ctl.start("")


async def test_given_the_emergency_service_in_the_call_when_the_controller_restarts_then_the_call_keeps_it(
        controller):
    ctl, ari, db = controller
    await ctl.start("1001")
    patient = await place_call(ari, TelephonyConfig(), caller="+14155550186", hangup_after=300,
                               digits=f"{ENGLISH},{APPOINTMENTS}", first_delay=1.5, digit_gap=1)
    row = await poll(lambda: _connected(db), 60, "the call to connect")
    desk = "/api/agents/1001/triage"
    await ctl_post(ctl, desk, {"protocol": "chest_pain"})
    await ctl_post(ctl, f"{desk}/answer", {"question": "unresponsive", "answer": "no"})
    await ctl_post(ctl, f"{desk}/answer", {"question": "heart_attack_signs", "answer": "yes"})
    status, body = await ctl_post(ctl, f"{desk}/escalate", {"kind": "emergency_conference"})
    assert status == 200, body
    leg, bridge = body["channel"], "call-" + row.id

    async def three_in_bridge():
        return len(await bridge_channels(ari, bridge)) == 3
    await poll(three_in_bridge, 30, "caller, agent and emergency service in the bridge")
    members, caller = await bridge_channels(ari, bridge), row.channel_id
    assert caller in members and leg in members

    await restart(ctl)  # caller, agent and emergency service talking: all three go on
    found = await ctl.get(f"/api/calls/{row.id}")
    assert found["state"] == "connected"
    assert await bridge_channels(ari, bridge) == members
    status, body = await ctl_post(ctl, f"/api/calls/{row.id}/hangup")
    assert (status, body["state"]) == (200, "with_emergency"), body
    assert await poll(lambda: _members_are(ari, bridge, {caller, leg}), 15, "the agent to leave")

    await restart(ctl)  # the caller and the emergency service alone: still talking
    assert (await ctl.get(f"/api/calls/{row.id}"))["state"] == "with_emergency"
    assert await bridge_channels(ari, bridge) == {caller, leg}
    assert {(await ari.channel(c)).state for c in (caller, leg)} == {"Up"}

    await ari.hangup(patient.id)
    await poll(lambda: _gone(ari, leg), 15, "the emergency leg to be hung up with its caller")
    await poll(lambda: _ended(db, row.id), 15, "the call to end")


async def _connected(db):
    found = [r for r in rows(db).values() if r.status == "connected"]
    return found[0] if found else None


async def _ended(db, call_id: str) -> bool:
    return rows(db)[call_id].status == "ended"


async def _members_are(ari, bridge: str, expected: set[str]) -> bool:
    return await bridge_channels(ari, bridge) == expected


async def _gone(ari, channel_id: str) -> bool:
    try:
        await ari.channel(channel_id)
    except AriNotFound:
        return True
    return False

"""Call controls against a fake ARI: who may use them, what each state allows, and the unhappy paths of a
warm transfer (target does not answer, caller hangs up meanwhile) that the sandbox cannot force reliably."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.ari.events import parse_event
from callcenter.calls import state as states
from callcenter.calls.controls import CallControls
from callcenter.calls.exceptions import BadControl, ControlError, ControlNotAllowed, TargetUnavailable
from callcenter.calls.services import CallDeps
from callcenter.calls.stasis import CallRouter
from callcenter.config import TelephonyConfig
from callcenter.recording.services import RecordingService
from callcenter.screenpop.notifier import AgentNotifier
from callcenter.screenpop.services import ScreenPopService
from callcenter.selfservice.actions import load_inbound_flow

from .fake_ari import FakeAri
from .test_call_router import live, stasis_start, wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class User:
    role: str
    desk: str | None


@pytest.fixture
async def setup(seeded_db, events, queues, tmp_path):
    ari = FakeAri()
    flow = load_inbound_flow(ROOT / "ivr_flows" / "hotline.yaml")
    router = CallRouter(seeded_db, {"hotline": flow})
    notifier = AgentNotifier()
    router.deps = CallDeps(
        ari=ari, events=events, queues=queues, pops=ScreenPopService(seeded_db, notifier),
        recordings=RecordingService(ari, events, tmp_path / "recordings", enabled=False),
        settings=TelephonyConfig(queue_announce_seconds=0), bind=router.bind, bind_bridge=router.bind_bridge,
        forget=router.forget, notifier=notifier)
    controls = CallControls(router, queues, seeded_db, events, flow)
    router.register_role("outbound", controls.on_stasis_start)
    yield router, controls, ari
    tasks = [c.task for c in router.live_calls() if c.task]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def connected_call(router, queues, agent: str = "1003"):
    """A nurse-queue caller answered by `agent`, driven through the real states with the fake ARI."""
    call = router.start_inbound(live("caller-1"), "hotline", initial=lambda c: states.Queued(c, "nurse"))
    queues.request_state(agent, "available")
    await wait_until(lambda: call.state.name == "offering", what="the offer")
    await router.on_event(stasis_start(call.legs.agent_channel_id, "agent", call.id))
    await wait_until(lambda: call.state.name == "connected", what="the connection")
    return call


async def test_given_agent_of_another_desk_when_hold_then_403_and_own_desk_holds(setup, queues):
    router, controls, ari = setup
    call = await connected_call(router, queues)
    with pytest.raises(ControlError) as refused:
        await controls.hold(call.id, User("agent", "1001"))
    assert refused.value.status == 403
    assert await controls.hold(call.id, User("nurse", "1003")) == "held"
    assert ("caller-1", "in") in ari.sent("mute") and (call.legs.agent_channel_id, "in") in ari.sent("mute")
    assert ari.sent("start_moh")[-1][0] == "caller-1"
    assert await controls.unhold(call.id, User("supervisor", None)) == "connected"
    assert ari.sent("stop_moh")[-1] == ("caller-1",)


async def test_given_queued_call_when_hold_then_refused_as_conflict(setup, queues):
    router, controls, _ = setup
    call = router.start_inbound(live("caller-2"), "hotline", initial=lambda c: states.Queued(c, "nurse"))
    await wait_until(lambda: call.state.name == "queued", what="queued")
    with pytest.raises(ControlNotAllowed):
        await controls.hold(call.id)
    with pytest.raises(ControlError) as unknown:
        await controls.hold("0" * 32)
    assert unknown.value.status == 404


async def test_given_warm_transfer_when_target_does_not_answer_then_back_to_caller_and_target_paused(
        setup, queues):
    router, controls, ari = setup
    call = await connected_call(router, queues)
    queues.request_state("1001", "available")
    assert await controls.transfer(call.id, {"mode": "warm", "agent": "1001"}) == "consulting"
    consult = call.state
    assert queues.agent("1001").state == "ringing"
    assert ari.sent("remove_from_bridge")[-1] == (call.legs.bridge_id, (call.legs.agent_channel_id,))
    call.post(parse_event({"type": "Dial", "peer": {"id": consult.leg_id}, "dialstatus": "NOANSWER"}))
    call.post(parse_event({"type": "ChannelDestroyed", "channel": {"id": consult.leg_id}, "cause": 0}))
    await wait_until(lambda: call.state.name == "connected", what="back to the caller")
    assert ari.sent("add_to_bridge")[-1] == (call.legs.bridge_id, (call.legs.agent_channel_id,))
    assert queues.agent("1001").state == "paused" and queues.agent("1001").pause_reason == "ring-no-answer"
    assert ari.sent("stop_moh")[-1] == ("caller-1",)


async def test_given_consultation_when_caller_hangs_up_then_target_freed_and_legs_hung_up(setup, queues):
    router, controls, ari = setup
    call = await connected_call(router, queues)
    queues.request_state("1001", "available")
    await controls.transfer(call.id, {"mode": "warm", "queue": "general"})
    consult = call.state
    await router.on_event(stasis_start(consult.leg_id, "agent", call.id))
    await wait_until(lambda: consult.answered, what="the target to answer")
    assert queues.agent("1001").state == "on_call"
    await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": "caller-1"}}))
    await wait_until(lambda: call.ended.is_set(), what="the end")
    hung_up = {args[0] for args in ari.sent("hangup")}
    assert {consult.leg_id, call.legs.agent_channel_id} <= hung_up
    assert queues.agent("1001").state == "available"
    assert consult.bridge_id is None and ari.sent("destroy_bridge")


async def test_given_spanish_caller_when_warm_transfer_to_a_queue_then_the_free_agent_speaking_spanish_rings(
        setup, queues):
    router, controls, _ = setup
    call = await connected_call(router, queues)
    call.language = "es"
    queues.request_state("1001", "available")  # en only, and idle the longest
    await asyncio.sleep(0.002)
    queues.request_state("1002", "available")  # en and es

    assert await controls.transfer(call.id, {"mode": "warm", "queue": "general"}) == "consulting"

    assert call.state.target.number == "1002"
    assert queues.agent("1002").state == "ringing" and queues.agent("1002").call_id == call.id
    assert queues.agent("1001").state == "available"


async def test_given_no_free_agent_in_queue_when_warm_transfer_then_409(setup, queues):
    router, controls, _ = setup
    call = await connected_call(router, queues)
    with pytest.raises(TargetUnavailable):
        await controls.transfer(call.id, {"mode": "warm", "queue": "general"})
    with pytest.raises(BadControl):
        await controls.transfer(call.id, {"mode": "warm", "queue": "general", "agent": "1001"})
    assert call.state.name == "connected"


async def test_given_agent_on_call_or_bad_number_when_dial_then_refused(setup, queues):
    router, controls, ari = setup
    await connected_call(router, queues)
    with pytest.raises(ControlNotAllowed):
        await controls.dial("1003", {"phone": "+14155550100"})
    with pytest.raises(BadControl):
        await controls.dial("1001", {"phone": "not a number"})
    with pytest.raises(BadControl):
        await controls.dial("1001", {"phone": "+14155550100", "patient_id": "7"})


async def test_given_click_to_dial_when_agent_then_patient_answer_then_bridged(setup, queues):
    router, controls, ari = setup
    queues.request_state("1001", "paused", "admin")
    call_id = await controls.dial("1001", {"phone": "415-555-0100"})
    call = router.find(call_id)
    assert queues.agent("1001").state == "ringing"
    await wait_until(lambda: ari.sent("originate"), what="the agent's phone")
    assert ari.sent("originate")[0] == ("Local/auto-1001@agent-phones/n",)
    await router.on_event(stasis_start(call.legs.agent_channel_id, "outbound", call_id))
    await wait_until(lambda: len(ari.sent("originate")) == 2, what="the patient's phone")
    assert ari.sent("originate")[1] == ("Local/+14155550100@sim-callee/n",)
    await router.on_event(stasis_start(call.channel.id, "outbound", call_id))
    await wait_until(lambda: call.state.name == "connected", what="the conversation")
    both = (call.channel.id, call.legs.agent_channel_id)
    assert ari.sent("add_to_bridge")[-1] == (call.legs.bridge_id, both)
    assert queues.agent("1001").state == "on_call"


async def test_given_restart_when_click_to_dial_agent_leg_found_then_hung_up_not_queued(setup, queues):
    router, _, ari = setup
    ari.channels_alive = [live("agent-0a1b", app_data="callcenter,outbound,0123")]
    await router.reconcile()
    assert ("agent-0a1b",) in ari.sent("hangup")
    assert router.live_calls() == [], "an agent's phone is never queued as a caller"

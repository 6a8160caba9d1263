"""The guard at the entry point, on real calls: a handler that raises while one call is being handled must
leave every other call talking and the ARI websocket up, and put its own caller somewhere safe."""
from __future__ import annotations

import pytest

from callcenter.calls import state as states

from .test_call_controls import bridge_members, nurse_call
from .test_hotline import ENGLISH, NURSE, event_types

pytestmark = pytest.mark.asterisk


async def still_talking(center, call) -> bool:
    """The call is connected and Asterisk still bridges its caller with its agent."""
    members = await bridge_members(center, call.legs.bridge_id)
    return call.state.name == "connected" and members == {call.channel.id, call.legs.agent_channel_id}


async def test_given_a_talking_call_when_the_router_fails_on_a_new_caller_then_it_is_hung_up_and_talk_goes_on(
        center, monkeypatch):
    talking, _ = await nurse_call(center, "1005", "+14155550180")
    connections = center.s.ari.connections
    start_inbound = center.s.router.start_inbound
    failures = []

    def broken_once(*args, **kwargs):
        if not failures:
            failures.append(args)
            raise RuntimeError("bug while starting a call")
        return start_inbound(*args, **kwargs)
    monkeypatch.setattr(center.s.router, "start_inbound", broken_once)

    failing_patient = await center.call("+14155550181", f"{ENGLISH},{NURSE}", hangup_after=60)

    async def failing_caller_gone():
        return failures and failing_patient not in await center.live_channels()
    await center.wait_for(failing_caller_gone, 15, "the failing caller to be hung up, not left in silence")
    assert center.s.ari.connections == connections and center.s.ari.connected.is_set()
    assert await still_talking(center, talking)

    # The websocket is the same one, and it still carries new calls.
    await center.call("+14155550182", f"{ENGLISH},{NURSE}", hangup_after=60)

    async def next_caller_queued():
        return [c for c in center.s.router.live_calls() if c is not talking and c.state.name == "queued"]
    await center.wait_for(next_caller_queued, 40, "the next caller to reach the nurse queue")
    assert center.s.ari.connections == connections
    assert await still_talking(center, talking)


async def test_given_a_talking_call_when_another_calls_handler_raises_on_answer_then_requeued_talk_goes_on(
        center, monkeypatch):
    talking, _ = await nurse_call(center, "1005", "+14155550183")
    connections = center.s.ari.connections
    original = states.Offering.on_StasisStart
    broken_legs = []

    async def broken_once(self, event):
        if self.call is not talking and not broken_legs and event.channel.id == self.leg_id:
            broken_legs.append(self.leg_id)
            raise RuntimeError("bug while connecting the agent")
        return await original(self, event)
    monkeypatch.setattr(states.Offering, "on_StasisStart", broken_once)
    await center.set_agent("1006", "available")

    await center.call("+14155550184", f"{ENGLISH},{NURSE}", hangup_after=90)

    async def second_call_connected():
        calls = [c for c in center.s.router.live_calls() if c is not talking]
        return calls[0] if calls and broken_legs and calls[0].state.name == "connected" else None
    failing = await center.wait_for(second_call_connected, 60, "the failing call to be offered again")
    # The leg whose handling failed was hung up (not left up in silence); the agent, free again, was
    # offered the caller anew from the front of the queue, and now talks with them.
    assert broken_legs[0] not in await center.live_channels()
    assert failing.legs.agent_channel_id != broken_legs[0] and failing.agent is center.s.queues.agent("1006")
    assert await still_talking(center, failing)
    types = event_types(await center.events(failing.id))
    assert types.index("fail_safe") < types.index("requeued") < types.index("connected")
    assert center.s.ari.connections == connections and center.s.ari.connected.is_set()
    assert await still_talking(center, talking)

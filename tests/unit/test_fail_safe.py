"""Where an unexpected error takes a call: each state says (CallState.fail_safe), so no call flavour overrides
the call's fail-safe. A caller waiting for nobody goes to the front of a human queue; a live conversation and
a caller still in the queue stay as they are; a call with no caller yet (click-to-dial ringing, a campaign
patient before a person is known to be on the line: tests/campaigns/test_call.py) ends as failed."""
from __future__ import annotations

from callcenter.calls import click_to_dial
from callcenter.calls import state as states

from .test_call_controls import connected_call, setup  # noqa: F401 (the fixture)
from .test_call_router import live, wait_until


async def test_given_a_connected_call_when_a_handler_fails_then_it_stays_connected(
        setup, queues):  # noqa: F811
    router, _, _ = setup
    call = await connected_call(router, queues)

    assert call.state.fail_safe() is None
    assert states.Consulting(call, call.agent, None, "general").fail_safe() is None


async def test_given_a_caller_in_the_queue_or_not_when_a_handler_fails_then_only_the_lost_one_is_requeued(
        setup, queues):  # noqa: F811
    router, _, _ = setup
    call = router.start_inbound(live("caller-7"), "hotline", initial=lambda c: states.Queued(c, "nurse", 3))
    await wait_until(lambda: queues.position(call) is not None, what="queued")

    assert call.state.fail_safe() is None, "still waiting in its queue"
    queues.remove(call)
    again = call.state.fail_safe()
    assert isinstance(again, states.Queued)
    assert (again.queue, again.priority, again.front) == ("nurse", 3, True)


async def test_given_a_click_to_dial_call_ringing_when_a_handler_fails_then_it_ends_as_failed(
        setup, queues):  # noqa: F811
    router, _, _ = setup
    call = router.start_inbound(live("caller-8"), "hotline", initial=lambda c: states.Queued(c, "nurse"))

    for ringing in (click_to_dial.DialingAgent(call), click_to_dial.DialingPatient(call)):
        ended = ringing.fail_safe()
        assert isinstance(ended, states.Ended) and (ended.outcome, ended.reason) == ("failed", "fail_safe")

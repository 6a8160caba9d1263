"""Music on hold for a queued caller, with a fake ARI: the offer to an agent (and its screen pop) never waits
for Asterisk's answer to the music request, and music stopped before or while it starts stays off."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from callcenter.ari.client import AriError
from callcenter.ari.events import parse_event
from callcenter.calls.state import Queued

from . import test_call_router
from .test_call_router import adopt, stasis_start, wait_until

router = test_call_router.router  # the same fixture: a CallRouter on a fake ARI


def slow_music(ari) -> asyncio.Event:
    """Asterisk takes its time to answer POST /channels/{id}/moh, until the returned event is set."""
    answer = asyncio.Event()

    async def start_moh(channel_id: str, moh_class: str = "default") -> None:
        await answer.wait()
        ari._note("start_moh", channel_id, moh_class)
    ari.start_moh = start_moh
    return answer


def music_commands(ari) -> list[str]:
    return [method for method, _, _ in ari.calls if method in ("start_moh", "stop_moh")]


async def test_given_music_slow_to_start_when_a_caller_is_queued_with_a_free_agent_then_offered_at_once(
        router, queues):
    ari = router.deps.ari
    answer = slow_music(ari)
    queues.request_state("1001", "available")

    call = await adopt(router, "caller-1")

    await wait_until(lambda: ari.sent("originate"), what="the agent to be dialed")
    assert call.state.name == "offering" and call.agent is queues.agent("1001")
    assert not answer.is_set() and music_commands(ari) == []  # the music request is still unanswered
    answer.set()


async def test_given_agent_answers_before_the_music_started_when_bridged_then_the_music_is_stopped_after_it(
        router, queues):
    ari = router.deps.ari
    answer = slow_music(ari)
    queues.request_state("1001", "available")
    call = await adopt(router, "caller-1")
    await wait_until(lambda: ari.sent("originate"), what="the agent to be dialed")

    await router.on_event(stasis_start(call.legs.agent_channel_id, "agent", call.id))
    await wait_until(lambda: call.state.name == "connected", what="the agent to be connected")
    answer.set()

    await wait_until(lambda: ari.sent("add_to_bridge"), what="the bridge")
    assert music_commands(ari) == ["start_moh", "stop_moh"]  # never music left playing in the conversation
    await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": "caller-1"}}))
    await asyncio.wait_for(call.ended.wait(), 5)


async def test_given_music_requested_when_stopped_before_it_was_sent_then_it_never_starts(router, queues):
    ari = router.deps.ari
    call = await adopt(router, "caller-1")  # nobody free: the caller waits with music
    await wait_until(lambda: music_commands(ari) == ["start_moh"], what="the queue's music")
    await call.media.stop_moh()

    call.media.start_moh_soon("default")
    await call.media.stop_moh()  # returns once the task start_moh_soon made is done

    assert music_commands(ari) == ["start_moh", "stop_moh"]


async def test_given_music_failed_to_start_when_the_agent_answers_then_nothing_to_stop_and_call_bridged(
        router, queues):
    ari = router.deps.ari

    async def refused(channel_id: str, moh_class: str = "default") -> None:
        ari._note("start_moh", channel_id, moh_class)
        await asyncio.sleep(0)  # a round trip: other tasks run meanwhile, as with a real Asterisk
        raise AriError(500, "POST", f"/channels/{channel_id}/moh", "Internal Server Error")
    ari.start_moh = refused
    queues.request_state("1001", "available")
    call = await adopt(router, "caller-1")
    await wait_until(lambda: ari.sent("originate"), what="the agent to be dialed")

    await router.on_event(stasis_start(call.legs.agent_channel_id, "agent", call.id))

    await wait_until(lambda: ari.sent("add_to_bridge"), what="the bridge")
    assert call.state.name == "connected" and music_commands(ari) == ["start_moh"]


async def test_given_an_announcement_playing_when_offered_and_answered_at_once_then_no_music_in_the_bridge(
        router, queues):
    """The announcement cut by the offer restarts the music for the ringing time; that restart must be done
    (and so stopped by the bridge) before the agent can answer, not land after the bridge is made."""
    ari = router.deps.ari
    router.deps.settings.queue_announce_seconds = 0.05
    release = asyncio.Event()

    async def slow_stop_playback(playback_id: str) -> None:
        await release.wait()
        ari._note("stop_playback", playback_id)
    ari.stop_playback = slow_stop_playback
    call = await adopt(router, "caller-1")  # nobody free: music, then the position announcement
    await wait_until(lambda: ari.sent("play"), what="the position announcement")
    queued = call.state

    queues.request_state("1001", "available")  # offered mid-sentence; Asterisk slow to cut the sentence
    asyncio.get_running_loop().call_later(0.3, release.set)
    await wait_until(lambda: ari.sent("originate"), what="the agent to be dialed")
    await router.on_event(stasis_start(call.legs.agent_channel_id, "agent", call.id))  # answers at once
    await wait_until(lambda: ari.sent("add_to_bridge"), what="the bridge")
    await wait_until(lambda: release.is_set() and queued.announcer.done(), what="the announcement to be cut")

    assert ari.sent("stop_playback")  # the sentence was cut
    assert music_commands(ari)[-1] == "stop_moh"  # the caller hears the agent, not music
    await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": "caller-1"}}))
    await asyncio.wait_for(call.ended.wait(), 5)


async def test_given_a_caller_between_position_announcements_when_offered_then_leaving_the_queue_waits_no_loop_turn():  # noqa: E501
    """The announcer only sleeps between announcements: cancelling it touches neither music nor prompt, so
    the offer and its screen pop go on at once; mid-announcement, leaving waits for the music to be back."""
    state = Queued(SimpleNamespace(), "general")
    state.announcer = asyncio.create_task(asyncio.sleep(30))
    await asyncio.sleep(0)  # the announcer is asleep

    step = state.leave().__await__()
    with pytest.raises(StopIteration):
        step.send(None)  # returned without suspending
    assert state.announcer.cancelling()

    state.announcer, state.announcing = asyncio.create_task(asyncio.sleep(30)), True
    await asyncio.sleep(0)
    step = state.leave().__await__()
    step.send(None)  # suspended: the announcement is cut and the music put back first
    step.close()

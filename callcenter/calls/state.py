"""One class per state of a patient call. A handler returns the next state, or None to stay.

Events reach a state in the order Asterisk sent them (the call's own task feeds them one by one). An event a
state does not expect raises InvalidTransition: it is logged loudly and the call is put somewhere safe,
instead of quietly corrupting the call.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from ..ari.client import AriError, AriUnavailable
from ..ari.models import StasisStart
from ..ivr.engine import Enqueue, Hangup, run_flow
from .exceptions import InvalidTransition
from .ivr import AriIvrPort

if TYPE_CHECKING:
    from ..queues.services import AgentRuntime
    from .services import Call

log = logging.getLogger(__name__)

# How an unanswered agent leg ended, from the Dial event: the channel's own hangup cause says little
# (a Local channel that met Busy() is destroyed with cause 0).
DIAL_RESULTS = {"BUSY": "busy", "NOANSWER": "no_answer", "CHANUNAVAIL": "failed", "CONGESTION": "failed"}


class CallState:
    name = "state"

    def __init__(self, call: "Call"):
        self.call = call

    async def enter(self) -> "CallState | None":
        return None

    async def leave(self) -> None:
        """Called when the call moves on to another state: stop timers and tasks this state started."""

    async def handle(self, event: dict) -> "CallState | None":
        handler = getattr(self, "on_" + event["type"], None)
        return await handler(event) if handler else None

    async def on_ChannelDtmfReceived(self, event: dict) -> None:
        if event["channel"]["id"] == self.call.channel.id:
            self.call.keys.put_nowait(event["digit"])

    async def on_PlaybackFinished(self, event: dict) -> None:
        self.call.playback_finished(event["playback"]["id"])

    async def on_StasisEnd(self, event: dict) -> "CallState | None":
        if event["channel"]["id"] == self.call.channel.id:
            return self.caller_gone("caller_hangup")
        return None

    async def on_Lost(self, event: dict) -> "CallState":
        """Reconciliation found the caller's channel gone while we were disconnected from Asterisk."""
        return self.caller_gone("lost_" + event["reason"])

    def caller_gone(self, reason: str) -> "CallState":
        raise NotImplementedError

    async def on_Offer(self, event: dict) -> "CallState | None":
        raise InvalidTransition(self.name, "Offer")


class Answering(CallState):
    """The caller just entered our app: answer, find the patient, then start the IVR."""
    name = "answering"

    async def enter(self) -> "CallState":
        call = self.call
        await call.deps.ari.answer(call.channel.id)
        call.log("answered")
        await call.identify_caller()
        return Ivr(call)

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "ivr_hangup", reason)


class Ivr(CallState):
    name = "ivr"

    def __init__(self, call: "Call"):
        super().__init__(call)
        self.task: asyncio.Task | None = None

    async def enter(self) -> None:
        call = self.call
        call.save(status="ivr")
        port = AriIvrPort(call)
        self.task = asyncio.create_task(run_flow(call.flow, port, call.flow_context()))
        self.task.add_done_callback(lambda t: call.post({"type": "IvrDone", "task": t}))

    async def on_IvrDone(self, event: dict) -> "CallState":
        task: asyncio.Task = event["task"]
        if task.cancelled():
            return Ended(self.call, "ivr_hangup", "caller_hangup")
        outcome = task.result()  # an engine error propagates to the call's fail-safe
        if isinstance(outcome, Enqueue):
            return Queued(self.call, outcome.queue, outcome.priority)
        assert isinstance(outcome, Hangup)
        return Ended(self.call, "ivr_completed", outcome.reason, hangup=True)

    def caller_gone(self, reason: str) -> "CallState":
        if self.task:
            self.task.cancel()
        return Ended(self.call, "ivr_hangup", reason)


class Queued(CallState):
    name = "queued"

    def __init__(self, call: "Call", queue: str, priority: int = 0, *, front: bool = False):
        super().__init__(call)
        self.queue, self.priority, self.front = queue, priority, front
        self.announcer: asyncio.Task | None = None

    async def enter(self) -> None:
        call = self.call
        info = call.deps.queues.queue(self.queue)
        if call.queue_name is None:
            call.queued_at = call.log("queued", queue_name=self.queue, priority=self.priority)
            call.save(status="queued", queue_name=self.queue, priority=self.priority, queued_at=call.queued_at)
        else:
            call.log("requeued", queue_name=self.queue, front=self.front)
            call.save(status="queued")
        call.queue_name, call.priority = self.queue, self.priority
        await call.start_moh(info.moh_class)
        interval = call.deps.settings.queue_announce_seconds
        if interval > 0:
            self.announcer = asyncio.create_task(self._announce(interval, info.moh_class))
        call.deps.queues.enqueue(call, self.queue, self.priority, front=self.front)

    async def leave(self) -> None:
        if self.announcer:
            self.announcer.cancel()

    async def _announce(self, interval: float, moh_class: str) -> None:
        """Every `interval` seconds, tell the caller their place in the queue, then back to music."""
        try:
            await self._announce_forever(interval, moh_class)
        except (AriError, AriUnavailable) as exc:
            log.info("call %s: queue announcements stopped: %s", self.call.id, exc)

    async def _announce_forever(self, interval: float, moh_class: str) -> None:
        call = self.call
        while True:
            await asyncio.sleep(interval)
            position = call.deps.queues.position(call)
            if position is None:
                return
            await call.stop_moh()
            done = await call.play(["sound:callcenter/you-are-caller", f"number:{position}"])
            call.log("position_announced", position=position)
            try:
                await done
            except asyncio.CancelledError:
                # Offered or hung up mid-sentence: cut the announcement, the caller keeps hearing music.
                await call.stop_playback(done)
                await call.start_moh(moh_class, quietly=True)
                raise
            await call.start_moh(moh_class)

    async def on_Offer(self, event: dict) -> "CallState":
        return Offering(self.call, event["agent"])

    def caller_gone(self, reason: str) -> "CallState":
        self.call.deps.queues.remove(self.call)
        return Ended(self.call, "abandoned", reason)


class Offering(CallState):
    """An agent's phone rings; the screen pop is already on their screen."""
    name = "offering"

    def __init__(self, call: "Call", agent: "AgentRuntime"):
        super().__init__(call)
        self.agent = agent
        self.leg_id = "agent-" + uuid.uuid4().hex
        self.dial_result = "no_answer"

    async def enter(self) -> "CallState | None":
        call = self.call
        call.agent = self.agent
        call.agent_channel_id = self.leg_id
        call.deps.bind(self.leg_id, call)
        await call.deps.pops.offer(call, self.agent)
        call.offered_at = call.log("offered", agent_id=self.agent.id, queue_name=call.queue_name,
                                   endpoint_kind=self.agent.endpoint.split("/", 1)[0])
        call.save(status="offering", offered_at=call.offered_at)
        try:
            await call.originate_agent(self.agent, self.leg_id)
        except (AriError, AriUnavailable) as exc:
            log.warning("call %s: dialing agent %s failed: %s", call.id, self.agent.id, exc)
            return self._ring_no_answer("failed")
        return None

    async def on_StasisStart(self, event: dict) -> "CallState | None":
        start = StasisStart.from_event(event)
        if start.channel.id != self.leg_id:
            return None
        return Connected(self.call, self.agent)

    async def on_Dial(self, event: dict) -> None:
        if (event.get("peer") or {}).get("id") == self.leg_id:
            self.dial_result = DIAL_RESULTS.get(event.get("dialstatus", ""), self.dial_result)

    async def on_ChannelDestroyed(self, event: dict) -> "CallState | None":
        if event["channel"]["id"] != self.leg_id:
            return None
        return self._ring_no_answer(self.dial_result)

    def _ring_no_answer(self, result: str) -> "CallState":
        call, queues = self.call, self.call.deps.queues
        call.close_leg(self.leg_id, result)
        call.agent = None
        call.log("offer_failed", agent_id=self.agent.id, result=result)
        reason = "ring-no-answer" if result == "no_answer" else "phone-" + result
        queues.set_state(self.agent, "paused", reason)
        # The caller keeps their place: back to the front of the same queue.
        return Queued(call, call.queue_name, call.priority, front=True)

    def caller_gone(self, reason: str) -> "CallState":
        self.call.deps.queues.set_state(self.agent, "available")
        self.call.agent = None
        return Ended(self.call, "abandoned", reason, hangup_legs=[self.leg_id])


class Connected(CallState):
    name = "connected"

    def __init__(self, call: "Call", agent: "AgentRuntime"):
        super().__init__(call)
        self.agent = agent

    async def enter(self) -> None:
        call = self.call
        call.deps.queues.set_state(self.agent, "on_call", call_id=call.id)
        call.answered_at = call.log("connected", agent_id=self.agent.id, queue_name=call.queue_name)
        call.save(status="connected", agent_id=self.agent.id, answered_at=call.answered_at)
        call.open_leg_answered(self.agent)
        await call.stop_moh()
        call.bridge_id = await call.deps.ari.create_bridge("call-" + call.id)
        call.deps.bind_bridge(call.bridge_id, call)
        await call.deps.ari.add_to_bridge(call.bridge_id, [call.channel.id, call.agent_channel_id])
        await call.deps.recordings.start(call)

    async def on_StasisEnd(self, event: dict) -> "CallState | None":
        channel_id = event["channel"]["id"]
        if channel_id == self.call.channel.id:
            return self.caller_gone("caller_hangup")
        if channel_id == self.call.agent_channel_id:
            return Ended(self.call, "completed", "agent_hangup")
        return None

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "completed", reason)


class Ended(CallState):
    name = "ended"

    def __init__(self, call: "Call", outcome: str, reason: str, *, hangup: bool = False,
                 hangup_legs: list[str] | None = None):
        super().__init__(call)
        self.outcome, self.reason, self.hangup = outcome, reason, hangup
        self.hangup_legs = hangup_legs or []

    async def enter(self) -> None:
        await self.call.finish(self.outcome, self.reason, hangup_caller=self.hangup,
                               extra_legs=self.hangup_legs)

    async def on_Offer(self, event: dict) -> None:
        # The caller hung up just as an agent was picked: give the agent back.
        self.call.deps.queues.set_state(event["agent"], "available")

    async def on_StasisEnd(self, event: dict) -> None:
        return None

    async def on_Lost(self, event: dict) -> None:
        return None

    async def on_ChannelDtmfReceived(self, event: dict) -> None:
        return None

"""One class per state of a patient call. A handler returns the next state, or None to stay.

Events reach a state in the order Asterisk sent them (the call's own task feeds them one by one). An event a
state does not expect raises InvalidTransition: it is logged loudly and the call is put somewhere safe,
instead of quietly corrupting the call.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..ari.client import AriError, AriNotFound, AriUnavailable, quietly
from ..ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Dial,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from ..ivr.engine import Enqueue, Hangup, Outcome, run_flow
from ..queues.exceptions import QueueError
from . import emergency
from .events import Control, HandlerFailed, IvrDone, Lost, Offer
from .exceptions import ControlError, ControlNotAllowed, InvalidTransition, TargetUnavailable
from .ivr import AriIvrPort

if TYPE_CHECKING:
    from ..queues.services import AgentRuntime
    from .services import Call

log = logging.getLogger(__name__)
# A consultation's own bridge: `consult-<call id>-<random>` (calls/reconcile.py finds it after a restart).
CONSULT_BRIDGE_PREFIX = "consult-"
# The longest an offer waits for a position announcement to be cut and the music put back (two round trips).
ANNOUNCEMENT_CUT_SECONDS = 2.0


class CallState:
    name = "state"

    def __init__(self, call: "Call"):
        self.call = call

    async def enter(self) -> "CallState | None":
        return None

    async def leave(self) -> None:
        """Called when the call moves on to another state: stop timers and tasks this state started."""

    async def handle(self, event: Event) -> "CallState | None":
        handler = getattr(self, "on_" + event.type, None)
        return await handler(event) if handler else None

    async def on_ChannelDtmfReceived(self, event: ChannelDtmfReceived) -> None:
        if event.channel.id == self.call.channel.id:
            self.call.ivr.keys.put_nowait(event.digit)

    async def on_PlaybackFinished(self, event: PlaybackFinished) -> None:
        self.call.media.playback_finished(event.playback_id, event.state or "done")

    async def on_Dial(self, event: Dial) -> None:
        self.call.legs.dials.note(event)

    async def on_StasisEnd(self, event: StasisEnd) -> "CallState | None":
        if event.channel.id == self.call.channel.id:
            return self.caller_gone("caller_hangup")
        return None

    async def on_ChannelHangupRequest(self, event: ChannelHangupRequest) -> None:
        if event.is_shutdown:
            self.call.lost_in = "asterisk_restart"  # the hang-ups that follow are Asterisk's, not a person's

    async def on_Lost(self, event: Lost) -> "CallState":
        """Reconciliation found the caller's channel gone while we were disconnected from Asterisk."""
        self.call.lost_in = event.reason
        return self.caller_gone("lost_" + event.reason)

    async def on_HandlerFailed(self, event: HandlerFailed) -> "CallState | None":
        """Handling one of this call's events failed outside its task: the same fail-safe as inside."""
        return self.fail_safe()

    def caller_gone(self, reason: str) -> "CallState":
        raise NotImplementedError

    def fail_safe(self) -> "CallState | None":
        """Where an unexpected error in this state takes the call (None: it stays). Each state knows what is
        safe for it, so no call flavour overrides the call's fail-safe: by default, a human queue."""
        return self.call.requeue_after_failure()

    async def on_Offer(self, event: Offer) -> "CallState | None":
        raise InvalidTransition(self.name, "Offer")

    async def on_Control(self, event: Control) -> "CallState | None":
        """An agent's call control (hold, transfer, ...), run in order with the call's events.

        The control is the state's `do_<action>` method; a state without one refuses it. Refusals go back to
        the HTTP request through `reply` instead of the call's fail-safe: the call itself is fine.
        """
        reply: asyncio.Future = event.reply
        action = getattr(self, "do_" + event.action, None)
        if action is None:
            reply.set_exception(ControlNotAllowed(f"cannot {event.action} a call that is {self.name}"))
            return None
        try:
            nxt = await action(**event.args)
        except (ControlError, QueueError) as exc:
            reply.set_exception(exc)
            return None
        except Exception as exc:
            reply.set_exception(ControlError(f"{event.action} failed: {exc}"))
            raise
        reply.set_result(nxt.name if nxt is not None else self.name)
        return nxt


class Answering(CallState):
    """The caller just entered our app: answer, find the patient, then start the IVR (with the menu choices
    the caller already made in the dialplan before, if any: ivr/presets.py)."""
    name = "answering"

    def __init__(self, call: "Call", presets: Mapping[str, str] | None = None):
        super().__init__(call)
        self.presets = presets

    async def enter(self) -> "CallState":
        call = self.call
        await call.deps.ari.answer(call.channel.id)
        call.log("answered")
        await call.identify_caller()
        return Ivr(call, self.presets)

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "ivr_hangup", reason)


class Ivr(CallState):
    name = "ivr"

    def __init__(self, call: "Call", presets: Mapping[str, str] | None = None):
        super().__init__(call)
        self.presets = presets
        self.task: asyncio.Task | None = None

    async def enter(self) -> None:
        call = self.call
        call.save(status="ivr")
        self.task = asyncio.create_task(run_flow_on(call, call.flow, call.flavour.flow_context(call),
                                                    presets=self.presets))
        self.task.add_done_callback(lambda t: call.post(IvrDone(t)))

    async def on_IvrDone(self, event: IvrDone) -> "CallState":
        task = event.task
        if task.cancelled():
            return Ended(self.call, "ivr_hangup", "caller_hangup")
        outcome = task.result()  # an engine error propagates to the call's fail-safe
        if outcome is None:  # the caller's channel went away under a prompt: their hang-up
            return Ended(self.call, "ivr_hangup", "caller_hangup")
        if isinstance(outcome, Enqueue):
            return Queued(self.call, outcome.queue, outcome.priority)
        assert isinstance(outcome, Hangup)
        return Ended(self.call, "ivr_completed", outcome.reason, hangup=True)

    def caller_gone(self, reason: str) -> "CallState":
        if self.task:
            self.task.cancel()
        return Ended(self.call, "ivr_hangup", reason)


async def run_flow_on(call: "Call", flow, context: dict, *, presets: Mapping[str, str] | None = None
                      ) -> Outcome | None:
    """Run `flow` on the caller's channel; None when that channel went away under it. A prompt played to a
    channel that hung up answers 404 before (or after) the call hears its StasisEnd: that is the caller's
    hang-up, an expected end, not an engine failure (nor an exception left in a task nobody reads)."""
    try:
        return await run_flow(flow, AriIvrPort(call), context, presets=presets)
    except AriNotFound as exc:
        if not exc.about_channel(call.channel.id):
            raise
        log.info("call %s: its channel went away under the flow", call.id)
        return None


class Queued(CallState):
    name = "queued"

    def fail_safe(self) -> "CallState | None":
        if self.call.deps.queues.position(self.call) is not None:
            return None  # still waiting in the queue: nothing to repair
        return super().fail_safe()

    def __init__(self, call: "Call", queue: str, priority: int = 0, *, front: bool = False):
        super().__init__(call)
        self.queue, self.priority, self.front = queue, priority, front
        self.announcer: asyncio.Task | None = None
        self.announcing = False  # the announcer is between stopping the music and putting it back

    async def enter(self) -> None:
        call = self.call
        info = call.deps.queues.queue(self.queue)
        if call.queue_name is None:
            call.times.queued_at = call.log("queued", queue_name=self.queue, priority=self.priority)
            call.save(status="queued", queue_name=self.queue, priority=self.priority,
                      queued_at=call.times.queued_at)
        else:
            call.log("requeued", queue_name=self.queue, front=self.front)
            call.save(status="queued")
        call.queue_name, call.priority = self.queue, self.priority
        # In the queue first (an agent may be offered the call at once), then the music: the offer must not
        # wait for Asterisk's answer to the music request.
        call.deps.queues.enqueue(call, self.queue, self.priority, front=self.front)
        call.media.start_moh_soon(info.moh_class)
        interval = call.deps.settings.queue_announce_seconds
        if interval > 0:
            self.announcer = asyncio.create_task(self._announce(interval, info.moh_class))

    async def leave(self) -> None:
        if self.announcer:
            self.announcer.cancel()
            # An announcement cut mid-sentence puts the music back for the ringing time: that must be done
            # before the next state can bridge the caller, or the music would start in the conversation.
            # Between announcements the announcer only sleeps: cancelled, it touches nothing, so the offer
            # (and its screen pop) does not wait the loop's turns it takes to end.
            if self.announcing:
                await asyncio.wait([self.announcer], timeout=ANNOUNCEMENT_CUT_SECONDS)

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
            self.announcing = True
            await call.media.stop_moh()
            done = await call.media.play(["sound:callcenter/you-are-caller", f"number:{position}"])
            call.log("position_announced", position=position)
            try:
                await asyncio.shield(done)  # not done.cancel() with the task: stop_playback must still cut it
            except asyncio.CancelledError:
                # Offered or hung up mid-sentence: cut the announcement, the caller keeps hearing music.
                await call.media.stop_playback(done)
                await call.media.start_moh(moh_class, best_effort=True)
                raise
            await call.media.start_moh(moh_class)
            self.announcing = False

    async def on_Offer(self, event: Offer) -> "CallState":
        return Offering(self.call, event.agent)

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

    async def enter(self) -> "CallState | None":
        call = self.call
        call.agent = self.agent
        call.legs.agent_channel_id = self.leg_id
        call.deps.bind(self.leg_id, call)
        await call.deps.pops.offer(call, self.agent)
        call.times.offered_at = call.log("offered", agent_id=self.agent.id, queue_name=call.queue_name,
                                   endpoint_kind=self.agent.endpoint.split("/", 1)[0])
        call.save(status="offering", offered_at=call.times.offered_at)
        try:
            await call.originate_agent(self.agent, self.leg_id)
        except (AriError, AriUnavailable) as exc:
            log.warning("call %s: dialing agent %s failed: %s", call.id, self.agent.id, exc)
            return self._ring_no_answer("failed")
        return None

    async def on_StasisStart(self, event: StasisStart) -> "CallState | None":
        if event.channel.id != self.leg_id:
            return None
        return Connected(self.call, self.agent)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.leg_id:
            return None
        return self._ring_no_answer(self.call.legs.dials.outcome(self.leg_id))

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


class InCall(CallState):
    """Caller and agent are in the call's bridge: what an agent may do with a live call."""

    def fail_safe(self) -> None:
        return None  # caller and agent are talking: an error in a control must not cut them off

    def __init__(self, call: "Call", agent: "AgentRuntime"):
        super().__init__(call)
        self.agent = agent

    async def on_StasisEnd(self, event: StasisEnd) -> "CallState | None":
        channel_id = event.channel.id
        if channel_id == self.call.channel.id:
            return self.caller_gone("caller_hangup")
        if channel_id == self.call.legs.agent_channel_id:
            return self.agent_left()
        await emergency.on_leg_gone(self.call, channel_id, destroyed=False)
        return None

    async def on_StasisStart(self, event: StasisStart) -> None:
        """The emergency number answered: it joins the caller's bridge (calls/emergency.py)."""
        if emergency.is_leg(self.call, event.channel.id):
            await emergency.joined(self.call)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> None:
        await emergency.on_leg_gone(self.call, event.channel.id, destroyed=True)

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "completed", reason)

    def agent_left(self) -> "CallState":
        """The agent hung up. With the emergency service in the call, the caller stays talking to it; a caller
        the agent or the queue sends to the survey answers it (issue 17)."""
        call = self.call
        if call.legs.emergency is not None and call.legs.emergency.answered:
            return WithEmergency(call)
        if wants_survey(call):
            return Surveying(call)
        return Ended(call, "completed", "agent_hangup")

    async def do_survey(self) -> None:
        """The agent sends the caller to the survey when they hang up (the desk's flag)."""
        if not survey_possible(self.call):
            raise ControlNotAllowed("this call has no survey")
        self.call.survey_requested = True
        self.call.log("survey_requested")

    async def do_hangup(self) -> "CallState":
        return self.agent_left()

    async def do_transfer(self, mode: str, queue: str | None = None, agent: str | None = None,
                          priority: int | None = None) -> "CallState":
        call = self.call
        emergency.refuse_while_in_call(call, "transfer")
        if priority is not None and priority > call.priority:
            # A red-flag escalation: if the caller ever waits again (blind, or a failed consultation
            # that requeues), it is ahead of everyone.
            call.priority = priority
            call.save(priority=priority)
        if agent is not None:
            target = reserve_agent(call, call.deps.queues.agent(agent))
        elif mode == "warm":
            target = claim_free_agent(call, queue)
        else:
            call.deps.queues.queue(queue)  # an unknown queue is refused before the agent is dropped
            target = None
        if mode == "warm":
            return Consulting(call, self.agent, target, queue)
        await drop_agent(call, "transferred", to_queue=queue, to_agent=target.number if target else None)
        if target is not None:
            return Offering(call, target)
        call.save(queue_name=queue)
        return Queued(call, queue, call.priority, front=True)


class Connected(InCall):
    """Caller and agent talk. `fresh` is the first time (bridge, recording); otherwise a return from hold or a
    consultation, into the bridge that already exists."""
    name = "connected"

    def __init__(self, call: "Call", agent: "AgentRuntime", *, fresh: bool = True):
        super().__init__(call, agent)
        self.fresh = fresh

    async def enter(self) -> None:
        if self.fresh:
            await self._connect()
        await announce(self.call, self.agent, "connected")

    async def _connect(self) -> None:
        call = self.call
        call.deps.queues.set_state(self.agent, "on_call", call_id=call.id)
        call.times.answered_at = call.log("connected", agent_id=self.agent.id, queue_name=call.queue_name)
        call.save(status="connected", agent_id=self.agent.id, answered_at=call.times.answered_at)
        call.flavour.legs_answered(call)
        await call.media.stop_moh()
        # A call transferred blind gets a second bridge, with a fresh id: the first may still be going away.
        suffix = f"-{call.legs.bridges_used}" if call.legs.bridges_used else ""
        call.legs.bridges_used += 1
        call.legs.bridge_id = await call.deps.ari.create_bridge("call-" + call.id + suffix)
        call.deps.bind_bridge(call.legs.bridge_id, call)
        await call.deps.ari.add_to_bridge(call.legs.bridge_id, [call.channel.id, call.legs.agent_channel_id])
        await call.deps.recordings.start(call)

    async def do_conference_emergency(self, channel_id: str) -> None:
        await emergency.dial(self.call, channel_id)

    async def do_read_out(self, media: list[str], playback_id: str, complaint_id: int) -> None:
        """Read a ticket's serial to the caller while the agent stays on the line (issue 17). Not awaited
        here: the call's own task must go on to handle the PlaybackFinished that ends it."""
        call = self.call
        done = await call.media.play(media, playback_id)
        call.log("ticket_read_out", complaint_id=complaint_id, playback_id=playback_id)
        done.add_done_callback(lambda f: f.cancelled() or call.log(
            "ticket_read_out_finished", complaint_id=complaint_id, playback_id=playback_id, state=f.result()))

    async def do_hold(self) -> "CallState":
        emergency.refuse_while_in_call(self.call, "hold the caller")
        await hold_caller(self.call)
        # The agent may talk to a colleague meanwhile: the caller hears only the music.
        await self.call.deps.ari.mute(self.call.legs.agent_channel_id, "in")
        self.call.log("held")
        return Held(self.call, self.agent)


class Held(InCall):
    """The caller hears music on hold; the agent stays on the line, in the same bridge."""
    name = "held"

    async def enter(self) -> None:
        await announce(self.call, self.agent, "held")

    async def do_unhold(self) -> "CallState":
        await quietly(self.call.deps.ari.unmute(self.call.legs.agent_channel_id, "in"))
        await unhold_caller(self.call)
        self.call.log("unheld")
        return Connected(self.call, self.agent, fresh=False)


class WithEmergency(CallState):
    """The agent left after the emergency service answered: the caller and the emergency service go on
    talking in the call's bridge. When either hangs up the call ends and the other is hung up, so nobody is
    left alone on a line nobody watches."""
    name = "with_emergency"

    def fail_safe(self) -> None:
        return None  # the caller is talking to the emergency service: never cut them off

    async def enter(self) -> None:
        if self.call.agent is not None:  # None when rebuilt after a restart (calls/reconcile.py)
            await hand_over_to_emergency(self.call)

    async def on_StasisEnd(self, event: StasisEnd) -> "CallState | None":
        if event.channel.id == self.call.channel.id:
            return self.caller_gone("caller_hangup")
        return await self._emergency_gone(event.channel.id, destroyed=False)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        return await self._emergency_gone(event.channel.id, destroyed=True)

    async def _emergency_gone(self, channel_id: str, *, destroyed: bool) -> "CallState | None":
        if await emergency.on_leg_gone(self.call, channel_id, destroyed=destroyed):
            return Ended(self.call, "completed", "emergency_hangup", hangup=True)
        return None

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "completed", reason)


class Consulting(CallState):
    """Warm transfer: the caller waits on hold in the call's bridge, the agent talks with the target (a named
    agent, or the next free agent of a queue) in a bridge of their own; then complete or cancel."""
    name = "consulting"

    def fail_safe(self) -> None:
        return None  # the caller waits on hold with their agent in the call

    def __init__(self, call: "Call", agent: "AgentRuntime", target: "AgentRuntime", queue: str | None, *,
                 resumed_leg: str | None = None, answered: bool = False, bridge_id: str | None = None):
        super().__init__(call)
        self.agent, self.target, self.queue = agent, target, queue
        # `resumed_leg`: a consultation rebuilt after a controller restart (calls/reconcile.py), whose target
        # already rings or talks on that leg (in `bridge_id` once answered).
        self.resumed = resumed_leg is not None
        self.leg_id = resumed_leg or "consult-" + uuid.uuid4().hex
        self.bridge_id = bridge_id
        self.answered = answered

    async def enter(self) -> "CallState | None":
        call = self.call
        if self.resumed:
            if self.answered and self.bridge_id is None:  # the old process died before bridging them
                await self._bridge_agents()
            await announce(call, self.agent, "consulting", target=self.target.number)
            return None
        if not call.legs.on_hold:
            await hold_caller(call)
        await call.deps.ari.remove_from_bridge(call.legs.bridge_id, [call.legs.agent_channel_id])
        await quietly(call.deps.ari.unmute(call.legs.agent_channel_id, "in"))  # muted if the caller was held
        call.deps.bind(self.leg_id, call)
        call.log("transfer_started", mode="warm", from_agent=self.agent.number, to_agent=self.target.number,
                 to_queue=self.queue, consult_channel=self.leg_id)
        await announce(call, self.agent, "consulting", target=self.target.number)
        await call.deps.pops.offer(call, self.target)
        try:
            await call.originate_agent(self.target, self.leg_id)
        except (AriError, AriUnavailable) as exc:
            log.warning("call %s: dialing transfer target %s failed: %s", call.id, self.target.id, exc)
            return await self._back_to_caller("failed")
        return None

    async def leave(self) -> None:
        if self.bridge_id:
            await quietly(self.call.deps.ari.destroy_bridge(self.bridge_id))
            self.bridge_id = None

    async def on_StasisStart(self, event: StasisStart) -> None:
        if event.channel.id != self.leg_id:
            return None
        call = self.call
        self.answered = True
        call.deps.queues.set_state(self.target, "on_call", call_id=call.id)
        call.log("transfer_answered", to_agent=self.target.number)
        await self._bridge_agents()
        return None

    async def _bridge_agents(self) -> None:
        """Agent and target talk in a bridge of their own, named after the call so that a restarted
        controller finds it (`consult-<call id>-...`; a new one each time, as the last may be going away)."""
        call, ari = self.call, self.call.deps.ari
        self.bridge_id = await ari.create_bridge(f"{CONSULT_BRIDGE_PREFIX}{call.id}-{uuid.uuid4().hex[:8]}")
        await ari.add_to_bridge(self.bridge_id, [call.legs.agent_channel_id, self.leg_id])

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.leg_id:
            return None
        dials = self.call.legs.dials
        return await self._back_to_caller("hangup" if self.answered else dials.outcome(self.leg_id))

    async def on_StasisEnd(self, event: StasisEnd) -> "CallState | None":
        channel_id = event.channel.id
        if channel_id == self.call.channel.id:
            return self.caller_gone("caller_hangup")
        if channel_id == self.call.legs.agent_channel_id:
            # The first agent hung up: an answered consultation completes the transfer, as on a desk phone.
            if self.answered:
                return await self.do_complete()
            return await self._requeue()
        return None

    def caller_gone(self, reason: str) -> "CallState":
        self._release_target()
        return Ended(self.call, "completed", reason, hangup_legs=[self.leg_id])

    async def do_hangup(self) -> "CallState":
        self._release_target()
        return Ended(self.call, "completed", "agent_hangup", hangup_legs=[self.leg_id])

    async def do_complete(self) -> "CallState":
        if not self.answered:
            raise ControlNotAllowed(f"agent {self.target.number} has not answered yet")
        call = self.call
        # Out of the consultation's bridge before into the call's: both run in order on the leg's own control
        # queue in Asterisk, where destroying the bridge first ejects the leg on the bridge's side and can
        # race the add (a colleague then missing from the caller's bridge).
        if self.bridge_id:
            await quietly(call.deps.ari.remove_from_bridge(self.bridge_id, [self.leg_id]))
        await call.deps.ari.add_to_bridge(call.legs.bridge_id, [self.leg_id])
        await self.leave()
        await unhold_caller(call)
        first_leg = call.legs.agent_channel_id
        await announce(call, self.agent, "ended", reason="transferred")
        call.log("transfer_completed", mode="warm", from_agent=self.agent.number, to_agent=self.target.number)
        await quietly(call.deps.ari.hangup(first_leg))
        call.close_leg(first_leg)
        call.release_agent()
        call.agent, call.legs.agent_channel_id = self.target, self.leg_id
        call.save(agent_id=self.target.id)
        return Connected(call, self.target, fresh=False)

    async def do_cancel(self) -> "CallState":
        call = self.call
        await quietly(call.deps.ari.hangup(self.leg_id))
        call.close_leg(self.leg_id, "answered" if self.answered else "hangup")
        self._release_target()
        call.log("transfer_cancelled", to_agent=self.target.number)
        await announce(call, self.target, "ended", reason="transfer_cancelled")
        return await self._resume()

    async def _back_to_caller(self, result: str) -> "CallState":
        call = self.call
        call.close_leg(self.leg_id, "answered" if self.answered else result)
        call.log("transfer_failed", to_agent=self.target.number, result=result)
        await announce(call, self.target, "ended", reason="transfer_" + result)
        if self.answered:
            self._release_target()
        else:
            reason = "ring-no-answer" if result == "no_answer" else "phone-" + result
            call.deps.queues.set_state(self.target, "paused", reason)
        return await self._resume()

    async def _resume(self) -> "CallState":
        call = self.call
        await self.leave()
        await call.deps.ari.add_to_bridge(call.legs.bridge_id, [call.legs.agent_channel_id])
        await unhold_caller(call)
        return Connected(call, self.agent, fresh=False)

    async def _requeue(self) -> "CallState":
        call = self.call
        await quietly(call.deps.ari.hangup(self.leg_id))
        call.close_leg(self.leg_id)
        self._release_target()
        await drop_agent(call, "agent_hangup_in_consultation", to_queue=call.queue_name)
        return Queued(call, call.queue_name or "general", call.priority, front=True)

    def _release_target(self) -> None:
        target, queues = self.target, self.call.deps.queues
        if target.call_id == self.call.id and target.state in ("ringing", "on_call"):
            queues.set_state(target, "available")


class Surveying(CallState):
    """The agent hung up and the caller answers the short survey after the call (issue 17): the agent is free
    at once (wrap-up), the row is written with the agent and the queue before the first question, and each
    answer is stored as it is given, so a caller who hangs up mid-survey keeps what they answered. The call
    ends when the survey does or the caller hangs up; either way as the agent's hang-up, as without it."""
    name = "surveying"

    def __init__(self, call: "Call"):
        super().__init__(call)
        self.task: asyncio.Task | None = None

    def fail_safe(self) -> "CallState":
        return Ended(self.call, "completed", "agent_hangup", hangup=True)  # served: never back to a queue

    async def enter(self) -> None:
        call = self.call
        agent_id, queue = (call.agent.id if call.agent else None), call.queue_name
        await announce(call, call.agent, "ended", reason="agent_hangup")
        await release_agent_leg(call)
        call.ivr.clear_keys()
        call.log("survey_started", agent_id=agent_id)
        await call.deps.surveys.start(call.id, agent_id, queue)
        flow = call.deps.survey_flow
        self.task = asyncio.create_task(run_flow_on(call, flow, {"survey.queue": queue}))
        self.task.add_done_callback(lambda t: call.post(IvrDone(t)))

    async def on_IvrDone(self, event: IvrDone) -> "CallState | None":
        if event.task.cancelled():
            return None  # the caller hung up: caller_gone ended the call
        if event.task.result() is None:  # an engine error goes to the fail-safe
            return self.caller_gone("caller_hangup")  # the channel went away under a question
        self.call.log("survey_ended", complete=True)
        return Ended(self.call, "completed", "agent_hangup", hangup=True)

    def caller_gone(self, reason: str) -> "CallState":
        if self.task:
            self.task.cancel()
        self.call.log("survey_ended", complete=False, reason=reason)
        return Ended(self.call, "completed", "agent_hangup")


class Ended(CallState):
    name = "ended"

    def fail_safe(self) -> None:
        return None

    def __init__(self, call: "Call", outcome: str, reason: str, *, hangup: bool = False,
                 hangup_legs: list[str] | None = None):
        super().__init__(call)
        self.outcome, self.reason, self.hangup = outcome, reason, hangup
        self.hangup_legs = hangup_legs or []

    async def enter(self) -> None:
        await announce(self.call, self.call.agent, "ended", outcome=self.outcome, reason=self.reason)
        await self.call.finish(self.outcome, self.reason, hangup_caller=self.hangup,
                               extra_legs=self.hangup_legs)

    async def on_Offer(self, event: Offer) -> None:
        # The caller hung up just as an agent was picked: give the agent back.
        self.call.deps.queues.set_state(event.agent, "available")

    async def on_StasisEnd(self, event: StasisEnd) -> None:
        return None

    async def on_Lost(self, event: Lost) -> None:
        return None

    async def on_ChannelDtmfReceived(self, event: ChannelDtmfReceived) -> None:
        return None

    async def on_HandlerFailed(self, event: HandlerFailed) -> None:
        return None


# -- helpers of the call controls ------------------------------------------------------------------------


async def announce(call: "Call", agent: "AgentRuntime | None", state: str, **extra) -> None:
    """Tell the agent's console what became of the call (their buttons follow it)."""
    notifier = call.deps.notifier
    if notifier is None or agent is None:
        return
    await notifier.send(agent.number, {"type": "call_state", "call_id": call.id, "state": state,
                                       "direction": call.direction, **extra})


async def hold_caller(call: "Call") -> None:
    """Music to the caller, and the caller muted, so the agent can talk in the room without being heard."""
    await call.deps.ari.mute(call.channel.id, "in")
    info = call.deps.queues.queues.get(call.queue_name or "")
    await call.media.start_moh(info.moh_class if info else "default")
    call.legs.on_hold = True


async def unhold_caller(call: "Call") -> None:
    await call.media.stop_moh()
    await quietly(call.deps.ari.unmute(call.channel.id, "in"))
    call.legs.on_hold = False


async def drop_agent(call: "Call", reason: str, **where) -> None:
    """The agent leaves a call that goes on without them (blind transfer)."""
    agent = call.agent
    await announce(call, agent, "ended", reason=reason)
    call.log("transferred", mode="blind", reason=reason, from_agent=agent.number if agent else None, **where)
    await release_agent_leg(call)


async def release_agent_leg(call: "Call") -> None:
    """The agent's part of a call that goes on without them (a blind transfer, the survey after the call):
    their recording is closed, their leg hung up, the bridge taken down (the caller stays in our app), and
    the agent goes to wrap-up."""
    await _close_agent_leg(call)
    if call.legs.bridge_id:
        await quietly(call.deps.ari.destroy_bridge(call.legs.bridge_id))
    if call.legs.on_hold:
        await unhold_caller(call)
    call.release_agent()
    call.agent = call.legs.agent_channel_id = call.legs.bridge_id = None


async def hand_over_to_emergency(call: "Call") -> None:
    """The agent leaves a call the emergency service answered: their recording is closed, their leg hung up
    and they go to wrap-up; the bridge stays, with the caller and the emergency service in it."""
    agent = call.agent
    await announce(call, agent, "ended", reason="handed_to_emergency")
    call.log("emergency_handover", from_agent=agent.number)
    await _close_agent_leg(call)
    call.release_agent()
    call.agent = call.legs.agent_channel_id = None


async def _close_agent_leg(call: "Call") -> None:
    """The agent's recording closed and brought home (it is of the agent's conversation, so it ends with
    their part), and their leg hung up."""
    if call.media.recording_name:
        await call.deps.recordings.stop(call)
        call.deps.recordings.collect(call)
        call.media.recording_name = None
    if call.legs.agent_channel_id:
        await quietly(call.deps.ari.hangup(call.legs.agent_channel_id))
        call.close_leg(call.legs.agent_channel_id)


def survey_possible(call: "Call") -> bool:
    """An inbound call whose flow actions can store the answers, with a survey flow wired (main.py)."""
    deps = call.deps
    return (call.direction == "inbound" and call.flavour.actions is not None
            and deps.survey_flow is not None and deps.surveys is not None)


def wants_survey(call: "Call") -> bool:
    """The agent asked for it (do_survey), or the call's queue surveys every caller."""
    if not survey_possible(call):
        return False
    info = call.deps.queues.queues.get(call.queue_name or "")
    return call.survey_requested or bool(info is not None and info.post_call_survey)


def reserve_agent(call: "Call", target: "AgentRuntime") -> "AgentRuntime":
    """The target rings now: marking them at once keeps the queue from offering them another caller."""
    if target is call.agent or target.state != "available":
        raise TargetUnavailable(f"agent {target.number} is not available ({target.state})")
    call.deps.queues.set_state(target, "ringing", call_id=call.id)
    return target


def claim_free_agent(call: "Call", queue: str | None) -> "AgentRuntime":
    """The queue's next free agent as the queue service chooses (the skill, the caller's language, longest
    idle; not the agent already in the call), reserved for this call at once."""
    target = call.deps.queues.claim_agent(queue or "", call.language, call.id, exclude=call.agent)
    if target is None:
        raise TargetUnavailable(f"no agent of queue {queue!r} is free")
    return target


"""A patient call: its channels, its current state, and the task that feeds it its events in order.

One `Call` class serves every kind of call: what differs between an inbound, a click-to-dial and a campaign
call is its flavour (flavour.py), a small strategy object the call holds."""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..ari.client import AriClient, AriError, AriNotFound, AriUnavailable, quietly
from ..ari.events import DialOutcomes, Event
from ..ari.models import Channel
from ..config import TelephonyConfig
from ..db.models import Call as CallRow
from ..db.models import CallLeg
from ..eventlog import EventLog, utcnow
from ..ivr.flow import Flow
from ..phones import CallerNumber, normalize
from . import state as states
from .events import Offer
from .flavour import ActionRunner, CallFlavour, Inbound

if TYPE_CHECKING:
    from ..queues.services import QueueService
    from ..recording.services import RecordingService
    from ..screenpop.notifier import AgentNotifier
    from ..screenpop.services import ScreenPopService
    from ..selfservice.survey import SurveyStore

log = logging.getLogger(__name__)
CALLS, LEGS = CallRow.__table__, CallLeg.__table__


@dataclass
class CallDeps:
    """What a call needs from the rest of the system; built once in main.py."""
    ari: AriClient
    events: EventLog
    queues: "QueueService"
    pops: "ScreenPopService"
    recordings: "RecordingService"
    settings: TelephonyConfig
    bind: Callable[[str, "Call"], None]
    bind_bridge: Callable[[str, "Call"], None]
    forget: Callable[["Call"], None]
    wrapup_seconds: float = 0.0
    notifier: "AgentNotifier | None" = None  # call_state messages to agents' consoles (call controls)
    # Told when an emergency leg answers or fails (calls/emergency.py); the red-flag escalations listen.
    emergency_listeners: list = field(default_factory=list)
    # The self-service runner an inbound call's flow actions use (selfservice/actions.py): call -> runner.
    inbound_actions: Callable[["Call"], ActionRunner] | None = None
    # The survey after an inbound call (issue 17): its flow and the store of its rows (selfservice/survey.py).
    survey_flow: Flow | None = None
    surveys: "SurveyStore | None" = None


@dataclass
class CallLegs:
    """The call's channels besides the caller's (`Call.channel`) and the bridge that joins them."""
    agent_channel_id: str | None = None  # the agent's leg while it rings or talks
    bridge_id: str | None = None         # the bridge of caller and agent (recorded)
    bridges_used: int = 0                # bridges made so far: each one after the first gets a new name
    emergency: Any = None  # the emergency number's leg while it rings or is in the call (emergency.py)
    on_hold: bool = False  # the caller hears music, muted, while the agent's leg stays in the bridge
    dials: DialOutcomes = field(default_factory=DialOutcomes)  # how the legs it dialed ended (Dial events)

    def others(self) -> list[str]:
        """The agent's and the emergency number's legs that ring or talk: every channel but the caller's."""
        emergency = self.emergency.channel_id if self.emergency is not None else None
        return [channel_id for channel_id in (self.agent_channel_id, emergency) if channel_id]


@dataclass
class CallTimes:
    """When the call reached each step (the call row's columns of the same names)."""
    started_at: datetime = field(default_factory=utcnow)
    queued_at: datetime | None = None
    offered_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass
class CallIvr:
    """What the caller pressed and chose: keys the IVR has not read yet (type-ahead: pressed during a prompt,
    or while queued) and the menu choices made (`path`, the row's `ivr_path`: shown in the pop, read by the
    triage suggestions and by a campaign attempt's keys). The IVR's view of the call (ivr.py) fills both."""
    keys: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    path: list[dict] = field(default_factory=list)

    def clear_keys(self) -> None:
        """Forget the keys typed so far: those pressed in the conversation answer nothing that comes."""
        while not self.keys.empty():
            self.keys.get_nowait()


class CallMedia:
    """What the caller hears from us and what is recorded: prompts played to the caller's channel (each
    awaited through a future that Asterisk's PlaybackFinished settles), the queue's music on hold, and the
    name of the recording of the conversation."""

    def __init__(self, call: "Call"):
        self._call = call  # its caller's channel and language, read at each play: the language changes
        self.recording_name: str | None = None
        self._playbacks: dict[str, asyncio.Future] = {}
        self._moh_on = False
        self._moh_starting: asyncio.Task | None = None  # a start_moh_soon() not yet known to be done

    @property
    def _ari(self) -> AriClient:
        return self._call.deps.ari

    def pending_playbacks(self) -> list[str]:
        return list(self._playbacks)

    async def play(self, media: list[str], playback_id: str | None = None) -> asyncio.Future:
        """Play to the caller's channel (also while bridged with an agent); the future gets the playback's
        end state (done, or failed for a missing sound) when Asterisk reports it finished."""
        call = self._call
        playback_id = playback_id or uuid.uuid4().hex
        done = asyncio.get_running_loop().create_future()
        self._playbacks[playback_id] = done
        try:
            await self._ari.play(call.channel.id, media, lang=call.language, playback_id=playback_id)
        except Exception:
            self._playbacks.pop(playback_id, None)
            raise
        done.playback_id = playback_id  # type: ignore[attr-defined]
        return done

    async def stop_playback(self, done: asyncio.Future) -> None:
        if not done.done():
            await quietly(self._ari.stop_playback(done.playback_id))  # type: ignore[attr-defined]

    def playback_finished(self, playback_id: str, state: str = "done") -> None:
        done = self._playbacks.pop(playback_id, None)
        if done is not None and not done.done():
            done.set_result(state)

    def cancel_playbacks(self) -> None:
        """The call ended: nobody waits for a prompt any more."""
        for pending in self._playbacks.values():
            pending.cancel()

    async def start_moh(self, moh_class: str, *, best_effort: bool = False) -> None:
        try:
            await self._ari.start_moh(self._call.channel.id, moh_class)
        except (AriError, AriUnavailable) as exc:
            if not best_effort:
                raise
            log.info("call %s: music on hold did not start: %s", self._call.id, exc)
            return  # not on: nothing for stop_moh() to undo
        self._moh_on = True

    def start_moh_soon(self, moh_class: str) -> None:
        """Music for the caller without waiting for Asterisk's answer (a queued caller is offered to an agent
        at once, not a round trip later). A stop_moh() before it is sent means no music at all."""
        self._moh_starting = asyncio.create_task(self._start_moh_unless_stopped(moh_class))

    async def _start_moh_unless_stopped(self, moh_class: str) -> None:
        if self._moh_starting is asyncio.current_task():
            await self.start_moh(moh_class, best_effort=True)

    async def stop_moh(self) -> None:
        starting, self._moh_starting = self._moh_starting, None
        if starting is not None and not starting.done():
            # A start already on its way to Asterisk completes first, so that the stop below undoes it.
            await asyncio.wait([starting])
        if self._moh_on:
            await quietly(self._ari.stop_moh(self._call.channel.id))
            self._moh_on = False


class Call:
    """One patient call. Its parts: `legs` (the agent's and emergency legs, the bridge), `media` (prompts,
    music, recording), `times` (when it reached each step), `ivr` (what the caller pressed and chose). Its
    `state` handles the events its task takes from the inbox, in order."""

    def __init__(self, deps: CallDeps, channel: Channel, flow: Flow, *, flavour: CallFlavour | None = None,
                 call_id: str | None = None):
        self.id = call_id or uuid.uuid4().hex
        self.deps = deps
        self.flavour: CallFlavour = flavour if flavour is not None else self._inbound(deps)
        self.channel = channel  # the caller's leg (a campaign's patient)
        self.flow = flow
        self.caller: CallerNumber = normalize(channel.caller_number, deps.settings.default_region)
        self.language = flow.default_language
        self.patients: list[dict] = []
        # Where the call waits or waited, and the agent it is offered to or talks with
        self.queue_name: str | None = None
        self.priority = 0
        self.agent = None
        self.legs = CallLegs()
        self.media = CallMedia(self)
        self.times = CallTimes()
        self.ivr = CallIvr()
        self.survey_requested = False  # the agent sends the caller to the survey when they hang up
        # How it ended. `lost_in` is set when Asterisk says it is shutting down: the call then ends as lost in
        # the restart, whichever leg's hang-up reaches it first (not as a caller's or an agent's hang-up).
        self.lost_in: str | None = None
        self.outcome: str | None = None
        self.ended = asyncio.Event()
        # Its task, and the events it takes in order
        self.state: states.CallState = states.Answering(self)
        self.task: asyncio.Task | None = None
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._teardowns: set[asyncio.Task] = set()

    def _inbound(self, deps: CallDeps) -> Inbound:
        return Inbound(deps.inbound_actions(self) if deps.inbound_actions is not None else None)

    @property
    def direction(self) -> str:
        return self.flavour.direction

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self, initial: Callable[["Call"], states.CallState] | None = None) -> None:
        """Start handling the call; `initial` builds another first state (e.g. a click-to-dial call's)."""
        self.deps.bind(self.channel.id, self)
        self.flavour.write_start(self)
        if initial is not None:
            self.state = initial(self)
        self.task = asyncio.create_task(self._run(), name=f"call-{self.id}")

    def resume(self, initial: Callable[["Call"], states.CallState]) -> None:
        """Handle again a call whose controller died while Asterisk kept its channels (calls/reconcile.py):
        its row exists (restore() read it), so none is written; its channels and bridge are bound again."""
        for channel_id in [self.channel.id, *self.legs.others()]:
            self.deps.bind(channel_id, self)
        if self.legs.bridge_id:
            self.deps.bind_bridge(self.legs.bridge_id, self)
        self.state = initial(self)
        self.task = asyncio.create_task(self._run(), name=f"call-{self.id}")

    def restore(self, row: CallRow) -> None:
        """What the call's row knows, for a call rebuilt after a restart."""
        self.priority, self.language = row.priority, row.language or self.language
        self.queue_name = row.queue_name
        self.times = CallTimes(row.started_at, row.queued_at, row.offered_at, row.answered_at)
        self.ivr.path = list(row.ivr_path or [])

    def post(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def offer(self, agent) -> None:
        """Called by the queue service when it picks an agent; handled in order with the call's events."""
        self.post(Offer(agent))

    async def _run(self) -> None:
        try:
            await self._enter(self.state)
            while not self.ended.is_set():
                event = await self._inbox.get()
                await self._step(self.state.handle, event)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Even the fail-safe failed (a state's leave(), the database): hang up rather than leave the
            # caller in silence with nobody handling their events.
            log.exception("call %s (channel %s): failed beyond the fail-safe in state %s; hanging up",
                          self.id, self.channel.id, self.state.name)
            await self._last_resort()

    async def _last_resort(self) -> None:
        for channel_id in [*self.legs.others(), self.channel.id]:
            await quietly(self.deps.ari.hangup(channel_id))
        self.deps.queues.remove(self)
        self.deps.forget(self)
        self.ended.set()

    async def _step(self, handler, *args) -> None:
        try:
            nxt = await handler(*args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s (channel %s): %s failed in state %s", self.id, self.channel.id,
                          getattr(handler, "__name__", handler), self.state.name)
            nxt = self._fail_safe()
        if nxt is not None:
            await self._enter(nxt)

    async def _enter(self, nxt: states.CallState) -> None:
        while nxt is not None:
            if nxt is not self.state:
                await self.state.leave()
            self.log("state", state=nxt.name)
            self.state = nxt
            try:
                nxt = await nxt.enter()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("call %s (channel %s): entering %s failed", self.id, self.channel.id,
                              nxt.name if nxt else self.state.name)
                nxt = None if await self._caller_gone() else self._fail_safe()

    async def _caller_gone(self) -> bool:
        """The caller hung up under us: the StasisEnd waiting in the inbox ends the call. Sending them to a
        queue instead would fail the same way, again and again, and the call would never end."""
        try:
            await self.deps.ari.channel(self.channel.id)
        except AriNotFound:
            return True
        except (AriError, AriUnavailable):
            return False
        return False

    def _fail_safe(self) -> states.CallState | None:
        """Never leave a caller in silence: the current state says where an unexpected error takes them."""
        return self.state.fail_safe()

    def requeue_after_failure(self) -> states.CallState:
        """The usual fail-safe: the caller goes to the front of a human queue (theirs, else a general one)."""
        self.deps.queues.remove(self)
        if self.agent is not None:
            self.deps.queues.set_state(self.agent, "available")
            self.agent = None
        if self.legs.agent_channel_id:
            # the agent's phone must not ring or sit in silence
            self._hang_up_later(self.legs.agent_channel_id)
            self.legs.agent_channel_id = None
        self.log("fail_safe", from_state=self.state.name)
        fallback = "general" if "general" in self.deps.queues.queues else next(iter(self.deps.queues.queues))
        return states.Queued(self, self.queue_name or fallback, self.priority, front=True)

    def _hang_up_later(self, channel_id: str) -> None:
        """A hang-up from synchronous code (the fail-safe decides the next state without awaiting)."""
        self.close_leg(channel_id)
        task = asyncio.get_running_loop().create_task(quietly(self.deps.ari.hangup(channel_id)))
        self._teardowns.add(task)
        task.add_done_callback(self._teardowns.discard)

    # -- helpers used by the states ------------------------------------------------------------------------

    def log(self, type_: str, **data) -> datetime:
        agent_id = data.pop("agent_id", self.agent.id if self.agent else None)
        queue_name = data.pop("queue_name", self.queue_name)
        return self.deps.events.event(self.id, type_, agent_id=agent_id, queue_name=queue_name, **data)

    def save(self, **values) -> None:
        self.deps.events.update(CALLS, {"id": self.id}, **values)

    def insert_rows(self, row: dict, legs: list[dict]) -> None:
        """The call's row and its first legs, written once as the call starts (its flavour says what they
        hold: flavour.py)."""
        self.deps.events.insert(CALLS, **row)
        for leg in legs:
            self.deps.events.insert(LEGS, **leg)

    async def identify_caller(self) -> None:
        self.patients = await self.deps.pops.lookup(self.caller)
        ids = [p["id"] for p in self.patients]
        self.save(candidate_patient_ids=ids, patient_id=ids[0] if len(ids) == 1 else None)
        self.log("caller_identified", caller_status=self.caller.status, candidates=len(ids),
                 patient_id=ids[0] if len(ids) == 1 else None)

    async def originate_agent(self, agent, leg_id: str) -> None:
        settings = self.deps.settings
        leg = dict(call_id=self.id, channel_id=leg_id, role="agent", agent_id=agent.id,
                   endpoint=agent.endpoint, started_at=utcnow())
        self.deps.events.insert(LEGS, **leg)
        caller_id = f'"Hotline {self.queue_name}" <{self.caller.e164 or "anonymous"}>'
        await self.deps.ari.originate(
            agent.endpoint, channel_id=leg_id, app=self.deps.ari.app, app_args=f"agent,{self.id}",
            caller_id=caller_id, timeout=settings.agent_ring_timeout, formats=settings.channel_formats)

    def mark_answered(self, *channel_ids: str) -> None:
        """These legs were answered now."""
        now = utcnow()
        for channel_id in channel_ids:
            self.deps.events.update(LEGS, {"channel_id": channel_id}, answered_at=now, outcome="answered")

    def close_leg(self, channel_id: str, outcome: str | None = None) -> None:
        """The leg ended now, unless it was closed already (the first close says how it ended)."""
        values = {"ended_at": utcnow()} | ({"outcome": outcome} if outcome else {})
        self.deps.events.update(LEGS, {"channel_id": channel_id}, unset=("ended_at",), **values)

    async def finish(self, outcome: str, reason: str, *, hangup_caller: bool, extra_legs: list[str]) -> None:
        """Everything that must happen exactly once when a call ends, whatever ended it."""
        await self.flavour.ending(self)
        if self.lost_in and reason in ("caller_hangup", "agent_hangup"):
            reason = "lost_" + self.lost_in
        self.outcome = outcome
        self.deps.queues.remove(self)
        # No explicit stop of the recording: destroying the bridge below ends it (and Asterisk then reports
        # RecordingFinished, which collect() waits for), one round trip less per call.
        # An emergency leg never stays up without its caller.
        legs = list(extra_legs) + self.legs.others()
        if hangup_caller or reason != "caller_hangup":
            legs.append(self.channel.id)
        for channel_id in dict.fromkeys(legs):
            await quietly(self.deps.ari.hangup(channel_id))
            self.close_leg(channel_id)
        self.close_leg(self.channel.id)
        if self.legs.bridge_id:
            await quietly(self.deps.ari.destroy_bridge(self.legs.bridge_id))
        self.release_agent()
        ended_at = self.log("ended", outcome=outcome, reason=reason)
        self.save(status="ended", outcome=outcome, end_reason=reason, ended_at=ended_at,
                  hangup_cause=self.lost_in)
        if self.legs.bridge_id:
            self.deps.recordings.collect(self)
        self.media.cancel_playbacks()
        self.deps.forget(self)
        self.ended.set()

    def release_agent(self) -> None:
        """The agent's part of the call is over: wrap-up if they talked, else straight back to available."""
        agent, queues = self.agent, self.deps.queues
        if agent is None or agent.call_id != self.id:
            return
        if agent.state != "on_call":
            queues.set_state(agent, "available")
            return
        queues.set_state(agent, "wrapup", call_id=self.id)
        delay = self.deps.wrapup_seconds
        call_id = self.id

        def back_to_work() -> None:
            if agent.state == "wrapup" and agent.call_id == call_id:
                queues.set_state(agent, "available")
        asyncio.get_running_loop().call_later(delay, back_to_work)



"""ARI events in, routed to the call they belong to. Reconciliation after a (re)connect: calls/reconcile.py.

Routing is by channel id (caller and agent legs), by playback target, and by bridge for recording events.
Each call handles its own events in order on its own task, so one slow call never holds up another.

The router is the guard at the entry point: whatever a handler raises is logged with the call and channel
ids and the caller is put somewhere safe; it never reaches the ARI client, whose one websocket carries the
events of every call.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..ari.client import quietly
from ..ari.events import (
    ApplicationReplaced,
    Event,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisStart,
)
from ..ari.models import Channel
from ..db.database import Database
from ..ivr.flow import Flow
from ..ivr.presets import checked
from ..logs import start_in_call_context
from . import state as states
from .events import HandlerFailed
from .reconcile import Reconciler
from .services import Call, CallDeps

log = logging.getLogger(__name__)

RoleHandler = Callable[[StasisStart], Awaitable[None]]


class CallRouter:
    def __init__(self, db: Database, flows: dict[str, Flow]):
        self._db = db
        self._flows = flows
        self.deps: CallDeps | None = None  # set by main.py once every service exists
        self._calls: dict[str, Call] = {}
        self._by_channel: dict[str, Any] = {}  # a Call, or a feature's session (supervision) with post()
        self._by_bridge: dict[str, Call] = {}
        self._roles: dict[str, RoleHandler] = {}

    # -- the public API: starting, finding, roles ----------------------------------------------------------

    def register_role(self, role: str, handler: RoleHandler) -> None:
        """Channels entering the app with `Stasis(app,ROLE,...)` / appArgs `ROLE,...` go to `handler`.

        Features with channels of their own (supervisor snoops, consultation legs, outbound calls) plug in
        here instead of growing this router.
        """
        if role in self._roles or role in ("inbound", "agent"):
            raise ValueError(f"role {role!r} is already handled")
        self._roles[role] = handler

    def start_call(self, call: Call, initial: Callable[[Call], states.CallState] | None = None) -> Call:
        """Any call (inbound, click-to-dial, campaign): known by id from now on, then started."""
        self._calls[call.id] = call
        try:
            # Its task logs under its ids.
            start_in_call_context(call.id, call.channel.id, call.start, initial)
        except Exception:
            self.forget(call)  # a call that never ran must not catch events nobody would handle
            raise
        return call

    def start_inbound(self, channel: Channel, flow_name: str = "hotline",
                      initial: Callable[[Call], states.CallState] | None = None) -> Call:
        """A caller's channel in our app becomes a new call (a new call row) running `flow_name`."""
        return self.start_call(Call(self.deps, channel, self.flow(flow_name)), initial)

    def resume_call(self, call: Call, initial: Callable[[Call], states.CallState]) -> None:
        """A call rebuilt from its row after a restart, under the same id: no new row, so it counts once."""
        self._calls[call.id] = call
        start_in_call_context(call.id, call.channel.id, call.resume, initial)

    def flow(self, name: str) -> Flow:
        """The IVR flow of that name (the hotline's if there is none)."""
        return self._flows.get(name) or self._flows["hotline"]

    def handles_role(self, role: str) -> bool:
        """A feature's own role (supervisor phones, snoops, outbound legs): not a caller."""
        return role in self._roles

    def find(self, call_id: str | None) -> Call | None:
        """The live call with this id, or None (an ended call is forgotten)."""
        return self._calls.get(call_id or "")

    def find_by_channel(self, channel_id: str | None) -> Any | None:
        """Whoever owns this channel: a call, or a feature's session (a supervisor's monitoring)."""
        return self._by_channel.get(channel_id or "")

    def live_calls(self) -> list[Call]:
        return list(self._calls.values())

    async def to_call(self, start: StasisStart, what: str = "channel") -> Call | None:
        """A feature's channel entered as `ROLE,<call id>,...`: hand it to that call, or hang it up when the
        call is gone (a leg answering after its call ended must not stay in silence)."""
        call = self.find(start.call_id)
        if call is None or call.ended.is_set():
            log.warning("%s %s entered for a call that is gone; hanging up", what, start.channel.id)
            await quietly(self.deps.ari.hangup(start.channel.id))
            return None
        call.post(start)
        return call

    # -- wiring used by calls ----------------------------------------------------------------------------

    def bind(self, channel_id: str, call: Any) -> None:
        self._by_channel[channel_id] = call

    def bind_bridge(self, bridge_id: str, call: Call) -> None:
        self._by_bridge[bridge_id] = call

    def forget(self, call: Any) -> None:
        self._calls.pop(call.id, None)
        for table in (self._by_channel, self._by_bridge):
            for key in [k for k, v in table.items() if v is call]:
                del table[key]

    # -- events ------------------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        try:
            await self._route(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            owner = self._owner(event)
            log.exception("call %s: handling %s on channel %s failed; putting the caller somewhere safe",
                          getattr(owner, "id", None), event.type, event.channel_id)
            await self._fail_safe(event, owner)

    def _owner(self, event: Event) -> Any | None:
        if isinstance(event, StasisStart) and self.find(event.call_id) is not None:
            return self.find(event.call_id)
        return self.find_by_channel(event.channel_id)

    async def _fail_safe(self, event: Event, owner: Any | None) -> None:
        """The owner of the event decides where its caller goes (a queue, or hang-up when there is no caller
        to queue); a channel that entered our app and that nobody owns is hung up, never left in silence."""
        try:
            if owner is not None:
                owner.post(HandlerFailed(event.type, event.channel_id))
            elif isinstance(event, StasisStart):
                await quietly(self.deps.ari.hangup(event.channel.id))
        except Exception:
            log.exception("fail-safe for %s on channel %s failed", event.type, event.channel_id)

    async def _route(self, event: Event) -> None:
        if isinstance(event, StasisStart):
            await self._stasis_start(event)
        elif isinstance(event, ApplicationReplaced):
            log.error("another process registered our ARI application; calls will go there")
        elif isinstance(event, (RecordingStarted, RecordingFinished, RecordingFailed)):
            self._route_recording(event)
        else:
            owner = self.find_by_channel(event.channel_id)
            if owner is not None:
                owner.post(event)

    async def _stasis_start(self, start: StasisStart) -> None:
        if start.role in self._roles:
            await self._roles[start.role](start)
        elif start.role == "agent":
            call = self.find_by_channel(start.channel.id)
            if call is None:
                log.warning("agent channel %s answered for a call that is gone; hanging up", start.channel.id)
                await quietly(self.deps.ari.hangup(start.channel.id))
            else:
                call.post(start)
        elif start.role == "inbound":
            self._start_inbound(start)
        else:
            log.warning("channel %s entered with unknown role %r; hanging up", start.channel.id, start.role)
            await quietly(self.deps.ari.hangup(start.channel.id))

    def _start_inbound(self, start: StasisStart) -> None:
        """`inbound[,<flow>[,MENU=KEY...]]`: the choices a dialplan already made (ivr/presets.py) are taken
        when they fit the flow; the others are logged and the caller asked those menus as usual."""
        flow_name = start.args[1] if len(start.args) > 1 else "hotline"
        presets, problems = checked(self.flow(flow_name), start.args[2:])
        for problem in problems:
            log.warning("channel %s entered with a choice the flow lacks: %s", start.channel.id, problem)
        initial = functools.partial(states.Answering, presets=presets) if presets else None
        self.start_inbound(start.channel, flow_name, initial)

    def _route_recording(self, event: RecordingStarted) -> None:
        # Also when the call is already gone: the recording service waits for the file to be complete.
        call = self._by_bridge.get(event.bridge_id or "")
        self.deps.recordings.on_event(call, event)

    # -- reconciliation (calls/reconcile.py) ---------------------------------------------------------------

    async def reconcile(self) -> None:
        """After a (re)connect: match what we believe against the channels Asterisk really has."""
        await Reconciler(self, self._db).run()

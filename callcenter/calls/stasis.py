"""ARI events in, routed to the call they belong to. Reconciliation after a (re)connect: calls/reconcile.py.

Routing is by channel id (caller and agent legs), by playback target, and by bridge for recording events.
Each call handles its own events in order on its own task, so one slow call never holds up another.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..ari.models import Channel, StasisStart, event_channel_id
from ..db.database import Database
from ..ivr.flow import Flow
from ..logs import start_in_call_context
from .reconcile import Reconciler
from .services import Call, CallDeps, _quietly

log = logging.getLogger(__name__)

RoleHandler = Callable[[StasisStart, dict], Awaitable[None]]


class CallRouter:
    def __init__(self, db: Database, flows: dict[str, Flow]):
        self._db = db
        self._flows = flows
        self.deps: CallDeps | None = None  # set by main.py once every service exists
        self.calls: dict[str, Call] = {}
        self._by_channel: dict[str, Call] = {}
        self._by_bridge: dict[str, Call] = {}
        self._roles: dict[str, RoleHandler] = {}

    def register_role(self, role: str, handler: "RoleHandler") -> None:
        """Channels entering the app with `Stasis(app,ROLE,...)` / appArgs `ROLE,...` go to `handler`.

        Features with channels of their own (supervisor snoops, consultation legs, outbound calls) plug in
        here instead of growing this router.
        """
        if role in self._roles or role in ("inbound", "agent"):
            raise ValueError(f"role {role!r} is already handled")
        self._roles[role] = handler

    # -- wiring used by calls ----------------------------------------------------------------------------

    def bind(self, channel_id: str, call: Call) -> None:
        self._by_channel[channel_id] = call

    def bind_bridge(self, bridge_id: str, call: Call) -> None:
        self._by_bridge[bridge_id] = call

    def forget(self, call: Call) -> None:
        self.calls.pop(call.id, None)
        for table in (self._by_channel, self._by_bridge):
            for key in [k for k, v in table.items() if v is call]:
                del table[key]

    # -- events ------------------------------------------------------------------------------------------

    async def on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "StasisStart":
            await self._stasis_start(event)
        elif kind == "ApplicationReplaced":
            log.error("another process registered our ARI application; calls will go there")
        elif kind in ("RecordingFinished", "RecordingFailed", "RecordingStarted"):
            self._route_recording(event)
        else:
            call = self._by_channel.get(event_channel_id(event) or "")
            if call is not None:
                call.post(event)

    async def _stasis_start(self, event: dict) -> None:
        start = StasisStart.from_event(event)
        if start.role in self._roles:
            await self._roles[start.role](start, event)
        elif start.role == "agent":
            call = self._by_channel.get(start.channel.id)
            if call is None:
                log.warning("agent channel %s answered for a call that is gone; hanging up", start.channel.id)
                await _quietly(self.deps.ari.hangup(start.channel.id))
            else:
                call.post(event)
        elif start.role == "inbound":
            self._new_call(start.channel, start.args[1] if len(start.args) > 1 else "hotline")
        else:
            log.warning("channel %s entered with unknown role %r; hanging up", start.channel.id, start.role)
            await _quietly(self.deps.ari.hangup(start.channel.id))

    def _new_call(self, channel: Channel, flow_name: str, initial=None) -> Call:
        call = Call(self.deps, channel, self.flow(flow_name))
        self.calls[call.id] = call
        start_in_call_context(call.id, channel.id, call.start, initial)  # its task logs under its ids
        return call

    def _route_recording(self, event: dict) -> None:
        target = event.get("recording", {}).get("target_uri", "")
        # Also when the call is already gone: the recording service waits for the file to be complete.
        call = self._by_bridge.get(target.split(":", 1)[-1])
        self.deps.recordings.on_event(call, event)

    # -- reconciliation (calls/reconcile.py) ---------------------------------------------------------------

    async def reconcile(self) -> None:
        """After a (re)connect: match what we believe against the channels Asterisk really has."""
        await Reconciler(self, self._db).run()

    # -- what reconciliation needs from the router ---------------------------------------------------------

    def call_for_channel(self, channel_id: str) -> Call | None:
        return self._by_channel.get(channel_id)

    def handles_role(self, role: str) -> bool:
        """A feature's own role (supervisor phones, snoops, outbound legs): not a caller."""
        return role in self._roles

    def flow(self, name: str) -> Flow:
        return self._flows.get(name) or self._flows["hotline"]

    def start_call(self, channel: Channel, flow_name: str, initial=None) -> Call:
        """A new inbound call on `channel` (a new call row); `initial` builds another first state."""
        return self._new_call(channel, flow_name, initial)

    def resume_call(self, call: Call, initial) -> None:
        """A call rebuilt from its row after a restart, under the same id: no new row, so it counts once."""
        self.calls[call.id] = call
        start_in_call_context(call.id, call.channel.id, call.resume, initial)

"""ARI events in, routed to the call they belong to. Also reconciliation after a (re)connect.

Routing is by channel id (caller and agent legs), by playback target, and by bridge for recording events.
Each call handles its own events in order on its own task, so one slow call never holds up another.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..ari.models import Channel, StasisStart, event_channel_id
from ..db.database import Database
from ..db.models import Call as CallRow
from ..db.models import CallEvent
from ..eventlog import utcnow
from ..ivr.flow import Flow
from . import state as states
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
        flow = self._flows.get(flow_name) or self._flows["hotline"]
        call = Call(self.deps, channel, flow)
        self.calls[call.id] = call
        call.start(initial)
        return call

    def _route_recording(self, event: dict) -> None:
        target = event.get("recording", {}).get("target_uri", "")
        # Also when the call is already gone: the recording service waits for the file to be complete.
        call = self._by_bridge.get(target.split(":", 1)[-1])
        self.deps.recordings.on_event(call, event)

    # -- reconciliation ----------------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """After a (re)connect: match what we believe against the channels Asterisk really has.

        Calls whose channels vanished while we were away are ended ('lost'); channels in our app that no call
        owns (we restarted while Asterisk kept them) are adopted and sent to a human queue, so no caller is
        left in silence; stray agent legs are hung up, because their caller will be offered again.
        """
        live = {c.id: c for c in await self.deps.ari.channels()}
        for call in list(self.calls.values()):
            if call.channel.id not in live:
                call.post({"type": "Lost", "reason": "asterisk_restart"})
            elif call.agent_channel_id and call.agent_channel_id not in live:
                call.post({"type": "ChannelDestroyed", "channel": {"id": call.agent_channel_id}, "cause": 0})
        known = set(self._by_channel)
        for channel in live.values():
            if channel.id in known or not channel.in_stasis_app(self.deps.ari.app):
                continue
            await self._adopt(channel)
        await self._db.run(_end_lost_calls, set(live), set(self.calls), utcnow())

    async def _adopt(self, channel: Channel) -> None:
        args = channel.dialplan_app_data.split(",")
        # Agent phones: a queue offer or consultation ("agent"), or the agent's leg of a click-to-dial call.
        role = args[1] if len(args) > 1 else ""
        if role == "agent" or (role == "outbound" and channel.id.startswith("agent-")):
            log.info("hanging up orphan agent leg %s", channel.id)
            await _quietly(self.deps.ari.hangup(channel.id))
            return
        if len(args) > 1 and args[1] in self._roles:
            # A feature's own channel (a supervisor's phone or snoop) whose session died with the old
            # process: it is no caller, so it must never be queued as one.
            log.info("hanging up orphan %s channel %s", args[1], channel.id)
            await _quietly(self.deps.ari.hangup(channel.id))
            return
        previous = await self._db.run(_previous_queue, channel.id)
        queue = previous if previous in self.deps.queues.queues else "general"
        log.info("adopting orphan caller channel %s into queue %s", channel.id, queue)
        call = self._new_call(channel, args[2] if len(args) > 2 else "hotline",
                              initial=lambda c: states.Queued(c, queue, 0, front=True))
        call.log("adopted", previous_queue=previous)
        await self._db.run(_retire_adopted_rows, channel.id, call.id, utcnow())


def _previous_queue(session: Session, channel_id: str) -> str | None:
    return session.scalar(select(CallRow.queue_name).where(CallRow.channel_id == channel_id)
                          .order_by(CallRow.started_at.desc()).limit(1))


def _retire_adopted_rows(session: Session, channel_id: str, new_call_id: str, now) -> None:
    """The rows written before a restart for a channel now adopted describe the same caller: end them as
    'adopted' (pointing at the new call), or a later reconnect would end them as lost and the reports would
    count one caller twice, once as a false abandon."""
    rows = session.scalars(select(CallRow).where(CallRow.channel_id == channel_id, CallRow.id != new_call_id,
                                                 CallRow.status != "ended")).all()
    for row in rows:
        session.execute(update(CallRow).where(CallRow.id == row.id).values(
            status="ended", outcome="adopted", end_reason="adopted", ended_at=now))
        session.add(CallEvent(call_id=row.id, ts=now, type="ended", queue_name=row.queue_name,
                              data={"outcome": "adopted", "reason": "controller_restart",
                                    "adopted_by": new_call_id}))


def _end_lost_calls(session: Session, live_channels: set[str], active_call_ids: set[str], now) -> None:
    """Calls the database still thinks are active, that no running call object owns, and whose channel is gone."""
    rows = session.scalars(select(CallRow).where(CallRow.status != "ended")).all()
    for row in rows:
        if row.id in active_call_ids or row.channel_id in live_channels:
            continue
        outcome = "abandoned" if row.status in ("queued", "offering") else (
            "completed" if row.status == "connected" else "ivr_hangup")
        session.execute(update(CallRow).where(CallRow.id == row.id).values(
            status="ended", outcome=outcome, end_reason="lost", ended_at=now))
        session.add(CallEvent(call_id=row.id, ts=now, type="ended", queue_name=row.queue_name,
                              data={"outcome": outcome, "reason": "lost"}))

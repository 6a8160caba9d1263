"""One class per state of a monitoring session. A handler returns the next state, or None to stay.

    Dialing ──supervisor answers──► Snooping (listen, whisper) ──snoop in Stasis──► Monitoring ──► Ended
            └─────────────────────► Barging (barge) ─────────────────────────────►┘

Any state ends on: stop(), the monitored call ending, the supervisor's leg or the snoop going away. Only the
session's own channels are ever hung up: whatever happens here, the patient's call goes on.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..ari.events import ChannelDestroyed, Dial, Event, StasisEnd, StasisStart
from ..calls.events import HandlerFailed
from .events import CallEnded, SnoopTimeout, Stop

if TYPE_CHECKING:
    from .services import MonitorSession

# Snoop directions are seen from the agent's channel: `in` is what the agent says, `out` what the agent hears.
# listen: hear both, say nothing; whisper: hear both, speak to the agent only.
SNOOP_DIRECTIONS = {"listen": ("both", "none"), "whisper": ("both", "out")}
# The snoop is a local channel that enters Stasis at once; not seeing it means something is wrong.
SNOOP_TIMEOUT = 5.0


class MonitorState:
    name = "state"

    def __init__(self, session: "MonitorSession"):
        self.session = session

    async def enter(self) -> "MonitorState | None":
        return None

    async def leave(self) -> None:
        """Called when the session moves on: cancel what this state started."""

    async def handle(self, event: Event) -> "MonitorState | None":
        handler = getattr(self, "on_" + event.type, None)
        return await handler(event) if handler else None

    async def on_Stop(self, event: Stop) -> "MonitorState":
        return Ended(self.session, "stopped")

    async def on_CallEnded(self, event: CallEnded) -> "MonitorState":
        return Ended(self.session, "call_ended")

    async def on_HandlerFailed(self, event: HandlerFailed) -> "MonitorState":
        """Handling one of the session's channel events failed at the router: end the session (its own
        channels only; the patient's call goes on)."""
        return Ended(self.session, "failed")

    async def on_Dial(self, event: Dial) -> None:
        self.session.dials.note(event)

    async def on_StasisEnd(self, event: StasisEnd) -> "MonitorState | None":
        return self.channel_gone(event.channel.id)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "MonitorState | None":
        return self.channel_gone(event.channel.id)

    def channel_gone(self, channel_id: str) -> "MonitorState | None":
        s = self.session
        if channel_id == s.supervisor_channel_id:
            return Ended(s, "supervisor_hangup")
        if channel_id == s.snoop_channel_id:
            # A snoop dies with the channel it snoops on: the agent's leg of the call is gone.
            return Ended(s, "call_ended")
        return None


class Dialing(MonitorState):
    """The supervisor's phone rings. Nothing touches the call until they answer."""
    name = "dialing"

    async def enter(self) -> None:
        await self.session.ring_supervisor()

    async def on_StasisStart(self, event: StasisStart) -> "MonitorState | None":
        s = self.session
        if event.channel.id != s.supervisor_channel_id:
            return None
        return Barging(s) if s.mode == "barge" else Snooping(s)

    def channel_gone(self, channel_id: str) -> "MonitorState | None":
        if channel_id == self.session.supervisor_channel_id:
            return Ended(self.session, self.session.dials.outcome(channel_id))
        return None


class Snooping(MonitorState):
    """Listen or whisper: the supervisor waits in a bridge of their own for a snoop on the agent's channel."""
    name = "snooping"

    def __init__(self, session: "MonitorSession"):
        super().__init__(session)
        self.timer: asyncio.TimerHandle | None = None

    async def enter(self) -> "MonitorState | None":
        s = self.session
        agent_channel = s.monitored_agent_channel()
        if agent_channel is None:
            return Ended(s, "call_ended")
        await s.ari.create_bridge(s.bridge_id)
        await s.ari.add_to_bridge(s.bridge_id, [s.supervisor_channel_id])
        spy, whisper = SNOOP_DIRECTIONS[s.mode]
        await s.ari.snoop(agent_channel, app=s.ari.app, app_args=f"snoop,{s.id}", spy=spy, whisper=whisper,
                          snoop_id=s.snoop_channel_id)
        self.timer = asyncio.get_running_loop().call_later(
            SNOOP_TIMEOUT, s.post, SnoopTimeout())
        return None

    async def leave(self) -> None:
        if self.timer:
            self.timer.cancel()

    async def on_StasisStart(self, event: StasisStart) -> "MonitorState | None":
        s = self.session
        if event.channel.id != s.snoop_channel_id:
            return None
        await s.ari.add_to_bridge(s.bridge_id, [s.snoop_channel_id])
        return Monitoring(s)

    async def on_SnoopTimeout(self, event: SnoopTimeout) -> "MonitorState":
        return Ended(self.session, "failed")


class Barging(MonitorState):
    """Barge: the supervisor joins the call's own bridge; everyone hears everyone."""
    name = "barging"

    async def enter(self) -> "MonitorState":
        s = self.session
        bridge_id = s.monitored_bridge()
        if bridge_id is None:
            return Ended(s, "call_ended")
        await s.ari.add_to_bridge(bridge_id, [s.supervisor_channel_id])
        return Monitoring(s)


class Monitoring(MonitorState):
    name = "monitoring"

    async def enter(self) -> None:
        self.session.monitoring_started()


class Ended(MonitorState):
    name = "ended"

    def __init__(self, session: "MonitorSession", reason: str):
        super().__init__(session)
        self.reason = reason

    async def enter(self) -> None:
        await self.session.finish(self.reason)

    async def handle(self, event: Event) -> None:
        return None

"""After every (re)connect to Asterisk: match what we believe against what Asterisk really has.

Asterisk does not replay the events missed while the websocket was down or no controller ran, so:
- a running call hears what it missed: its caller gone (lost), its agent leg gone or answered, a prompt
  finished;
- a channel in our app that no running call owns (the controller restarted while Asterisk kept it) is adopted
  under its call's own id, so the reports count it once: a caller still in their call's bridge with the agent
  gets the call rebuilt, talking, with its agent, bridge and recording; any other caller goes to the front of
  their queue; orphan agent legs and features' own channels are hung up (their caller is offered again);
- call rows left open that nothing owns any more are ended as lost, at the time they really ended as far as
  the events, the recording and Asterisk's start time tell, not at the time we noticed.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..ari.client import AriError, AriUnavailable, quietly
from ..ari.events import ChannelDestroyed, PlaybackFinished, StasisEnd, StasisStart
from ..ari.models import Channel
from ..db.database import Database
from ..db.models import OPEN_CALL_STATUSES, CallEvent, CallLeg
from ..db.models import Call as CallRow
from ..eventlog import utcnow
from ..recording.services import RECOVER_TRIES, recording_name
from ..vocabulary import OFFERING, SURVEYING
from . import emergency
from . import state as states
from .events import Lost
from .services import Call

if TYPE_CHECKING:
    from .stasis import CallRouter

log = logging.getLogger(__name__)

# Legs this process originates: unknown after a restart, they belong to a call being offered again, or
# (an emergency leg) to a call rebuilt with it in its bridge; any other is hung up.
OUR_LEG_PREFIXES = ("agent-", "consult-", emergency.LEG_PREFIX)


class Reconciler:
    def __init__(self, router: "CallRouter", db: Database):
        self._router = router
        self._db = db
        self._deps = router.deps
        self._ari = router.deps.ari

    async def run(self) -> None:
        live = {c.id: c for c in await self._ari.channels()}
        await self._catch_up(live)
        orphans = [c for c in live.values() if self._router.find_by_channel(c.id) is None]
        callers = [c for c in orphans if self._is_caller(c)]
        if callers:
            await self._adopt(callers, live)
        for channel in orphans:  # what no adopted call took back: agent legs, features' own channels
            if self._router.find_by_channel(channel.id) is None and channel not in callers and (
                    _our_leg(channel) or channel.in_stasis_app(self._ari.app)):
                log.info("hanging up orphan channel %s", channel.id)
                await quietly(self._ari.hangup(channel.id))
        await self._end_lost_rows(set(live))

    # -- running calls: what they missed while the websocket was down ---------------------------------------

    async def _catch_up(self, live: dict[str, Channel]) -> None:
        calls = self._router.live_calls()
        asterisk_started = await self._asterisk_started() if any(
            c.channel.id not in live for c in calls) else None
        for call in calls:
            if call.channel.id not in live:
                # Asterisk started after the call did: its restart ended the call. Otherwise the caller hung
                # up while the websocket was down, unseen.
                restarted = asterisk_started is not None and asterisk_started > call.times.started_at
                reason = "asterisk_restart" if restarted else "while_disconnected"
                call.post(Lost(reason))
                continue
            self._catch_up_emergency(call, live)
            leg = call.legs.agent_channel_id
            if leg and leg not in live:
                # An offer reads the leg's end from ChannelDestroyed, a talking call from StasisEnd.
                call.post(StasisEnd(Channel.gone(leg)))
                call.post(ChannelDestroyed(Channel.gone(leg)))
            elif leg and call.state.name == OFFERING and live[leg].in_stasis_app(self._ari.app):
                call.post(StasisStart(live[leg], ("agent", call.id)))
            await self._finished_playbacks(call)

    def _catch_up_emergency(self, call: Call, live: dict[str, Channel]) -> None:
        """The emergency leg hung up, or answered, while we were away (calls/emergency.py)."""
        leg = call.legs.emergency
        if leg is None:
            return
        if leg.channel_id not in live:
            call.post(StasisEnd(Channel.gone(leg.channel_id)))
            call.post(ChannelDestroyed(Channel.gone(leg.channel_id)))
        elif not leg.answered and live[leg.channel_id].in_stasis_app(self._ari.app):
            call.post(StasisStart(live[leg.channel_id], (emergency.ROLE, call.id)))

    async def _finished_playbacks(self, call: Call) -> None:
        for playback_id in call.media.pending_playbacks():
            try:
                await self._ari.playback(playback_id)
            except AriError:  # 404: it ended while we were away; its PlaybackFinished is lost
                call.post(PlaybackFinished(playback_id))
            except AriUnavailable:
                return

    # -- channels nobody owns: adopt the callers -----------------------------------------------------------

    def _is_caller(self, channel: Channel) -> bool:
        """A patient's channel in our app. Not an agent's phone (an offer or consultation, or a click-to-dial
        agent leg), nor a feature's own channel (a supervisor's phone or snoop) whose session died with the
        old process: those must never be queued as callers."""
        if not channel.in_stasis_app(self._ari.app) or _our_leg(channel):
            return False
        args = channel.dialplan_app_data.split(",")
        role = args[1] if len(args) > 1 else ""
        return role != "agent" and not self._router.handles_role(role)

    async def _adopt(self, callers: list[Channel], live: dict[str, Channel]) -> None:
        rows = await self._db.run(_open_rows_by_channel, [c.id for c in callers])
        bridges = await self._bridges()
        # Rebuild the talking calls first: their agents must be on a call again before a waiting caller is
        # offered to them.
        waiting = []
        for channel in callers:
            row = rows.get(channel.id)
            bridge = _call_bridge(bridges, row, channel.id) if row is not None else None
            if bridge is not None and await self._rebuild(channel, row, bridge):
                continue
            if row is None or not await self._rebuild_consultation(channel, row, bridges, live):
                waiting.append(channel)
        for channel in waiting:
            await self._requeue(channel, rows.get(channel.id), bridges)

    async def _bridges(self) -> list[dict]:
        try:
            return await self._ari.bridges()
        except (AriError, AriUnavailable) as exc:
            log.warning("could not list bridges (%s): adopted callers are queued", exc)
            return []

    async def _rebuild(self, channel: Channel, row: CallRow, bridge: dict) -> bool:
        """The caller still talks in their call's bridge: with their agent (and the emergency service, if it
        was conferenced), or with the emergency service alone after the agent left (state.WithEmergency)."""
        others = [c for c in bridge["channels"] if c != channel.id]
        emergency_leg = next((c for c in others if c.startswith(emergency.LEG_PREFIX)), None)
        agent_leg = next((c for c in others if c != emergency_leg), None)
        agent = next((a for a in self._deps.queues.agents.values() if a.id == row.agent_id), None)
        if agent_leg is None or agent is None:
            return await self._rebuild_with_emergency(channel, row, bridge, emergency_leg)
        call = await self._rebuilt_call(channel, row, bridge, emergency_leg)
        call.agent, call.legs.agent_channel_id = agent, agent_leg
        await self._deps.recordings.resume(call, recording_name(call.id, agent.id))
        self._deps.queues.resume_call(agent, call.id)
        held = await self._db.run(_was_held, row.id)
        if held:
            await self._hold_again(call)
        # Bound to its channels at once: a hang-up from here on reaches the call.
        self._router.resume_call(call, lambda c: (
            states.Held(c, agent) if held else states.Connected(c, agent, fresh=False)))
        log.info("call %s rebuilt%s: caller %s and agent leg %s still in bridge %s", call.id,
                 " on hold" if held else "", channel.id, agent_leg, bridge["id"])
        call.log("rebuilt", bridge=bridge["id"], agent_channel=agent_leg, recording=call.media.recording_name,
                 held=held, **({"emergency_channel": emergency_leg} if emergency_leg else {}))
        if not held:  # a hold the old process had begun and not logged must not leave the caller muted
            await quietly(self._ari.stop_moh(channel.id))
            await quietly(self._ari.unmute(channel.id, "in"))
            await quietly(self._ari.unmute(agent_leg, "in"))
        return True

    async def _rebuild_consultation(self, channel: Channel, row: CallRow, bridges: list[dict],
                                    live: dict[str, Channel]) -> bool:
        """The agent was consulting a colleague (a warm transfer) while the caller waited on hold alone in the
        call's bridge: the consultation goes on, ringing or talking, and the agent then completes or cancels
        it as before the restart."""
        consultation = await self._db.run(_open_consultation, row.id, row.agent_id)
        call_bridge = next((b for b in bridges if b.get("id", "").startswith("call-" + row.id)
                            and channel.id in (b.get("channels") or [])), None)
        if consultation is None or call_bridge is None:
            return False
        agent_leg, leg, target_number, queue = consultation
        queues = self._deps.queues
        agent = next((a for a in queues.agents.values() if a.id == row.agent_id), None)
        target = queues.agents.get(target_number)
        if agent is None or target is None or agent_leg not in live or leg not in live:
            return False  # a leg ended with the old process: the caller is offered again
        answered = live[leg].in_stasis_app(self._ari.app)
        consult_bridge = next((b["id"] for b in bridges if b.get("id", "").startswith(
            states.CONSULT_BRIDGE_PREFIX + row.id) and agent_leg in (b.get("channels") or [])), None)
        call = await self._rebuilt_call(channel, row, call_bridge, None)
        call.agent, call.legs.agent_channel_id = agent, agent_leg
        await self._deps.recordings.resume(call, recording_name(call.id, agent.id))
        queues.resume_call(agent, call.id)
        queues.resume_call(target, call.id, "on_call" if answered else "ringing")
        try:
            await states.hold_caller(call)  # as Consulting began: music and muted, now known to this call
        except (AriError, AriUnavailable) as exc:  # the caller hung up meanwhile: their StasisEnd ends it
            log.info("call %s: could not hold the rebuilt call again: %s", call.id, exc)
        self._router.resume_call(call, lambda c: states.Consulting(
            c, agent, target, queue, resumed_leg=leg, answered=answered, bridge_id=consult_bridge))
        self._router.bind(leg, call)
        log.info("call %s rebuilt consulting: caller %s on hold, agent leg %s, target leg %s%s", call.id,
                 channel.id, agent_leg, leg, " talking" if answered else " ringing")
        call.log("rebuilt", bridge=call_bridge["id"], agent_channel=agent_leg,
                 recording=call.media.recording_name, held=True, consult_channel=leg,
                 consult_answered=answered)
        return True

    async def _hold_again(self, call: Call) -> None:
        """The caller was on hold when the old process died: they stay on hold (music, muted), and the call
        knows it, so that the agent's resume takes them off it. Asked of Asterisk again, as a hold does: the
        old process may have died half-way through its hold."""
        try:
            await states.hold_caller(call)
            await self._ari.mute(call.legs.agent_channel_id, "in")
        except (AriError, AriUnavailable) as exc:  # the caller hung up meanwhile: their StasisEnd ends it
            log.info("call %s: could not hold the rebuilt call again: %s", call.id, exc)

    async def _rebuild_with_emergency(self, channel: Channel, row: CallRow, bridge: dict,
                                      emergency_leg: str | None) -> bool:
        """The agent had left the caller talking with the emergency service: they go on talking."""
        if emergency_leg is None or not emergency_leg.startswith(emergency.LEG_PREFIX):
            return False
        call = await self._rebuilt_call(channel, row, bridge, emergency_leg)
        self._router.resume_call(call, states.WithEmergency)
        log.info("call %s rebuilt: caller %s with emergency leg %s in bridge %s", call.id, channel.id,
                 emergency_leg, bridge["id"])
        call.log("rebuilt", bridge=bridge["id"], emergency_channel=emergency_leg)
        return True

    async def _rebuilt_call(self, channel: Channel, row: CallRow, bridge: dict,
                            emergency_leg: str | None) -> Call:
        call = Call(self._deps, channel, self._router.flow("hotline"), call_id=row.id)
        await self._restore(call, row)
        call.legs.bridge_id, call.legs.bridges_used = bridge["id"], _bridges_used(bridge["id"], row.id)
        if emergency_leg is not None:  # it answered: it was added to the bridge only then
            call.legs.emergency = emergency.EmergencyLeg(emergency_leg, answered=True)
        return call

    async def _restore(self, call: Call, row: CallRow) -> None:
        """The row's facts, and the patients the caller ID matches (for the screen pop an agent's console
        asks for again), looked up without logging a second identification."""
        call.restore(row)
        call.patients = await self._deps.pops.lookup(call.caller)

    async def _requeue(self, channel: Channel, row: CallRow | None, bridges: list[dict]) -> None:
        """A caller who was in the IVR, waiting, or being offered: to the front of their queue (or the general
        one), under their call's own id when the row is known, so the reports see one caller waiting once."""
        if row is not None and await self._db.run(_was_surveying, row.id):
            await self._end_survey(channel, row)
            return
        queues = self._deps.queues
        previous = row.queue_name if row is not None else None
        queue = previous if previous in queues.queues else "general"
        log.info("adopting orphan caller channel %s into queue %s", channel.id, queue)
        # A caller held (muted, hearing music) by an agent lost with the old process would stay muted with
        # the next agent, who could not hear them: the queue's music follows, the mute must not.
        await quietly(self._ari.unmute(channel.id, "in"))
        args = channel.dialplan_app_data.split(",")
        flow = args[2] if len(args) > 2 else "hotline"

        def initial(c: Call) -> states.CallState:
            return states.Queued(c, queue, c.priority, front=True)
        if row is None:
            call = self._router.start_inbound(channel, flow, initial=initial)
        else:
            call = Call(self._deps, channel, self._router.flow(flow), call_id=row.id)
            await self._restore(call, row)
            await self._take_down_bridges(call, row, bridges)
            call.log("adopted", previous_queue=previous)
            self._router.resume_call(call, initial)
            return
        call.log("adopted", previous_queue=previous)

    async def _end_survey(self, channel: Channel, row: CallRow) -> None:
        """A caller who was answering the survey after the call (issue 17) when the controller died: their
        agent had hung up and served them, so the call ends as it would have (the answers given are stored),
        rather than sending them to a queue again."""
        log.info("call %s: ending the survey the controller was running", row.id)
        call = Call(self._deps, channel, self._router.flow("hotline"), call_id=row.id)
        await self._restore(call, row)
        call.log("survey_ended", complete=False, reason="controller_restart")
        self._router.resume_call(call, lambda c: states.Ended(c, "completed", "agent_hangup", hangup=True))

    async def _take_down_bridges(self, call: Call, row: CallRow, bridges: list[dict]) -> None:
        """A re-queued caller may still sit in their call's bridge (held when their agent's leg went with the
        old process): it is taken down, its recording of the conversation brought home, and the next agent's
        bridge gets a new name (the old one may still be going away)."""
        old = [b["id"] for b in bridges if b.get("id", "").startswith("call-" + row.id)]
        if not old:
            return
        call.legs.bridges_used = max(_bridges_used(bridge_id, row.id) for bridge_id in old)
        call.agent = next((a for a in self._deps.queues.agents.values() if a.id == row.agent_id), None)
        recorded = call.agent is not None and await self._deps.recordings.resume(
            call, recording_name(call.id, call.agent.id))
        for bridge_id in old:
            await quietly(self._ari.destroy_bridge(bridge_id))
        if recorded:
            self._deps.recordings.collect(call)  # in the background, once Asterisk has closed the file
        call.agent, call.media.recording_name = None, None

    # -- rows nobody owns: end them when they really ended -------------------------------------------------

    async def _end_lost_rows(self, live_channels: set[str]) -> None:
        running = {call.id for call in self._router.live_calls()}
        lost = await self._db.run(_lost_rows, live_channels, running)
        if not lost:
            return
        # An ARI bridge outlives its channels: take down what the lost calls left behind first, so a
        # recording still running there (an agent leg outlived the caller) is finished before it is read.
        prefixes = tuple("call-" + row.id for row in lost)
        for bridge in await self._bridges():
            if bridge.get("id", "").startswith(prefixes):
                await quietly(self._ari.destroy_bridge(bridge["id"]))
        asterisk_started = await self._asterisk_started()
        noticed_at = utcnow()
        for row in lost:
            ended_at, reason = await self._end_of(row, asterisk_started)
            self._end_row(row, ended_at, reason, noticed_at)
        await self._deps.events.flush()  # the rows are ended when reconciliation returns

    def _end_row(self, row: "LostRow", ended_at: datetime, reason: str, noticed_at: datetime) -> None:
        """Through the event log, as a call's own end is: whoever listens to it (the queue-wait metrics)
        hears of this end too, or would wait for it forever."""
        outcome = "abandoned" if row.status in ("queued", "offering") else (
            "completed" if row.status == "connected" else "ivr_hangup")
        events = self._deps.events
        events.event(row.id, "ended", ts=ended_at, queue_name=row.queue_name, outcome=outcome, reason=reason,
                     noticed_at=noticed_at.isoformat())
        events.update(CallRow.__table__, {"id": row.id}, status="ended", outcome=outcome, end_reason=reason,
                      ended_at=ended_at,
                      hangup_cause="asterisk_restart" if reason == "lost_asterisk_restart" else None)

    async def _asterisk_started(self) -> datetime | None:
        try:
            info = await self._ari.asterisk_info()
            return datetime.fromisoformat(info["status"]["startup_time"])
        except (AriError, AriUnavailable, KeyError, TypeError, ValueError):
            return None

    async def _end_of(self, row: "LostRow", asterisk_started: datetime | None) -> tuple[datetime, str]:
        """When the call ended and why, from what is known: its last logged event, its recording's length,
        and an Asterisk restart since (which ended it at the latest)."""
        ended = row.last_event or row.started_at
        recording_ended = await self._recover_recording(row)
        if recording_ended is not None:
            ended = max(ended, recording_ended)
        restarted = asterisk_started is not None and asterisk_started > (row.last_event or row.started_at)
        if restarted:
            ended = min(ended, asterisk_started)
        return min(ended, utcnow()), "lost_asterisk_restart" if restarted else "lost"

    async def _recover_recording(self, row: "LostRow") -> datetime | None:
        """The lost call's recording brought home; when it ended. A call killed right after it was answered
        may have no `recording_started` logged (still in memory at the kill) while Asterisk went on recording:
        it is looked for by its name, once (no file: it never started)."""
        recordings, tries = self._deps.recordings, RECOVER_TRIES
        if row.recording is not None:
            name, started = row.recording
        elif row.agent_id is not None and row.answered_at is not None and recordings.enabled:
            (name, started), tries = (recording_name(row.id, row.agent_id), row.answered_at), 1
        else:
            return None
        seconds = await recordings.recover(row.id, row.agent_id, name, started, tries)
        return None if seconds is None else started + timedelta(seconds=seconds)


class LostRow:
    """An open call row that no running call owns and whose channel is gone, with what tells its end."""

    def __init__(self, row: CallRow, last_event: datetime | None, recording: tuple[str, datetime] | None):
        self.id, self.status, self.queue_name = row.id, row.status, row.queue_name
        self.agent_id, self.started_at, self.answered_at = row.agent_id, row.started_at, row.answered_at
        self.last_event, self.recording = last_event, recording


def _call_bridge(bridges: list[dict], row: CallRow, caller_id: str) -> dict | None:
    """The call's own bridge (`call-<id>`, or `call-<id>-<n>` after a blind transfer) holding the caller and
    the agent still talking, or an emergency leg (with or without the agent), and nobody else."""
    for bridge in bridges:
        if not bridge.get("id", "").startswith("call-" + row.id):
            continue
        channels = bridge.get("channels") or []
        others = [c for c in channels if c != caller_id]
        emergency_legs = [c for c in others if c.startswith(emergency.LEG_PREFIX)]
        if caller_id in channels and others and len(emergency_legs) <= 1 \
                and len(others) - len(emergency_legs) <= 1:
            return bridge
    return None


def _our_leg(channel: Channel) -> bool:
    """A leg this process originated. Not the far half of a Local channel (`<id>;2`, running the phone's
    dialplan): it goes with its near half."""
    return channel.id.startswith(OUR_LEG_PREFIXES) and ";" not in channel.id


def _bridges_used(bridge_id: str, call_id: str) -> int:
    """`call-<id>` is a call's first bridge, `call-<id>-<n>` its (n+1)th (state.Connected names them)."""
    suffix = bridge_id.removeprefix("call-" + call_id).lstrip("-")
    return int(suffix) + 1 if suffix.isdigit() else 1


def _open_rows_by_channel(session: Session, channel_ids: list[str]) -> dict[str, CallRow]:
    rows = session.scalars(select(CallRow).where(CallRow.channel_id.in_(channel_ids),
                                                 CallRow.status.in_(OPEN_CALL_STATUSES))
                           .order_by(CallRow.started_at)).all()
    return {row.channel_id: row for row in rows}  # the latest row of a channel wins


def _was_surveying(session: Session, call_id: str) -> bool:
    """Was the call's last state the survey after the call?"""
    last = session.scalar(select(CallEvent.data)
                          .where(CallEvent.call_id == call_id, CallEvent.type == "state")
                          .order_by(CallEvent.id.desc()).limit(1))
    return bool(last) and last.get("state") == SURVEYING


def _was_held(session: Session, call_id: str) -> bool:
    """Was the caller on hold at the last hold or resume the call logged?"""
    last = session.scalar(select(CallEvent.type).where(CallEvent.call_id == call_id,
                                                      CallEvent.type.in_(("held", "unheld")))
                          .order_by(CallEvent.id.desc()).limit(1))
    return last == "held"


def _open_consultation(session: Session, call_id: str, agent_id: int | None
                       ) -> tuple[str, str, str, str | None] | None:
    """(agent's leg, target's leg, target's number, queue) of a warm transfer the call began and did not end,
    or None. The agent's leg is the agent's last leg of the call still open."""
    last = session.scalars(select(CallEvent).where(CallEvent.call_id == call_id, CallEvent.type.in_(
        ("transfer_started", "transfer_completed", "transfer_cancelled", "transfer_failed", "transferred")))
        .order_by(CallEvent.id.desc()).limit(1)).first()
    if last is None or last.type != "transfer_started" or last.data.get("mode") != "warm":
        return None
    leg = last.data.get("consult_channel")
    agent_leg = session.scalar(select(CallLeg.channel_id).where(
        CallLeg.call_id == call_id, CallLeg.role == "agent", CallLeg.agent_id == agent_id,
        CallLeg.ended_at.is_(None), CallLeg.channel_id != leg).order_by(CallLeg.id.desc()).limit(1))
    if not leg or agent_leg is None or not last.data.get("to_agent"):
        return None
    return agent_leg, leg, last.data["to_agent"], last.data.get("to_queue")


def _lost_rows(session: Session, live_channels: set[str], running: set[str]) -> list[LostRow]:
    rows = [r for r in session.scalars(select(CallRow).where(CallRow.status.in_(OPEN_CALL_STATUSES)))
            if r.id not in running and r.channel_id not in live_channels]
    if not rows:
        return []
    ids = [r.id for r in rows]
    last = dict(session.execute(select(CallEvent.call_id, func.max(CallEvent.ts))
                                .where(CallEvent.call_id.in_(ids)).group_by(CallEvent.call_id)).all())
    recordings = {e.call_id: (e.data.get("recording"), e.ts) for e in session.scalars(
        select(CallEvent).where(CallEvent.call_id.in_(ids), CallEvent.type == "recording_started")
        .order_by(CallEvent.id))}
    return [LostRow(r, last.get(r.id), recordings.get(r.id)) for r in rows]

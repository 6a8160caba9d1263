"""Live monitoring of an agent's call: listen, whisper or barge from the supervisor's own phone.

A MonitorSession rings the supervisor first and touches the call only once they answer (see state.py). It
owns three things and only those: the supervisor's leg, a snoop channel on the agent's leg (listen, whisper)
and a small bridge joining the two. Tear-down hangs up and destroys exactly those, so a failure here can end
the monitoring but never the patient's call. Barge adds the supervisor's leg to the call's own bridge; the
call's bridge is never destroyed by a session.
"""
from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from ..ari.client import AriClient, quietly
from ..ari.events import DialOutcomes, Event, StasisStart
from ..db.database import Database
from ..db.queries import AuditActor, add_audit_event
from ..eventlog import EventLog, utcnow
from ..vocabulary import MONITORABLE
from . import state as states
from .events import CallEnded, Stop
from .exceptions import (
    AlreadyMonitoring,
    CallNotFound,
    CallNotMonitorable,
    InvalidEndpoint,
    InvalidMode,
    MonitorFailed,
    NoPhone,
    SessionNotFound,
)

if TYPE_CHECKING:
    from ..calls.services import Call
    from ..calls.stasis import CallRouter
    from ..config import TelephonyConfig

log = logging.getLogger(__name__)

MODES = ("listen", "whisper", "barge")
# Tech/resource, as ARI's originate takes it (PJSIP/2001, Local/auto-2001@agent-phones/n).
ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*/[^\s,]+$")
SUPERVISOR_RING_SECONDS = 20
# How long start() waits for Asterisk to accept the originate before it answers the request.
ORIGINATE_WAIT = 8.0


class MonitorSession:
    def __init__(self, service: "MonitorService", call: "Call", mode: str, endpoint: str,
                 user_id: int | None):
        self.id = uuid.uuid4().hex
        self.service = service
        self.ari: AriClient = service.ari
        self.call = call
        self.mode = mode
        self.endpoint = endpoint
        self.user_id = user_id
        self.supervisor_channel_id = "sup-" + self.id
        self.snoop_channel_id = "snoop-" + self.id
        self.bridge_id = "monitor-" + self.id
        self.started_at = utcnow()
        self.monitoring_since: datetime | None = None
        self.end_reason: str | None = None
        self.dialed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.ended = asyncio.Event()
        self.state: states.MonitorState = states.Dialing(self)
        self.dials = DialOutcomes()
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name=f"monitor-{self.id}"))
        self._tasks.append(asyncio.create_task(self._watch_call(), name=f"monitor-watch-{self.id}"))

    def post(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    async def _watch_call(self) -> None:
        # In barge the supervisor sits in the call's bridge: nothing of ours dies with the call, so say so.
        await self.call.ended.wait()
        self.post(CallEnded())

    async def _run(self) -> None:
        await self._enter(self.state)
        while not self.ended.is_set():
            event = await self._inbox.get()
            try:
                nxt = await self.state.handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("monitor %s (call %s): %s failed in %s", self.id, self.call.id, event.type,
                              self.state.name)
                nxt = states.Ended(self, "failed")
            await self._enter(nxt)

    async def _enter(self, nxt: states.MonitorState | None) -> None:
        while nxt is not None:
            if nxt is not self.state:
                await self.state.leave()
            self.state = nxt
            try:
                nxt = await nxt.enter()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("monitor %s (call %s): entering %s failed: %s", self.id, self.call.id, nxt.name,
                            exc)
                if not self.dialed.done():
                    self.dialed.set_exception(MonitorFailed(str(exc)))
                nxt = None if isinstance(self.state, states.Ended) else states.Ended(self, "failed")

    # -- what the states call ----------------------------------------------------------------------------

    async def ring_supervisor(self) -> None:
        # Both our channels are routed to this session from the start: events may beat the REST answers.
        self.service.router.bind(self.supervisor_channel_id, self)  # type: ignore[arg-type]
        self.service.router.bind(self.snoop_channel_id, self)  # type: ignore[arg-type]
        settings = self.service.settings
        agent = self.call.agent.name if self.call.agent else "agent"
        await self.ari.originate(
            self.endpoint, channel_id=self.supervisor_channel_id, app=self.ari.app,
            app_args=f"supervisor,{self.id}", caller_id=f'"Monitor {self.mode}: {agent}" <monitor>',
            timeout=SUPERVISOR_RING_SECONDS, formats=settings.channel_formats if settings else None)
        if not self.dialed.done():
            self.dialed.set_result(True)

    def monitored_agent_channel(self) -> str | None:
        if self.call.ended.is_set() or self.call.state.name not in MONITORABLE:
            return None
        return self.call.legs.agent_channel_id

    def monitored_bridge(self) -> str | None:
        if self.call.ended.is_set() or self.call.state.name not in MONITORABLE:
            return None
        return self.call.legs.bridge_id

    def monitoring_started(self) -> None:
        self.monitoring_since = utcnow()
        self.service.events.event(self.call.id, "monitoring_started", mode=self.mode, session=self.id,
                                  supervisor_user_id=self.user_id)

    async def finish(self, reason: str) -> None:
        """Exactly once: hang up our own channels, destroy our own bridge. Never the call's."""
        self.end_reason = reason
        for channel_id in (self.snoop_channel_id, self.supervisor_channel_id):
            await quietly(self.ari.hangup(channel_id))
        if self.mode != "barge":
            await quietly(self.ari.destroy_bridge(self.bridge_id))
        self.service.forget(self)
        self.service.events.event(self.call.id, "monitoring_ended", mode=self.mode, session=self.id,
                                  reason=reason, supervisor_user_id=self.user_id)
        if not self.dialed.done():
            self.dialed.set_exception(MonitorFailed(f"monitoring ended before it began: {reason}"))
        self.ended.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    def public(self) -> dict:
        return {"id": self.id, "call_id": self.call.id, "mode": self.mode, "state": self.state.name,
                "user_id": self.user_id, "started_at": self.started_at.isoformat(),
                "monitoring_since": self.monitoring_since.isoformat() if self.monitoring_since else None,
                "end_reason": self.end_reason}


class MonitorService:
    def __init__(self, ari: AriClient, db: Database, events: EventLog, router: "CallRouter",
                 settings: "TelephonyConfig | None" = None, default_endpoint: str | None = None):
        self.ari = ari
        self.db = db
        self.events = events
        self.router = router
        self.settings = settings
        # The phone of a supervisor without users.phone_endpoint (a supervisors' room phone, say).
        self.default_endpoint = default_endpoint
        self.sessions: dict[str, MonitorSession] = {}
        router.register_role("supervisor", self.on_stasis_start)
        router.register_role("snoop", self.on_stasis_start)

    async def start(self, call_id: str, mode: str, endpoint: str | None, user_id: int | None,
                    patient_id: int | None = None, *, actor: AuditActor | None = None) -> MonitorSession:
        """Ring the supervisor's phone into the call, once the audit row is written (`actor`: who listens,
        the API client as such; by default the user)."""
        endpoint = endpoint or self.default_endpoint
        if mode not in MODES:
            raise InvalidMode(mode)
        if not endpoint:
            raise NoPhone()
        if not ENDPOINT.match(endpoint):
            raise InvalidEndpoint()
        call = self.router.find(call_id)
        if call is None or call.ended.is_set():
            raise CallNotFound(call_id)
        if call.state.name not in MONITORABLE:
            raise CallNotMonitorable(call_id, call.state.name)
        current = self.of_user(user_id) if user_id is not None else None
        if current is not None:
            raise AlreadyMonitoring(current.id)
        session = MonitorSession(self, call, mode, endpoint, user_id)
        self.sessions[session.id] = session  # before the audit's await: a second start meanwhile is refused
        try:
            await self._audit(session, actor or AuditActor(user_id))
        except BaseException:
            self.sessions.pop(session.id, None)
            raise
        session.start()
        try:
            await asyncio.wait_for(asyncio.shield(session.dialed), ORIGINATE_WAIT)
        except TimeoutError:
            session.post(Stop())
            raise MonitorFailed("Asterisk did not answer the request to ring the supervisor") from None
        return session

    async def _audit(self, session: MonitorSession, actor: AuditActor) -> None:
        # Hearing a patient's call is access to their data, like playing a recording: the row is in the
        # database before the phone rings, and no row, no ringing.
        patients = session.call.patients
        await self.db.run(_audit_monitoring, actor, session.call.id,
                          patients[0]["id"] if len(patients) == 1 else None, session.mode, session.id)

    async def stop(self, session_id: str, wait: float = 5.0) -> MonitorSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        session.post(Stop())
        try:
            await asyncio.wait_for(session.ended.wait(), wait)
        except TimeoutError:
            log.warning("monitor %s did not end within %.0fs of stop", session_id, wait)
        return session

    def get(self, session_id: str) -> MonitorSession:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise SessionNotFound(session_id) from None

    def of_user(self, user_id: int) -> MonitorSession | None:
        return next((s for s in self.sessions.values() if s.user_id == user_id and not s.ended.is_set()),
                    None)

    def for_call(self, call_id: str) -> list[MonitorSession]:
        return [s for s in self.sessions.values() if s.call.id == call_id]

    def forget(self, session: MonitorSession) -> None:
        self.sessions.pop(session.id, None)
        self.router.forget(session)  # type: ignore[arg-type]  (the router routes by channel to anything)

    async def on_stasis_start(self, start: StasisStart) -> None:
        session = self.sessions.get(start.args[1]) if len(start.args) > 1 else None
        if session is None:
            log.info("monitoring channel %s belongs to no session; hanging up", start.channel.id)
            await quietly(self.ari.hangup(start.channel.id))
            return
        session.post(start)

    async def stop_all(self) -> None:
        for session in list(self.sessions.values()):
            await self.stop(session.id, wait=2.0)



def _audit_monitoring(db_session, actor: AuditActor, call_id: str, patient_id: int | None, mode: str,
                      session_id: str) -> None:
    add_audit_event(db_session, "call_monitored", actor=actor, call_id=call_id, patient_id=patient_id,
                    reason=mode, detail={"mode": mode, "session": session_id})

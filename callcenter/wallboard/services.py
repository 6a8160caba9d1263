"""The live wallboard: queues with their waiting callers, agents, calls in progress, pushed to supervisors.

The snapshot is built from what the process already holds in memory (QueueService, the router's live calls,
monitoring sessions), so building it costs microseconds. Rather than hook every place that changes a call or
an agent, one loop rebuilds it every CHECK_SECONDS while someone watches and pushes it only when it changed.
Timers (wait, time in state, talk time) are not pushed: the snapshot carries timestamps and the browser
counts. No patient data is on the wallboard: calls are shown by queue, agent and times only.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from ..eventlog import utcnow
from ..vocabulary import AGENT_RINGING, CONNECTED, IN_IVR, MONITORABLE, WITH_AGENT

if TYPE_CHECKING:
    from ..calls.stasis import CallRouter
    from ..kpi.compute import KpiService
    from ..queues.services import QueueService
    from ..supervision.services import MonitorService

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.5
# Today's figures per queue come from the KPI computation (the reports' own), read this often.
KPI_SECONDS = 10.0
TODAY_KPIS = ("offered", "answered", "abandoned", "service_level")


class WallboardService:
    def __init__(self, queues: "QueueService", router: "CallRouter", monitors: "MonitorService | None" = None,
                 kpi: "KpiService | None" = None):
        self._queues = queues
        self._router = router
        self._monitors = monitors
        self._kpi = kpi
        self.today: dict[str, dict] = {}
        self._today_read = 0.0
        self._sockets: set[web.WebSocketResponse] = set()
        self._task: asyncio.Task | None = None
        self._last = ""

    # -- the snapshot --------------------------------------------------------------------------------------

    def snapshot(self) -> dict:
        calls = self._router.live_calls()
        return {
            "queues": [self._queue(name, info) for name, info in self._queues.queues.items()],
            "agents": [self._agent(a) for a in sorted(self._queues.agents.values(), key=lambda a: a.number)],
            "calls": [self._call(c) for c in calls if c.state.name in WITH_AGENT and c.agent is not None],
            "in_ivr": sum(1 for c in calls if c.state.name in IN_IVR),
            "today": self.today,
        }

    async def refresh_today(self) -> dict[str, dict]:
        """Today so far per queue, from the same computation as the KPI reports: they cannot disagree."""
        if self._kpi is None:
            return self.today
        report = await self._kpi.live()
        self.today = {row.key: {k: row.kpis[k] for k in TODAY_KPIS} for row in report.rows}
        self._today_read = asyncio.get_running_loop().time()
        return self.today

    def _queue(self, name: str, info) -> dict:
        waiting = [{"call_id": e.call.id, "since": e.since.isoformat(), "priority": e.priority,
                    "language": getattr(e.call, "language", None)} for e in self._queues.waiting(name)]
        longest = min((w["since"] for w in waiting), default=None)
        return {"name": name, "title": info.title, "service_level_seconds": info.service_level_seconds,
                "waiting": waiting, "longest_since": longest}

    @staticmethod
    def _agent(agent) -> dict:
        return {"number": agent.number, "name": agent.name, "state": agent.state,
                "since": agent.state_since.isoformat(), "pause_reason": agent.pause_reason,
                "call_id": agent.call_id}

    def _call(self, call) -> dict:
        since = call.times.answered_at or call.times.offered_at or call.times.started_at
        monitors = self._monitors.for_call(call.id) if self._monitors else []
        return {
            "call_id": call.id, "queue": call.queue_name, "state": call.state.name,
            "status": _status(call.state.name),
            # Listen, whisper and barge are offered only where supervision accepts them (else a 409).
            "monitorable": call.state.name in MONITORABLE,
            "agent": {"number": call.agent.number, "name": call.agent.name},
            "since": since.isoformat(),
            "monitors": [{"id": m.id, "mode": m.mode, "state": m.state.name, "user_id": m.user_id}
                         for m in monitors],
        }

    # -- pushing -------------------------------------------------------------------------------------------

    async def attach(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)
        await self._refresh_today_quietly()
        await ws.send_json(self._message(self.snapshot()))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="wallboard")

    def detach(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for ws in list(self._sockets):
            await ws.close()

    async def _watch(self) -> None:
        while self._sockets:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                if asyncio.get_running_loop().time() - self._today_read >= KPI_SECONDS:
                    await self._refresh_today_quietly()
                await self.push_if_changed()
            except Exception:  # a bad snapshot must not stop the wallboard for everyone
                log.exception("wallboard update failed")

    async def _refresh_today_quietly(self) -> None:
        try:
            await self.refresh_today()
        except Exception:  # the live queues and agents still show without today's figures
            self._today_read = asyncio.get_running_loop().time()
            log.exception("wallboard: today's KPIs failed")

    async def push_if_changed(self) -> None:
        snapshot = self.snapshot()
        key = json.dumps(snapshot, sort_keys=True)
        if key == self._last:
            return
        self._last = key
        message = self._message(snapshot)
        for ws in list(self._sockets):
            try:
                await ws.send_json(message)
            except (ConnectionError, RuntimeError):
                self._sockets.discard(ws)

    @staticmethod
    def _message(snapshot: dict) -> dict:
        # The server's clock travels with the snapshot so the browser's timers do not depend on its own clock.
        return {"type": "wallboard", "now": utcnow().isoformat(), **snapshot}


def _status(state: str) -> str:
    """What the wallboard shows: ringing, connected, or held (also while the agent consults a colleague:
    the caller waits on hold meanwhile). `state` in the snapshot keeps the exact state."""
    if state in AGENT_RINGING:
        return "ringing"
    return "connected" if state == CONNECTED else "held"

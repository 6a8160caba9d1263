"""Open agent console websockets, and pushing messages to them.

An agent may have the console open in several tabs; each gets the pop. A socket that fails to send is dropped.
Each socket keeps who opened it (the desk's agent, or a supervisor watching that desk), so that what it is
shown is audited in that viewer's name.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from aiohttp import web

from ..db.queries import AuditActor

log = logging.getLogger(__name__)


class AgentNotifier:
    def __init__(self) -> None:
        self._sockets: dict[str, dict[web.WebSocketResponse, AuditActor]] = defaultdict(dict)

    def attach(self, agent_number: str, ws: web.WebSocketResponse, viewer: AuditActor | None = None) -> None:
        self._sockets[agent_number][ws] = viewer or AuditActor()

    def detach(self, agent_number: str, ws: web.WebSocketResponse) -> None:
        self._sockets[agent_number].pop(ws, None)

    def connected(self, agent_number: str) -> int:
        return len(self._sockets.get(agent_number, ()))

    def consoles(self, agent_number: str) -> dict[web.WebSocketResponse, AuditActor]:
        """The desk's open consoles and who is at each, as they are now (a pop is audited for these, then
        sent to these only: a console opened meanwhile gets its own audited replay)."""
        return dict(self._sockets.get(agent_number, {}))

    async def send(self, agent_number: str, message: dict,
                   only: dict[web.WebSocketResponse, AuditActor] | None = None) -> int:
        delivered = 0
        sockets = list(self._sockets.get(agent_number, ()))
        for ws in sockets if only is None else [ws for ws in sockets if ws in only]:
            try:
                await ws.send_json(message)
                delivered += 1
            except (ConnectionError, RuntimeError) as exc:
                log.info("dropping a closed console socket of agent %s: %r", agent_number, exc)
                self.detach(agent_number, ws)
        return delivered

    async def close_all(self) -> None:
        for sockets in self._sockets.values():
            for ws in list(sockets):
                await ws.close()
        self._sockets.clear()

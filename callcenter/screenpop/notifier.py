"""Open agent console websockets, and pushing messages to them.

An agent may have the console open in several tabs; each gets the pop. A socket that fails to send is dropped.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from aiohttp import web

log = logging.getLogger(__name__)


class AgentNotifier:
    def __init__(self) -> None:
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def attach(self, agent_number: str, ws: web.WebSocketResponse) -> None:
        self._sockets[agent_number].add(ws)

    def detach(self, agent_number: str, ws: web.WebSocketResponse) -> None:
        self._sockets[agent_number].discard(ws)

    def connected(self, agent_number: str) -> int:
        return len(self._sockets.get(agent_number, ()))

    async def send(self, agent_number: str, message: dict) -> int:
        delivered = 0
        for ws in list(self._sockets.get(agent_number, ())):
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

"""Websocket tickets: how an API client opens a websocket without its token in the URL (a URL ends up in
access logs, proxy logs and histories). The client asks `POST /api/ws-tickets` with its Bearer token and
opens the socket with `?ticket=...`: valid once, for one websocket upgrade, for `ttl` seconds. In memory: a
ticket outlives neither its seconds nor the process."""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class WsTickets:
    ttl: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _expiries: dict[str, float] = field(default_factory=dict)

    def issue(self) -> str:
        now = self.clock()
        self._expiries = {t: until for t, until in self._expiries.items() if until > now}
        ticket = secrets.token_urlsafe(32)
        self._expiries[ticket] = now + self.ttl
        return ticket

    def redeem(self, ticket: str) -> bool:
        """True once for a ticket issued less than `ttl` seconds ago; it is spent either way."""
        until = self._expiries.pop(ticket, None)
        return until is not None and until > self.clock()

"""Websocket tickets: how an API client opens a websocket without its token in the URL (a URL ends up in
access logs, proxy logs and histories). The client asks `POST /api/ws-tickets` with its Bearer token and
opens the socket with `?ticket=...`: valid once, for one websocket upgrade, for `ttl` seconds, for the
client that asked (whose scopes and revocation are checked again at the upgrade). In memory: a ticket
outlives neither its seconds nor the process."""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class WsTickets:
    ttl: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _issued: dict[str, tuple[float, int]] = field(default_factory=dict)   # ticket -> (expiry, client id)

    def issue(self, client_id: int) -> str:
        now = self.clock()
        self._issued = {t: issued for t, issued in self._issued.items() if issued[0] > now}
        ticket = secrets.token_urlsafe(32)
        self._issued[ticket] = (now + self.ttl, client_id)
        return ticket

    def redeem(self, ticket: str) -> int | None:
        """The client id, once, for a ticket issued less than `ttl` seconds ago; it is spent either way."""
        until, client_id = self._issued.pop(ticket, (0.0, None))
        return client_id if until > self.clock() else None

"""Websockets of signed-in users, closed when the session that opened them stops being valid.

A websocket is authorised once, at the upgrade; afterwards it would go on receiving screen pops (patient
names) after its user signed out, had their password reset or was deactivated. Every open socket is
registered here with the user's session version and the end of the session's lifetime; one task re-reads the
session versions of all watched users in one query every `recheck_seconds` and closes, with code 4401, the
sockets of a user who is gone or whose version moved on, and those whose session outlived `max_age`.
Sign-out closes the user's sockets at once (`end`). A socket an API client opened is watched the same way:
closed in the round after the client is revoked (its next request is refused at once; an open socket would
otherwise go on carrying screen pops).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

SESSION_ENDED = 4401  # a private-use close code (4000-4999): "sign in again"


@dataclass(eq=False)
class _Watched:
    ws: web.WebSocketResponse
    user_id: int | None
    version: int
    ends_at: float   # wall-clock end of the session's lifetime
    client_id: int | None = None   # an API client's socket (no user, no session)


class SessionSockets:
    def __init__(self, versions: Callable[[set[int]], Awaitable[dict[int, int]]],
                 recheck_seconds: float = 5.0, clock: Callable[[], float] = time.time,
                 active_clients: Callable[[set[int]], Awaitable[set[int]]] | None = None):
        self._versions = versions   # user id -> session version, for the active ones among the ids
        self._active_clients = active_clients   # the ids of the API clients not revoked, among the ids
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._open: list[_Watched] = []
        self._task: asyncio.Task | None = None

    def watching(self, ws: web.WebSocketResponse, user_id: int, version: int,
                 ends_at: float) -> AbstractAsyncContextManager[None]:
        return self._watch(_Watched(ws, user_id, version, ends_at))

    def watching_client(self, ws: web.WebSocketResponse, client_id: int) -> AbstractAsyncContextManager[None]:
        return self._watch(_Watched(ws, None, 0, float("inf"), client_id))

    @asynccontextmanager
    async def _watch(self, watched: _Watched) -> AsyncIterator[None]:
        self._open.append(watched)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="session-sockets")
        try:
            yield
        finally:
            self._open.remove(watched)

    async def end(self, user_id: int) -> None:
        """Close the user's sockets now (they signed out)."""
        await asyncio.gather(*(_close(w) for w in list(self._open) if w.user_id == user_id))

    async def recheck(self) -> None:
        watched = list(self._open)
        users = {w.user_id for w in watched if w.client_id is None}
        clients = {w.client_id for w in watched if w.client_id is not None}
        versions = await self._versions(users) if users else {}
        active = await self._active_clients(clients) if clients and self._active_clients else clients
        now = self._clock()
        stale = [w for w in watched if (w.client_id not in active if w.client_id is not None
                                        else versions.get(w.user_id) != w.version or now > w.ends_at)]
        await asyncio.gather(*(_close(w) for w in stale))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while self._open:
            await asyncio.sleep(self.recheck_seconds)
            try:
                await self.recheck()
            except Exception:  # a database hiccup: keep watching, the next round tries again
                log.exception("could not re-check the sessions of open websockets")


async def _close(watched: _Watched) -> None:
    if watched.client_id is not None:
        log.info("closing a websocket of API client id %d: the client was revoked", watched.client_id)
    else:
        log.info("closing a websocket of user id %d: the session ended", watched.user_id)
    with suppress(ConnectionError, RuntimeError):
        await watched.ws.close(code=SESSION_ENDED, message=b"session ended: sign in again")

"""Websockets of signed-in users, closed when the session that opened them stops being valid.

A websocket is authorised once, at the upgrade; afterwards it would go on receiving screen pops (patient
names) after its user signed out, had their password reset or was deactivated. Every open socket is
registered here with the user's session version and the end of the session's lifetime; one task re-reads the
session versions of all watched users in one query every `recheck_seconds` and closes, with code 4401, the
sockets of a user who is gone or whose version moved on, and those whose session outlived `max_age`.
Sign-out closes the user's sockets at once (`end`). API-client sockets are not watched: their token is.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

SESSION_ENDED = 4401  # a private-use close code (4000-4999): "sign in again"


@dataclass(eq=False)
class _Watched:
    ws: web.WebSocketResponse
    user_id: int
    version: int
    ends_at: float   # wall-clock end of the session's lifetime


class SessionSockets:
    def __init__(self, versions: Callable[[set[int]], Awaitable[dict[int, int]]],
                 recheck_seconds: float = 5.0, clock: Callable[[], float] = time.time):
        self._versions = versions   # user id -> session version, for the active ones among the ids
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._open: list[_Watched] = []
        self._task: asyncio.Task | None = None

    @asynccontextmanager
    async def watching(self, ws: web.WebSocketResponse, user_id: int, version: int,
                       ends_at: float) -> AsyncIterator[None]:
        watched = _Watched(ws, user_id, version, ends_at)
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
        if not self._open:
            return
        versions = await self._versions({w.user_id for w in self._open})
        now = self._clock()
        stale = [w for w in list(self._open) if versions.get(w.user_id) != w.version or now > w.ends_at]
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
    log.info("closing a websocket of user id %d: the session ended", watched.user_id)
    with suppress(ConnectionError, RuntimeError):
        await watched.ws.close(code=SESSION_ENDED, message=b"session ended: sign in again")

"""Agent consoles: one websocket per agent, noting when each screen pop arrives (wall clock)."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime

import aiohttp


@dataclass(frozen=True)
class Pop:
    call_id: str
    agent: str
    received: float   # time.time() when the benchmark's loop read the message
    sent_at: float    # the server's own stamp in the message (utcnow() when it built the pop)


class Consoles:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str):
        self._http = http
        self._base = base_url
        self._token = token
        self._tasks: list[asyncio.Task] = []
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.pops: list[Pop] = []
        self.other_messages = 0

    async def open(self, numbers: list[str]) -> None:
        for number in numbers:
            ws = await self._http.ws_connect(f"{self._base}/api/agents/{number}/ws",
                                             headers={"Authorization": f"Bearer {self._token}"})
            hello = await ws.receive_json(timeout=10)
            if hello.get("type") != "hello":
                raise RuntimeError(f"agent {number}'s console got {hello!r} instead of hello")
            self._sockets.append(ws)
            self._tasks.append(asyncio.create_task(self._read(number, ws), name=f"console-{number}"))

    async def _read(self, number: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            received = time.time()
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data.get("type") == "screen_pop":
                sent = datetime.fromisoformat(data["sent_at"]).timestamp()
                self.pops.append(Pop(data["call_id"], number, received, sent))
            else:
                self.other_messages += 1

    async def close(self) -> None:
        for ws in self._sockets:
            await ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

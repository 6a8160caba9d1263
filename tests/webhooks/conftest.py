"""A real HTTP receiver for webhook tests: an aiohttp server on a real socket of 127.0.0.1, answering each
request as the test scripts it (`Receiver.answers`: a status, or CLOSE to drop the connection unanswered)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from callcenter.config import WebhooksConfig
from callcenter.webhooks.signing import HEADER, verify

CLOSE = "close"
SECRET = "s3cret-for-the-tests-only"


@dataclass
class Received:
    delivery: str
    event: str
    type: str
    body: bytes
    signature: str
    answered: int | str
    done: bool = False  # the answer was given (False: still waiting, or the sender went away)

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    def verifies(self, secret: str = SECRET) -> bool:
        return verify(secret, self.signature, self.body, time.time())


@dataclass
class Receiver:
    url: str = ""
    answers: list = field(default_factory=list)  # consumed in order; then `default`
    default: int | str = 200
    delay: float = 0.0  # seconds before answering (a slow receiver)
    received: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.answered == 200 and r.done]

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        """Poll (on each request) until predicate(self) holds."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = self.answers.pop(0) if self.answers else self.default
        headers = request.headers
        got = Received(headers["X-Callcenter-Delivery"], headers["X-Callcenter-Event"],
                       headers["X-Callcenter-Event-Type"], body, headers.get(HEADER, ""), answer)
        self.received.append(got)
        self.changed.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        got.done = True
        self.changed.set()
        if answer == CLOSE:
            request.transport.close()  # no answer at all: the sender sees the connection closed
            raise asyncio.CancelledError
        return web.Response(status=answer)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()


@pytest.fixture
def settings() -> WebhooksConfig:
    """Fast: retries after 10-20 ms, a dead delivery after 3 attempts."""
    return WebhooksConfig(max_attempts=3, backoff_seconds=0.02, backoff_max_seconds=0.1, timeout_seconds=2.0,
                          lease_seconds=30.0, poll_seconds=0.05, batch=5)

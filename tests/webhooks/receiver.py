"""A real HTTP receiver for webhook tests: an aiohttp server on a real socket of 127.0.0.1, answering each
request as the test scripts it (`Receiver.answers`: a status, or CLOSE to drop the connection unanswered)."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

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
        try:
            async with asyncio.timeout(timeout):
                while not predicate(self):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            got = [(r.type, r.answered, r.done) for r in self.received]
            raise AssertionError(f"timed out after {timeout}s; got (type, answer, done): {got}") from None

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


async def serve(rec: Receiver) -> web.AppRunner:
    """Serve `rec` on a free port of 127.0.0.1 (sets rec.url); cleanup() the runner to stop."""
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    return runner

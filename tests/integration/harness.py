"""A running contact center wired to the sandbox Asterisk, for tests that place real calls."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from sqlalchemy import select, update

from callcenter import config as configuration
from callcenter.ari.client import AriClient
from callcenter.auth.clients import add_client
from callcenter.auth.permissions import SCOPES
from callcenter.db.database import Database
from callcenter.db.models import Agent, AuditEvent, Call, CallEvent, Recording
from callcenter.demo import seed_demo
from callcenter.main import Services, build, init_app, start, stop
from callcenter.simulate import place_call
from tests.openapi_conformance import Conformance

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "scripts" / "asterisk-sandbox"
# One sandbox Asterisk per test process. Under pytest-xdist each worker (gw0, gw1, ...) has its own instance,
# NAME-gwN on PORT+N, so that calls, channels and ARI apps of two workers never meet.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
SANDBOX_ROOT = Path(os.environ.get("CALLCENTER_SANDBOX_ROOT", "/var/lib/callcenter-sandbox/sid"))


def _instance(base: str, port: int, worker: str) -> tuple[str, int]:
    if not worker:
        return base, port
    return f"{base}-{worker}", port + int(worker.removeprefix("gw"))


TEST_INSTANCE, TEST_PORT = _instance(os.environ.get("CALLCENTER_TEST_INSTANCE", "test"),
                                     int(os.environ.get("CALLCENTER_TEST_ARI_PORT", "8089")), XDIST_WORKER)
# The [site] of every test configuration; its hospital-name prompt is installed with the sandbox (conftest).
HOSPITAL, CALLBACK = "City Hospital", "+1 555 555 0100"


def asterisk_recordings_dir() -> Path:
    """Where the test instance's Asterisk writes ARI recordings (its astspooldir/recording)."""
    return SANDBOX_ROOT / "var" / "spool" / f"asterisk-{TEST_INSTANCE}" / "recording"


def sandbox(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(SANDBOX), *args], check=check, timeout=timeout, capture_output=True, text=True)


def test_config(tmp_path: Path, database_url: str, password: str, **telephony) -> configuration.Config:
    cfg = configuration.load(config_file=tmp_path / "absent.toml", env={})
    cfg.state_dir = str(tmp_path / "state")
    cfg.database.url = database_url
    cfg.ari.url = f"http://127.0.0.1:{TEST_PORT}"
    cfg.ari.password = password
    cfg.ari.reconnect_max_delay = 1.0
    cfg.http.api_token = "test-token"   # the command-line tools' client (seeded_database adds it)
    cfg.recordings.dir = str(tmp_path / "recordings")
    cfg.site = dataclasses.replace(cfg.site, hospital_name=HOSPITAL, callback_number=CALLBACK)
    telephony = {"agent_ring_timeout": 4, "queue_announce_seconds": 4} | telephony
    cfg.telephony = dataclasses.replace(cfg.telephony, **telephony)
    return cfg


class ContactCenter:
    """The product under test plus the handles a test needs: HTTP client, database, an ARI client."""

    def __init__(self, services: Services, http: aiohttp.ClientSession, base_url: str, ari: AriClient):
        self.s = services
        self.http = http
        self.base_url = base_url
        self.ari = ari

    @property
    def headers(self) -> dict:
        return {"Authorization": "Bearer test-token"}

    async def set_agent(self, number: str, state: str, endpoint: str | None = None) -> dict:
        if endpoint:
            await self.set_endpoint(number, endpoint)
        async with self.http.post(f"{self.base_url}/api/agents/{number}/state", json={"state": state},
                                  headers=self.headers) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def set_endpoint(self, number: str, endpoint: str) -> None:
        await self.s.db.run(lambda s: s.execute(update(Agent).where(Agent.number == number)
                                                .values(endpoint=endpoint)))
        self.s.queues.agent(number).endpoint = endpoint

    async def call(self, caller: str, digits: str = "", hangup_after: float = 30, **kw) -> str:
        channel = await place_call(self.ari, self.s.cfg.telephony, caller=caller, digits=digits,
                                   hangup_after=hangup_after, first_delay=kw.get("first_delay", 1.5),
                                   digit_gap=kw.get("digit_gap", 1))
        return channel.id

    async def agent_socket(self, number: str) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(f"{self.base_url}/api/agents/{number}/ws",
                                        headers={"Authorization": "Bearer test-token"})
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        return ws

    async def wait_for(self, predicate, timeout: float = 60, what: str = "condition"):
        try:
            return await poll(predicate, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await self.diagnosis()}") from None

    async def diagnosis(self) -> str:
        """What the controller believes when a wait times out: each call row, each live call's state, unread
        events and where its task is waiting, and the channels Asterisk has. A stall then explains itself."""
        ari = self.s.ari
        lines = [f"controller: ARI connections={ari.connections} events={ari.events} "
                 f"connected={ari.connected.is_set()} event-log failures={self.s.events.failures}"]
        rows = await self.s.db.run(lambda s: s.scalars(select(Call)).all())
        lines += [f"row {r.id}: status={r.status} outcome={r.outcome} reason={r.end_reason}" for r in rows]
        for call in self.s.router.live_calls():
            lines.append(f"live call {call.id}: state={call.state.name} unread={call._inbox.qsize()} "
                         f"agent={getattr(call.agent, 'number', None)} "
                         f"agent_leg={call.legs.agent_channel_id}")
            lines += [f"    at {where}" for where in _awaiting(getattr(call, "task", None))]
        try:
            lines.append(f"asterisk channels: {[(c.id, c.state) for c in await self.ari.channels()]}")
        except Exception as exc:  # the diagnosis must not hide the timeout it explains
            lines.append(f"asterisk channels: unavailable ({exc!r})")
        lines += [f"agent {a.number}: {a.state} call={a.call_id}" for a in self.s.queues.agents.values()
                  if a.state != "logged_out"] if hasattr(self.s.queues, "agents") else []
        return "\n".join(lines)

    async def only_call(self) -> Call | None:
        await self.s.events.flush()
        rows = await self.s.db.run(lambda s: s.scalars(select(Call)).all())
        return rows[0] if len(rows) == 1 else None

    async def call_row(self, status: str | None = None, timeout: float = 60) -> Call:
        async def check():
            row = await self.only_call()
            return row if row is not None and (status is None or row.status == status) else None
        return await self.wait_for(check, timeout, f"the call to reach {status}")

    async def events(self, call_id: str) -> list[CallEvent]:
        await self.s.events.flush()
        return await self.s.db.run(lambda s: s.scalars(
            select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)).all())

    async def recordings(self) -> list[Recording]:
        await self.s.recordings.wait_idle()
        await self.s.events.flush()
        return await self.s.db.run(lambda s: s.scalars(select(Recording)).all())

    async def audits(self) -> list[AuditEvent]:
        await self.s.events.flush()
        return await self.s.db.run(lambda s: s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all())

    async def live_channels(self) -> list[str]:
        return [c.id for c in await self.ari.channels()]


async def poll(predicate, timeout: float = 60, what: str = "condition"):
    """Await `predicate()` until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def seeded_database(database_url: str) -> Database:
    """The test's database, migrated, with the demo data (agents' phones answer by themselves) and the API
    client whose secret the tests send (every scope)."""
    db = Database(database_url)
    db.upgrade()
    with db.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
        add_client(session, "test-harness", SCOPES, secret="test-token")   # ContactCenter.headers
    return db


@asynccontextmanager
async def seeded_center(password: str, database_url: str, tmp_path: Path,
                        configure: Callable[[configuration.Config], None] | None = None,
                        **telephony) -> AsyncIterator[ContactCenter]:
    """The contact center on the seeded database (seeded_database) and the test's Asterisk; `configure`
    changes the test configuration before it starts."""
    seeded_database(database_url).close()
    cfg = test_config(tmp_path, database_url, password, **telephony)
    if configure is not None:
        configure(cfg)
    center, close = await start_contact_center(cfg)
    try:
        yield center
    finally:
        await close()


async def start_contact_center(cfg: configuration.Config):
    from aiohttp import web
    services = build(cfg)
    app = init_app(cfg, services, managed=False)  # started here: the test waits for ARI before it goes on
    conformance = Conformance()  # every answer checked against the OpenAPI document (issue 15)
    conformance.watch(app)
    ari = AriClient(cfg.ari.url, cfg.ari.username, cfg.ari.password, "callcenter-test")
    await ari.start()
    await sweep_channels(ari)  # nothing a test before left on this Asterisk may enter this test's app
    await start(services)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    http = aiohttp.ClientSession()
    await asyncio.wait_for(services.ari.connected.wait(), 20)
    center = ContactCenter(services, http, f"http://127.0.0.1:{port}", ari)

    async def close():
        await sweep_channels(ari, wait=0)
        await http.close()
        await runner.cleanup()
        await stop(services)
        # What the controller dialed while stopping (an offer, a callback) goes too, before the next test.
        await sweep_channels(ari)
        await ari.close()
        conformance.assert_clean()
    return center, close


async def sweep_channels(ari: AriClient, wait: float = 10) -> None:
    """Hang up every channel of the test's Asterisk; then, for up to `wait` seconds, those still coming."""
    deadline = time.monotonic() + wait
    while True:
        try:
            channels = await ari.channels()
        except Exception:  # Asterisk gone (a test stopped it): nothing to sweep
            return
        for channel in channels:
            try:
                await ari.hangup(channel.id)
            except Exception:
                pass
        if not channels or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.2)


def _awaiting(task: asyncio.Task | None) -> list[str]:
    """Where a suspended task waits: its coroutines from the outermost in (Task.get_stack shows one frame)."""
    where, awaitable = [], task.get_coro() if task is not None and not task.done() else None
    while awaitable is not None and len(where) < 20:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            where.append(repr(awaitable)[:200])
            break
        where.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return where


def dumps(obj) -> str:
    return json.dumps(obj, default=str)

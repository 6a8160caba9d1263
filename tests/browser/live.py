"""A real console for tests: configuration, one user per role, sign-in helpers, and servers.

- `console_config(tmp_path, database_url)`: a Config for a test.
- `seed_role_users(database_url)`: migrate, then create ROLE_USERS (agent and nurse get desks 9001, 9002) and
  the tests' API client (`add_test_client`).
- `add_test_client(database_url)`: the API client "test-client" with every scope and the secret API_TOKEN
  ("test-token"), which tests send as `Authorization: Bearer test-token`.
- `console_server(services, ari=False)`: async context manager serving `init_app` on 127.0.0.1:<free port>,
  yields the base URL; with ari=True the services also drive Asterisk (tests needing the sandbox).
- `LiveConsole`: the same in a background thread with its own event loop, for the synchronous Playwright
  tests (`live.run(coro)` runs a coroutine in the server's loop).
- `wait_until(predicate, timeout, what)`: polls a synchronous check from the test's thread.
- `sign_in(client, username)`: signs an aiohttp test client in through the real login form; returns the
  page's CSRF token.
"""
from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher
from sqlalchemy import select

from callcenter import config as configuration
from callcenter.ari.client import AriClient
from callcenter.auth.clients import add_client
from callcenter.auth.permissions import SCOPES
from callcenter.auth.services import create_user
from callcenter.db.database import Database
from callcenter.db.models import Agent, AuditEvent, User
from callcenter.main import Services, build, init_app
from tests.openapi_conformance import Conformance

API_TOKEN = "test-token"   # the secret of the tests' API client (add_test_client)
TEST_CLIENT = "test-client"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class RoleUser:
    username: str
    display_name: str
    desk: str | None


ROLE_USERS = {
    "agent": RoleUser("agent1", "Avery Agent", "9001"),
    "nurse": RoleUser("nurse1", "Noor Nurse, RN", "9002"),
    "supervisor": RoleUser("supervisor1", "Sasha Supervisor", None),
    "admin": RoleUser("admin1", "Ari Admin", None),
    "relations": RoleUser("relations1", "Rory Relations", None),   # patient relations: tickets only
}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def console_config(tmp_path: Path, database_url: str) -> configuration.Config:
    cfg = configuration.load(config_file=tmp_path / "absent.toml", env={})
    cfg.state_dir = str(tmp_path / "state")
    cfg.database.url = database_url
    cfg.http.host = "127.0.0.1"
    cfg.http.api_token = API_TOKEN   # what the command-line tools would present
    cfg.http.session_key = "test-session-key"
    cfg.recordings.dir = str(tmp_path / "recordings")
    return cfg


def seed_role_users(database_url: str, hasher: PasswordHasher | None = None) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        hasher = hasher or PasswordHasher()
        with db.session() as session:
            for role, spec in ROLE_USERS.items():
                user = create_user(session, hasher, spec.username, role, spec.display_name, PASSWORD)
                if spec.desk:
                    session.add(Agent(user_id=user.id, number=spec.desk, name=spec.display_name,
                                      endpoint=f"Local/auto-{spec.desk}@agent-phones/n", skills=["general"]))
            add_client(session, TEST_CLIENT, SCOPES, secret=API_TOKEN)
    finally:
        db.close()


def add_test_client(database_url: str, *, name: str = TEST_CLIENT, scopes=tuple(SCOPES),
                    secret: str = API_TOKEN) -> None:
    """An API client in the (migrated) database: by default every scope, with the secret API_TOKEN."""
    db = Database(database_url)
    try:
        with db.session() as session:
            add_client(session, name, scopes, secret=secret)
    finally:
        db.close()


@asynccontextmanager
async def console_server(services: Services, *, ari: bool = False, host: str = "127.0.0.1",
                         conformance: Conformance | None = None) -> AsyncIterator[str]:
    """Serve the real application; the services start with it and stop when the block ends. With
    `conformance`, every answer is checked against the OpenAPI document (tests/openapi_conformance.py)."""
    app = init_app(services.cfg, services, ari=ari)
    if conformance is not None:
        conformance.watch(app)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class LiveConsole:
    """The console served from a background thread, so synchronous (Playwright) tests can drive it."""

    def __init__(self, cfg: configuration.Config, *, ari: bool = False):
        self.cfg = cfg
        self.ari = ari
        self.url = ""
        self.services: Services | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-console", daemon=True)
        self._stack = AsyncExitStack()
        self.conformance = Conformance()

    def start(self) -> LiveConsole:
        self._thread.start()
        self.run(self._start())
        return self

    def stop(self) -> None:
        """Stop the server; then fail if an answer it gave is not what the OpenAPI document describes."""
        try:
            self.run(self._stack.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
        self.conformance.assert_clean()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        if self.ari:
            # A caller a test before left on this Asterisk (still in the IVR or a queue) would be adopted by
            # this console's controller and offered to the first agent who becomes available.
            await _sweep_asterisk(self.cfg)
            self._stack.push_async_callback(_sweep_asterisk, self.cfg)  # what it dialed while stopping
        self.services = build(self.cfg)
        self.url = await self._stack.enter_async_context(console_server(self.services, ari=self.ari,
                                                                          conformance=self.conformance))

    # -- looking at the database (synchronously, from the test's thread) ---------------------------------

    def audit_actions(self) -> list[str]:
        self.run(self.services.events.flush())
        with self.services.db.session() as session:
            return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))

    def user(self, username: str) -> User:
        with self.services.db.session() as session:
            return session.scalar(select(User).where(User.username == username))


async def _sweep_asterisk(cfg: configuration.Config) -> None:
    from tests.integration.harness import sweep_channels
    ari = AriClient(cfg.ari.url, cfg.ari.username, cfg.ari.password, "callcenter-test")
    await ari.start()
    try:
        await sweep_channels(ari)
    finally:
        await ari.close()


def wait_until(predicate, timeout: float = 60, what: str = "condition"):
    """Poll `predicate()` from the test's thread until it returns something true (returned), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- aiohttp test clients -------------------------------------------------------------------------------


def origin(client) -> str:
    return str(client.make_url("/")).rstrip("/")


def page_csrf(html: str) -> str:
    found = CSRF_META.search(html)
    assert found, "the page has no csrf-token <meta>"
    return found.group(1)


async def sign_in(client, username: str, password: str = PASSWORD, next_: str = "/") -> str:
    """Sign in through the login form like a browser; returns the CSRF token of the signed-in session."""
    form_page = await client.get("/login", headers={"Accept": "text/html"})
    token = page_csrf(await form_page.text())
    data = {"username": username, "password": password, "csrf_token": token, "next": next_}
    response = await client.post("/login", data=data, headers={"Origin": origin(client)},
                                 allow_redirects=False)
    assert response.status == 303, await response.text()
    home = await client.get("/", headers={"Accept": "text/html"})
    assert home.status == 200, await home.text()
    return page_csrf(await home.text())

"""Playwright fixtures: Debian's Chromium (never a downloaded browser), a live console, signed-in pages.

- `browser`: one headless /usr/bin/chromium per test module.
- `console` (no Asterisk: console and API only) / `console_with_asterisk` (drives the sandbox Asterisk):
  a LiveConsole on a fresh SQLite database with one user per role (live.ROLE_USERS) and the demo data.
- `live`: `console_with_asterisk`, every channel hung up afterwards.
- `signed_in(role)`: a new page (1366x768) signed in through the real login form as that role's user.
- `screenshot(page, name)`: saves var/screenshots/NAME.png, to look at after the run.

Browser tests are synchronous (Playwright's sync API runs its own loop); the console runs in a thread.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from callcenter.ari.client import AriNotFound
from callcenter.db.database import Database
from callcenter.demo import seed_demo

from .live import PASSWORD, ROLE_USERS, LiveConsole, console_config, seed_role_users

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CALLCENTER_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required"]
VIEWPORT = {"width": 1366, "height": 768}
# Playwright's assertions poll and return as soon as they hold; its default bound of 5 s was hit by pages that
# load in 1 s on an idle machine, with the suite's 4 workers on 2 cores (scripts/test). Explicit timeouts win.
expect.set_options(timeout=15_000)


# Module scope, not session: Playwright's sync API keeps its own event loop running in the main thread while
# it is open, and the asyncio tests of later modules could not run their loops beside it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup (installs Debian's chromium)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _seeded_config(tmp_path: Path, endpoint_template: str):
    url = f"sqlite:///{tmp_path / 'console.db'}"
    seed_role_users(url)
    db = Database(url)
    try:
        with db.session() as session:
            seed_demo(session, endpoint_template)
    finally:
        db.close()
    return console_config(tmp_path, url)


@pytest.fixture
def console(tmp_path) -> Iterator[LiveConsole]:
    live = LiveConsole(_seeded_config(tmp_path, "Local/auto-{number}@agent-phones/n")).start()
    yield live
    live.stop()


@pytest.fixture
def console_searches_lapse(tmp_path) -> Iterator[LiveConsole]:
    """The console with `[desk] search_results_seconds = 0`: a search result is stale as soon as it is shown,
    as it is after half an hour or a restart, so opening it takes a break-the-glass reason."""
    cfg = _seeded_config(tmp_path, "Local/auto-{number}@agent-phones/n")
    cfg.desk.search_results_seconds = 0.0
    live = LiveConsole(cfg).start()
    yield live
    live.stop()


@pytest.fixture
def console_with_asterisk(tmp_path, asterisk) -> Iterator[LiveConsole]:
    """The console driving the sandbox Asterisk (the `asterisk` fixture of tests/conftest.py)."""
    from tests.integration.harness import test_config
    cfg = _seeded_config(tmp_path, "Local/auto-{number}@agent-phones/n")
    ari = test_config(tmp_path, cfg.database.url, asterisk)
    cfg.ari = ari.ari
    cfg.telephony = ari.telephony
    live = LiveConsole(cfg, ari=True).start()
    yield live
    live.stop()


@pytest.fixture
def live(console_with_asterisk) -> Iterator[LiveConsole]:
    """The console on the sandbox Asterisk; afterwards every channel is hung up, so a caller of this test is
    not taken over (as a call found after a restart) by the next test's console."""
    yield console_with_asterisk
    ari = console_with_asterisk.services.ari
    for channel in console_with_asterisk.run(ari.channels()):
        try:
            console_with_asterisk.run(ari.hangup(channel.id))
        except AriNotFound:  # already gone: its other half was hung up first
            pass


@pytest.fixture
def signed_in(browser: Browser, request) -> Callable[..., Page]:
    """signed_in(role, console=...) -> a page signed in as that role's user, on the console's home page."""
    contexts = []

    def open_as(role: str, live: LiveConsole | None = None) -> Page:
        live = live or request.getfixturevalue("console")
        context = browser.new_context(viewport=VIEWPORT, base_url=live.url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=username]", ROLE_USERS[role].username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path
    return save

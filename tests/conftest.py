"""Shared fixtures and the suite's tiers.

Markers, applied here from what a test uses so that none is missed: `asterisk` (the sandbox Asterisk, through
the `asterisk` fixture), `browser` (everything under tests/browser), `postgres` (the PostgreSQL server).
The fast tier, `scripts/test --fast`, is `-m "not asterisk and not browser and not postgres"`.

The calendar moves on: every test that runs only in this process (no Asterisk, no browser) runs with the wall
clock moved CLOCK_OFFSET_DAYS ahead (time-machine; monotonic time is untouched, so timeouts and asyncio are
unaffected). A test that pins a date for the product's clock and then compares with the wall clock fails on
every run, not on the day the calendar passes its date. CALLCENTER_TEST_CLOCK_OFFSET_DAYS=0 turns it off (to
tell such a failure from another). tests/test_suite_clocks.py checks the other tiers' test code statically.

Databases: `database_url` runs a test on SQLite (a file in tmp_path) and on PostgreSQL (a fresh database in
the sandbox server started by scripts/postgres-sandbox, dropped afterwards). `db` is an upgraded `Database`
on it (copied from a template migrated once per session).
Select one backend with `-m postgres` / `-m "not postgres"` (nothing is skipped: a missing server fails).
"""
from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from callcenter.config import SCRIPT_PREFIXES
from callcenter.db.database import Database
from tests.openapi_conformance import Conformance

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SANDBOX = PROJECT_ROOT / "scripts" / "postgres-sandbox"
# About two years and nine months: another year, month, weekday and side of daylight saving time.
CLOCK_OFFSET_DAYS = int(os.environ.get("CALLCENTER_TEST_CLOCK_OFFSET_DAYS", "1000"))
BROWSER_TESTS = PROJECT_ROOT / "tests" / "browser"


# -- tiers ---------------------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "asterisk" in fixtures:
            item.add_marker(pytest.mark.asterisk)
        if "postgres_server_url" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)


def pytest_report_header() -> str:
    moved = (datetime.now(UTC) + timedelta(days=CLOCK_OFFSET_DAYS)).date()
    return (f"wall clock of in-process tests: moved on {CLOCK_OFFSET_DAYS} days, to {moved} "
            "(CALLCENTER_TEST_CLOCK_OFFSET_DAYS)")


@pytest.fixture(autouse=True)
def _calendar_moved_on(request: pytest.FixtureRequest) -> Iterator[None]:
    """The wall clock moved ahead for tests whose clocks are all in this process. Asterisk and the browser
    keep their own clocks (Asterisk stamps recordings and channels, the browser formats dates), so their
    tests run on the real time."""
    node = request.node
    if CLOCK_OFFSET_DAYS == 0 or node.get_closest_marker("asterisk") or node.get_closest_marker("browser"):
        yield
        return
    with time_machine.travel(datetime.now(UTC) + timedelta(days=CLOCK_OFFSET_DAYS), tick=True):
        yield


# -- the sandbox Asterisk ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def asterisk() -> Iterator[str]:
    """Defined once, here: a second definition (the browser tests imported this one into their conftest) is a
    second session fixture that reinstalled the instance with a new password, and under pytest-xdist a worker
    running integration tests after browser tests got 401 from ARI.

    The sandbox Asterisk of this test process (each xdist worker has its own: harness.TEST_INSTANCE),
    freshly configured, with every prompt `callcenter prompts` renders: the catalog's and the site prompts of
    the tests' [site] (harness.test_config: the hospital's name). Yields the ARI password."""
    from tests.integration.harness import TEST_INSTANCE, TEST_PORT, sandbox
    password = secrets.token_urlsafe(16)
    sandbox("provision", timeout=900)
    sandbox("stop", "--instance", TEST_INSTANCE, check=False)
    with _prompts() as prompts:
        sandbox("install", "--instance", TEST_INSTANCE, "--http-port", str(TEST_PORT), "--ari-password",
                password, "--prompts", str(prompts))
    sandbox("start", "--instance", TEST_INSTANCE)
    yield password
    sandbox("stop", "--instance", TEST_INSTANCE, check=False)


@contextmanager
def _prompts() -> Iterator[Path]:
    """var/prompts (the catalog, shared with the developer's `callcenter prompts`) copied to var/test-prompts
    with the site prompts of the test configuration added, so the developer's own stay as their site says.

    Held until the caller has installed them: copytree rewrites every file, and a second xdist worker doing
    so while the first one's install read them made tar fail ("file changed as we read it"), leaving that
    worker with no Asterisk (132 errors in one CI run)."""
    from callcenter.campaigns.message import render_site_prompts
    from callcenter.prompts import generate
    from tests.integration.harness import ROOT, test_config
    catalog, out = ROOT / "ivr_flows" / "prompts.yaml", ROOT / "var" / "test-prompts"
    out.mkdir(parents=True, exist_ok=True)
    # xdist workers start their sessions together: one renders, the others wait and find the files made.
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        generate(catalog, ROOT / "var" / "prompts")
        shutil.copytree(ROOT / "var" / "prompts", out, dirs_exist_ok=True)
        render_site_prompts(test_config(out, "sqlite://", "").site, catalog, out)
        yield out


# -- databases -----------------------------------------------------------------------------------------------


def _sandbox(*args: str) -> str:
    result = subprocess.run([str(POSTGRES_SANDBOX), *args], capture_output=True, text=True, timeout=180,
                            check=False)
    if result.returncode != 0:
        pytest.fail(f"postgres-sandbox {' '.join(args)} failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The sandbox server's admin URL. Started once; stopped at the end only if this session started it, and
    never by an xdist worker (another worker may still use it; scripts/test starts it before the run)."""
    status = subprocess.run([str(POSTGRES_SANDBOX), "status"], capture_output=True, check=False)
    was_running = status.returncode == 0
    _sandbox("start")
    yield _sandbox("url")
    if not was_running and not os.environ.get("PYTEST_XDIST_WORKER"):
        _sandbox("stop")


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'callcenter.db'}"


DATABASE_URL_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}


@pytest.fixture(params=[
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(DATABASE_URL_FIXTURES[request.param])


def _migrate(url: str) -> None:
    database = Database(url)
    database.upgrade()
    database.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per session (per xdist worker)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once per session (per xdist worker)."""
    name = f"cc_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        _migrate(make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False))
        yield name
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _copy_template(request: pytest.FixtureRequest, database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with closing(sqlite3.connect(request.getfixturevalue("sqlite_template"))) as source, \
                closing(sqlite3.connect(url.database)) as target:
            source.backup(target)
        return
    template = request.getfixturevalue("postgres_template")
    admin = create_engine(request.getfixturevalue("postgres_server_url"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}" '
                                    'STRATEGY FILE_COPY'))
    finally:
        admin.dispose()


@pytest.fixture
def db(request: pytest.FixtureRequest, database_url: str) -> Iterator[Database]:
    """A Database with the schema migrated to head: a copy of a database migrated once per session (running
    the migrations took about 0.4 s a test, on each of ~500 tests)."""
    _copy_template(request, database_url)
    database = Database(database_url)
    yield database
    database.close()


# -- the OpenAPI document (issue 15) -------------------------------------------------------------------------


@pytest.fixture
def openapi_conformance() -> Iterator[Conformance]:
    """Every answer of an app served by `aiohttp_client`/`aiohttp_server` checked against the app's OpenAPI
    document (tests/openapi_conformance.py); the test fails at teardown with what the document lacks."""
    conformance = Conformance()
    yield conformance
    conformance.assert_clean()


@pytest.fixture
def aiohttp_client(aiohttp_client, openapi_conformance: Conformance):
    """pytest-aiohttp's `aiohttp_client`, the answers of an application it serves checked by the document."""
    async def client(app_or_server, *args, **kwargs):
        openapi_conformance.watch(app_or_server)
        return await aiohttp_client(app_or_server, *args, **kwargs)
    return client


@pytest.fixture
def aiohttp_server(aiohttp_server, openapi_conformance: Conformance):
    """pytest-aiohttp's `aiohttp_server`, checked like `aiohttp_client`."""
    async def server(app, *args, **kwargs):
        openapi_conformance.watch(app)
        return await aiohttp_server(app, *args, **kwargs)
    return server


@pytest.fixture
def isolated(monkeypatch, tmp_path: Path) -> Path:
    """The `callcenter` command's environment for a test: state in tmp_path/state, its config file
    tmp_path/callcenter.toml (absent unless the test writes it), and no CALLCENTER_* setting leaking in from
    the shell (the scripts' own prefixes stay). tmp_path."""
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and not name.startswith(SCRIPT_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "callcenter.toml"))
    return tmp_path

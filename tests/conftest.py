"""Shared fixtures.

Databases: `database_url` runs a test on SQLite (a file in tmp_path) and on PostgreSQL (a fresh database in
the sandbox server started by scripts/postgres-sandbox, dropped afterwards). `db` is an upgraded `Database`
on it.
Select one backend with `-m postgres` / `-m "not postgres"` (nothing is skipped: a missing server fails).
"""
from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from callcenter.db.database import Database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SANDBOX = PROJECT_ROOT / "scripts" / "postgres-sandbox"


# -- databases -----------------------------------------------------------------------------------------------


def _sandbox(*args: str) -> str:
    result = subprocess.run([str(POSTGRES_SANDBOX), *args], capture_output=True, text=True, timeout=180,
                            check=False)
    if result.returncode != 0:
        pytest.fail(f"postgres-sandbox {' '.join(args)} failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The sandbox server's admin URL. Started once; stopped at the end only if this session started it."""
    status = subprocess.run([str(POSTGRES_SANDBOX), "status"], capture_output=True, check=False)
    was_running = status.returncode == 0
    _sandbox("start")
    yield _sandbox("url")
    if not was_running:
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


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database with the schema migrated to head."""
    database = Database(database_url)
    database.upgrade()
    yield database
    database.close()

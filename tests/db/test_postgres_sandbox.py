"""scripts/postgres-sandbox on a data dir of its own: the server it starts must not keep the script's lock.

CI once failed every PostgreSQL test this way: `scripts/test` started the server, the postmaster inherited the
lock's descriptor, and each test process's `start` then timed out waiting for a lock the server held forever.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres-sandbox"

# Root, as scripts/test and CI run it: the sandbox runs its server as the postgres user.
pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sandbox_env() -> dict[str, str]:
    # Not under pytest's tmp_path: the postgres user cannot enter root's 0700 temporary directories.
    parent = Path(tempfile.mkdtemp(prefix="cc-pg-sandbox-", dir="/var/tmp"))
    parent.chmod(0o755)
    env = {**os.environ, "CALLCENTER_PG_DIR": str(parent / "pg"), "CALLCENTER_PG_PORT": str(free_port())}
    yield env
    subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60, check=False)
    shutil.rmtree(parent, ignore_errors=True)


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def lock_holders(lock: Path) -> list[int]:
    """Pids with the lock file open (read from /proc)."""
    holders = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(lock) for fd in fd_dir.iterdir()):
                holders.append(int(fd_dir.parent.name))
        except OSError:
            continue
    return holders


def test_given_a_fresh_data_dir_when_started_then_the_server_holds_no_lock_and_start_and_stop_answer_at_once(
        sandbox_env):
    first = run(sandbox_env, "start")
    assert first.returncode == 0, first.stderr
    lock = Path(sandbox_env["CALLCENTER_PG_DIR"]).parent / ".pg.lock"
    assert lock.exists()
    assert lock_holders(lock) == []

    began = time.monotonic()
    again = run(sandbox_env, "start", timeout=30)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert time.monotonic() - began < 10

    url = run(sandbox_env, "url").stdout.strip()
    assert f":{sandbox_env['CALLCENTER_PG_PORT']}/postgres" in url

    stop = run(sandbox_env, "stop", timeout=30)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stderr
    assert run(sandbox_env, "status").returncode == 3

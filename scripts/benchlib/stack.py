"""What a benchmark runs against: its own sandbox Asterisk instance, its own state directory and SQLite
database, and the controller (`callcenter serve`) as a child process configured through CALLCENTER_* env."""
from __future__ import annotations

import asyncio
import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from callcenter.auth.clients import add_client
from callcenter.db.database import Database
from callcenter.db.models import Agent, PatientPhone, Queue

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "scripts" / "asterisk-sandbox"
CALLCENTER = ROOT / ".venv" / "bin" / "callcenter"
PROMPTS = ROOT / "var" / "prompts"
SANDBOX_ROOT = Path(os.environ.get("CALLCENTER_SANDBOX_ROOT", "/var/lib/callcenter-sandbox/sid"))


class StackError(Exception):
    """The benchmark's own infrastructure failed: the run is broken, not the product slow."""


@dataclass
class Settings:
    instance: str
    ari_port: int
    http_port: int
    work: Path
    record: bool
    profile: Path | None = None  # cProfile the controller into this file (stats written when it stops)
    password: str = ""
    token: str = ""

    def __post_init__(self) -> None:
        self.password = self.password or secrets.token_urlsafe(18)
        self.token = self.token or secrets.token_urlsafe(24)

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.ari_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.work / 'state' / 'bench.db'}"

    @property
    def asterisk_log(self) -> Path:
        return SANDBOX_ROOT / "var" / "log" / f"asterisk-{self.instance}" / "messages.log"

    @property
    def recording_dir(self) -> Path:
        return SANDBOX_ROOT / "var" / "spool" / f"asterisk-{self.instance}" / "recording"

    @property
    def monitor_dir(self) -> Path:
        return SANDBOX_ROOT / "var" / "spool" / f"asterisk-{self.instance}" / "monitor"

    def env(self) -> dict[str, str]:
        """The controller's whole configuration; the caller's own CALLCENTER_* settings are left out, and the
        callcenter package is this checkout's, whichever one the virtualenv was installed from."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        return env | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "CALLCENTER_CONFIG": str(self.work / "absent.toml"),
            "CALLCENTER_STATE_DIR": str(self.work / "state"),
            "CALLCENTER_DATABASE_URL": self.database_url,
            "CALLCENTER_ARI_URL": self.ari_url,
            "CALLCENTER_ARI_PASSWORD": self.password,
            "CALLCENTER_HTTP_PORT": str(self.http_port),
            "CALLCENTER_HTTP_API_TOKEN": self.token,
            "CALLCENTER_RECORDINGS_DIR": str(self.work / "recordings"),
            "CALLCENTER_RECORDINGS_ENABLED": "true" if self.record else "false",
            # Asterisk runs on this machine: finished recordings are taken from its directory, not over ARI.
            "CALLCENTER_RECORDINGS_ASTERISK_DIR": str(self.recording_dir),
        }


# -- Asterisk ----------------------------------------------------------------------------------------------

def sandbox(*args: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run([str(SANDBOX), *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StackError(f"asterisk-sandbox {args[0]} took more than {timeout:g} s") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip()
        raise StackError(f"asterisk-sandbox {' '.join(args[:3])} failed: {why}")
    return done.stdout


def start_asterisk(s: Settings) -> int:
    """(Re)start the instance with a fresh password and the current dialplan; returns its pid."""
    sandbox("provision", timeout=1800)
    run_callcenter(s, "prompts", "--out", str(PROMPTS), timeout=600)
    sandbox("install", "--instance", s.instance, "--http-port", str(s.ari_port),
            "--ari-password", s.password, "--prompts", str(PROMPTS))
    sandbox("stop", "--instance", s.instance)
    sandbox("start", "--instance", s.instance)
    return asterisk_pid(s)


def asterisk_pid(s: Settings) -> int:
    found = re.search(r"\(pid (\d+)", sandbox("status", "--instance", s.instance))
    if not found:
        raise StackError(f"asterisk-sandbox status --instance {s.instance} printed no pid")
    return int(found.group(1))


def stop_asterisk(s: Settings) -> None:
    sandbox("stop", "--instance", s.instance, timeout=60)


# -- state: database, demo data, bench agents -------------------------------------------------------------

def run_callcenter(s: Settings, *args: str, timeout: float = 120) -> str:
    done = subprocess.run([str(CALLCENTER), *args], env=s.env(), capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise StackError(f"callcenter {args[0]} failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


@dataclass(frozen=True)
class Seeded:
    agents: list[str]
    known_numbers: list[str]
    skills: list[str]


def prepare_state(s: Settings, agents: int) -> Seeded:
    (s.work / "state").mkdir(parents=True, exist_ok=True)
    run_callcenter(s, "setup")
    run_callcenter(s, "seed-demo")
    db = Database(s.database_url)
    try:
        with db.session() as session:
            # The benchmark reads /api/metrics and drives desks: an API client with those scopes (the server
            # accepts named clients only, issue 14; `setup` registered the token as "cli", without metrics).
            _, s.token = add_client(session, "bench", ("calls", "desk", "metrics"))
            return _add_agents(session, agents)
    finally:
        db.close()


def _add_agents(session, count: int) -> Seeded:
    """Bench agents 2001.. with every queue's skill and both languages, on auto-answer test phones."""
    skills = sorted({q.skill or q.name for q in session.scalars(select(Queue))})
    numbers = [str(2001 + i) for i in range(count)]
    for number in numbers:
        session.add(Agent(number=number, name=f"Bench agent {number}", skills=skills, languages=["en", "es"],
                          endpoint=f"Local/auto-{number}@agent-phones/n", state="logged_out"))
    known = sorted(set(session.scalars(select(PatientPhone.e164))))
    return Seeded(numbers, known, skills)


# -- the controller -----------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies without cleaning up (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Controller:
    def __init__(self, s: Settings, log_path: Path):
        self.s = s
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            # Own session: a Ctrl-C in the terminal reaches the benchmark, which stops the controller itself.
            command = [str(CALLCENTER), "serve"]
            if self.s.profile:
                command = [sys.executable, "-m", "cProfile", "-o", str(self.s.profile), *command]
            self.proc = subprocess.Popen(command, env=self.s.env(), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.alive():
                raise StackError(f"callcenter serve exited ({self.proc.returncode}); see {self.log_path}")
            if (await self.health(http)).get("ari_connected"):
                return
            await asyncio.sleep(0.3)
        raise StackError(f"callcenter serve not connected to ARI within {timeout:g} s; see {self.log_path}")

    async def metrics(self, http: aiohttp.ClientSession) -> dict[str, float]:
        """The controller's /api/metrics, label-less samples only: {name: value}."""
        headers = {"Authorization": f"Bearer {self.s.token}"}
        async with http.get(self.s.http_url + "/api/metrics", headers=headers,
                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                raise StackError(f"/api/metrics answered {resp.status}: {(await resp.text())[:200]}")
            text = await resp.text()
        return {sample.name: sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples if not sample.labels}

    async def health(self, http: aiohttp.ClientSession) -> dict:
        try:
            async with http.get(self.s.http_url + "/health", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                return await resp.json() if resp.status == 200 else {}
        except (TimeoutError, aiohttp.ClientError):
            return {}

    def stop(self, timeout: float = 20) -> int | None:
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


async def set_available(http: aiohttp.ClientSession, s: Settings, numbers: list[str]) -> None:
    headers = {"Authorization": f"Bearer {s.token}"}
    for number in numbers:
        async with http.post(f"{s.http_url}/api/agents/{number}/state", json={"state": "available"},
                             headers=headers) as resp:
            if resp.status != 200:
                raise StackError(f"agent {number} could not go available: {resp.status} {await resp.text()}")

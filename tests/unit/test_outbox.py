"""The one outbox worker's own rules (callcenter/outbox.py); each outbox's sending is tested with its real
receiver (tests/webhooks, tests/sms with Kannel)."""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcenter.outbox import OutboxWorker

NOW = datetime(2026, 3, 2, 9, 0)


@dataclass
class Settings:
    max_attempts: int = 4
    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 30.0
    timeout_seconds: float = 1.0
    lease_seconds: float = 60.0
    poll_seconds: float = 60.0  # longer than any test: only a kick wakes the worker
    batch: int = 10
    worker: str = ""


class FakeDb:
    def __init__(self) -> None:
        self.released: list[str] = []

    async def run_retrying(self, fn, *args):
        return fn(None, *args)


class ScriptedOutbox:
    """Fails its first round (the database away), then counts rounds; its claims are handed back to the db."""
    kind = "test"

    def __init__(self, db: FakeDb) -> None:
        self.db, self.rounds, self.round_done = db, 0, asyncio.Event()

    async def round(self, worker, http) -> bool:
        self.rounds += 1
        self.round_done.set()
        if self.rounds == 1:
            raise ConnectionError("database away")
        return False

    def release(self, session, worker: str) -> int:
        self.db.released.append(worker)
        return 0


def worker_with(**settings) -> OutboxWorker:
    db = FakeDb()
    return OutboxWorker(db, Settings(**settings), ScriptedOutbox(db), name="w1",
                        rng=random.Random(7), clock=lambda: NOW)


def test_given_failed_attempts_when_the_backoff_is_asked_then_it_doubles_to_the_cap_with_at_most_half_off():
    worker = worker_with()

    delays = [worker.backoff(attempts) for attempts in (1, 2, 3, 4)]

    for delay, full in zip(delays, (10.0, 20.0, 30.0, 30.0), strict=True):
        assert full / 2 <= delay <= full


def test_given_the_last_allowed_attempt_failed_when_retry_at_is_asked_then_none_else_a_later_time():
    worker = worker_with(max_attempts=3)

    assert worker.retry_at(3) is None
    assert NOW + timedelta(seconds=5) <= worker.retry_at(1) <= NOW + timedelta(seconds=10)


def test_given_no_name_configured_when_built_then_the_name_says_host_process_and_kind():
    db = FakeDb()

    worker = OutboxWorker(db, Settings(), ScriptedOutbox(db))

    assert "-test-" in worker.name
    assert OutboxWorker(db, Settings(worker="ctl-2"), ScriptedOutbox(db)).name == "ctl-2"


async def test_given_a_failing_round_when_kicked_then_it_runs_again_and_stop_hands_back_the_claims(caplog):
    db = FakeDb()
    outbox = ScriptedOutbox(db)
    worker = OutboxWorker(db, Settings(), outbox, name="w1")
    worker.start()
    await asyncio.wait_for(outbox.round_done.wait(), 5)
    outbox.round_done.clear()

    worker.kick()
    await asyncio.wait_for(outbox.round_done.wait(), 5)
    await worker.stop()

    assert outbox.rounds == 2
    assert "test outbox: a round failed" in caplog.text
    assert db.released == ["w1"]

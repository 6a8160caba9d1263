"""Fixtures of the webhook tests: a real receiver (receiver.py) and fast delivery settings."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callcenter.config import WebhooksConfig

from .receiver import Receiver, serve


async def until(predicate, timeout: float = 10.0) -> None:
    """Poll an async predicate (a database-side condition) until it holds."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    runner = await serve(rec)
    yield rec
    await runner.cleanup()


@pytest.fixture
def settings() -> WebhooksConfig:
    """Fast: retries after 10-20 ms, a dead delivery after 3 attempts."""
    return WebhooksConfig(max_attempts=3, backoff_seconds=0.02, backoff_max_seconds=0.1, timeout_seconds=2.0,
                          lease_seconds=30.0, poll_seconds=0.05, batch=5)

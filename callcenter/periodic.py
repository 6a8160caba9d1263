"""The one loop of a background job that runs every so many seconds in `callcenter serve` (the KPI store's
refresh, the campaign scheduler's tick, the complaints' escalation, the care plans' planning, the mail poll):
a task that runs the job, logs a failing run and goes on, and is cancelled at stop. Top-level, so that a
feature package needs no other feature package for it.

Jobs that work through a queue and want waking (outboxes) have theirs in outbox.py.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, job: Callable[[], Awaitable[object]], every: float, *, name: str,
                 wait_first: bool = False):
        """`job` every `every` seconds, at once when started unless `wait_first`; `name` names the task and
        the log line of a failed run."""
        self._job, self._every, self.name, self._wait_first = job, every, name, wait_first
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        if self._wait_first:
            await asyncio.sleep(self._every)
        while True:
            try:
                await self._job()
            except Exception:  # a failing run must not end the job: the next one tries again
                log.exception("%s: a run failed", self.name)
            await asyncio.sleep(self._every)

"""The one periodic-job loop (callcenter/periodic.py): its users' jobs are tested where they live
(tests/kpi/test_store.py, tests/campaigns/test_scheduler.py, tests/mail/test_intake.py)."""
from __future__ import annotations

import asyncio

from callcenter.periodic import Periodic


class Job:
    """Fails its first run, then counts; `ran` is set at the third run."""

    def __init__(self) -> None:
        self.runs, self.ran = 0, asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        if self.runs == 3:
            self.ran.set()
        if self.runs == 1:
            raise ConnectionError("database away")


async def test_given_a_failing_run_when_the_job_goes_on_then_it_is_logged_and_the_next_runs_come(caplog):
    job = Job()
    periodic = Periodic(job, 0.01, name="test-job")
    periodic.start()

    await asyncio.wait_for(job.ran.wait(), 5)
    await periodic.stop()

    assert "test-job: a run failed" in caplog.text
    runs = job.runs
    await asyncio.sleep(0.05)  # stopped: no run comes after
    assert job.runs == runs


async def test_given_wait_first_when_started_then_no_run_before_the_first_interval():
    job = Job()
    periodic = Periodic(job, 60.0, name="test-job", wait_first=True)
    periodic.start()
    await asyncio.sleep(0)

    await periodic.stop()

    assert job.runs == 0

"""bench-careplans: planning a month of care-plan follow-ups for N enrolled patients (default 100k).

Builds a SQLite database (var/bench-careplans-N.db, cached) with N patients, each with a primary phone and
one active care plan, written straight with executemany in the storage format of the models: schedules
every 14 days (half), monthly (30 %, some from the 29th-31st) and weekly (20 %), start days spread over the
past year, a fifth on the automated channel (a campaign), every plan planned through yesterday as a running
server leaves them. Then, on a fresh copy of the cached file each run, times:
- plan(days_ahead=30): the follow-ups of the next month (about 2.5 per plan) and the automated ones due
  today handed to their campaign as targets;
- the same plan again (idempotent: nothing new);
- a plan a month later with the calendar moved on (the next month's follow-ups).
Target: the month's plan < 5 s for 100k enrolled patients. Each step prints its wall time and the process's
CPU time (on a shared, loaded machine the wall time also holds the waits for a CPU).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from callcenter.careplans.services import CarePlanService
from callcenter.db.database import Database

from .cpu import Stopwatch
from .seed import seed_patients

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)        # 10:00 at the hospital (New York)
TODAY = date(2026, 11, 24)
ZONE = "America/New_York"
TARGET_SECONDS = 5.0
SCHEDULES = ("FREQ=DAILY;INTERVAL=14",) * 5 + ("FREQ=MONTHLY",) * 3 + ("FREQ=WEEKLY",) * 2


def main() -> None:
    p = argparse.ArgumentParser(prog="bench-careplans", description=__doc__)
    p.add_argument("--patients", type=int, default=100_000)
    p.add_argument("--regenerate", action="store_true")
    args = p.parse_args()
    cached = ROOT / "var" / f"bench-careplans-{args.patients}.db"
    if args.regenerate or not cached.exists():
        generate(cached, args.patients)
    work = cached.with_suffix(".run.db")
    _copy(cached, work)
    figures = asyncio.run(measure(work))
    figures["enrolled_patients"] = args.patients
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    report(figures)
    (ROOT / "var" / "bench-careplans.json").write_text(json.dumps(figures, indent=2))


def _copy(cached: Path, work: Path) -> None:
    """A fresh copy to plan on, on disk before the clock starts: else the first commit's checkpoint fsync
    would write the copy's pages too, the benchmark's set-up counted as planning."""
    for stale in (work, work.with_name(work.name + "-wal"), work.with_name(work.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(cached, work)
    with open(work, "rb") as f:
        os.fsync(f.fileno())


def generate(path: Path, count: int) -> None:
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.close()
    created = _stored(NOW - timedelta(days=400))
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO users (id, username, display_name, role, active, created_at, failed_logins, "
                  "session_version, must_change_password) "
                  "VALUES (1, 'nurse', 'Nurse', 'nurse', 1, ?, 0, 0, 0)", (created,))
        seed_patients(c, count, created)
        c.executemany(
            "INSERT INTO care_plans (id, patient_id, kind, condition, department, starts_on, schedule, "
            "questionnaire_code, channel, campaign_name, nurse_user_id, max_tries, status, planned_through, "
            "created_at) VALUES (?, ?, 'chronic', 'Hypertension', 'Cardiology', ?, ?, 'hypertension', ?, ?, "
            "1, 3, 'active', ?, ?)", (_plan(i, yesterday, created) for i in range(1, count + 1)))
    print(f"generated {count} patients and care plans in {time.perf_counter() - started:.1f} s -> {path}")


def _plan(i: int, yesterday: str, created: str) -> tuple:
    automated = i % 5 == 0
    starts = TODAY - timedelta(days=1 + i % 365)
    return (i, i, starts.isoformat(), SCHEDULES[i % len(SCHEDULES)], "automated" if automated else "agent",
            "bench-care" if automated else None, yesterday, created)


def _stored(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def measure(path: Path) -> dict:
    clock = {"now": NOW}
    db = Database(f"sqlite:///{path}")
    # Planning needs neither questionnaires nor campaign definitions (enrolment and the preview do).
    service = CarePlanService(db, ZONE, None, None, clock=lambda: clock["now"])
    try:
        figures = {}
        for label in ("month", "replan", "next_month"):
            if label == "next_month":
                clock["now"] = NOW + timedelta(days=30)
            # Wall time split into CPU of this process (its threads included: what the planning costs
            # whatever else the machine runs), waits for a CPU other processes held, and the rest (disk).
            with Stopwatch() as watch:
                plan = await service.plan(days_ahead=30)
            figures.update(watch.figures(f"plan_{label}"))
            figures[f"plan_{label}_followups"] = plan.created
            figures[f"plan_{label}_targets"] = plan.targets
        return figures
    finally:
        db.close()


def report(figures: dict) -> None:
    print(json.dumps(figures, indent=2))
    month, cpu = figures["plan_month_seconds"], figures["plan_month_cpu_seconds"]
    waited, blocked = figures["plan_month_waiting_for_cpu_seconds"], figures["plan_month_blocked_seconds"]
    verdict = "meets" if month < TARGET_SECONDS else "MISSES"
    print(f"a month of follow-ups for {figures['enrolled_patients']} enrolled patients: {month:.2f} s wall = "
          f"{cpu:.2f} s of CPU + {waited:.2f} s waiting for a CPU other processes held + {blocked:.2f} s "
          f"blocked (disk); load average {figures['load_average_1min']} on {os.cpu_count()} cores "
          f"({verdict} the target of < {TARGET_SECONDS:.0f} s)")


if __name__ == "__main__":
    main()

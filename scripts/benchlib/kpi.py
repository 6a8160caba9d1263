"""bench-kpi: generate a year of call events (1M calls by default) straight into SQLite with executemany,
in the same storage format the models write, then time KpiService on the daily dashboard and a month report:
in a fresh process with an empty KPI store (cold), in a fresh process with the store current (fresh), and the
best of the repeats in one process (warm).

The file is cached (var/bench-kpi.db, keyed by the call count): the first run generates, later runs measure.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from callcenter import config
from callcenter.db.database import Database
from callcenter.kpi.compute import KpiService

ROOT = Path(__file__).resolve().parents[2]
QUEUES = [("scheduling", 30), ("clinical", 120), ("general", 30), ("pharmacy", 60)]
AGENTS = 60
LAST_DAY = date(2026, 11, 20)
INSERT = ("INSERT INTO call_events (call_id, ts, type, agent_id, queue_name, data) "
          "VALUES (?, ?, ?, ?, ?, ?)")


def main() -> None:
    p = argparse.ArgumentParser(prog="bench-kpi", description=__doc__)
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=365, help="the calls are spread over this many days")
    p.add_argument("--regenerate", action="store_true")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed warm runs of each report (after the cold and fresh-process ones); best shown")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a single report in a fresh process
    p.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        one(args.file, args.one)
        return
    path = ROOT / "var" / f"bench-kpi-{args.calls}-{args.days}.db"
    if args.regenerate or not path.exists():
        generate(path, args.calls, args.days)
    measure(path, args.repeat)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores a naive-UTC DateTime in SQLite


def generate(path: Path, calls: int, days: int) -> None:
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.executemany("INSERT INTO queues (name, title, skill, service_level_seconds, moh_class, priority) "
                    "VALUES (?, ?, ?, ?, 'default', 0)", [(q, q.title(), q, sl) for q, sl in QUEUES])
    con.executemany("INSERT INTO agents (id, number, name, endpoint, skills, languages, state, state_since) "
                    "VALUES (?, ?, ?, ?, '[]', '[]', 'logged_out', ?)",
                    [(i, str(1000 + i), f"Agent {i}", f"Local/{1000 + i}", _ts(datetime(2026, 1, 1)))
                     for i in range(1, AGENTS + 1)])
    rng = random.Random(7)
    per_day = calls // days
    first = LAST_DAY - timedelta(days=days - 1)
    rows = 0
    for n in range(days):
        extra = calls % days if n == days - 1 else 0
        day_rows = list(_day(rng, first + timedelta(days=n), per_day + extra))
        con.executemany(INSERT, day_rows)
        rows += len(day_rows)
    con.commit()
    con.close()
    print(f"generated {calls} calls, {rows} events in {time.perf_counter() - started:.1f} s -> {path}")


def _day(rng: random.Random, day: date, calls: int):
    """Calls between 07:00 and 21:00 UTC; 88% answered, 8% abandoned, 4% short abandons; agents in wrap-up."""
    base = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
    for _ in range(calls):
        call_id = uuid.UUID(int=rng.getrandbits(128)).hex
        t0 = base + timedelta(seconds=rng.uniform(0, 14 * 3600))
        queue = rng.choice(QUEUES)[0]
        patient = rng.randrange(1, 200_000)
        yield call_id, _ts(t0), "call_started", None, None, '{"caller_status": "valid"}'
        yield call_id, _ts(t0 + timedelta(seconds=1)), "caller_identified", None, None, \
            json.dumps({"patient_id": patient, "candidates": 1})
        tq = t0 + timedelta(seconds=rng.uniform(10, 60))
        yield call_id, _ts(tq), "queued", None, queue, '{"priority": 0}'
        fate = rng.random()
        if fate < 0.12:
            wait = rng.uniform(1, 4) if fate < 0.04 else rng.uniform(6, 300)
            yield call_id, _ts(tq + timedelta(seconds=wait)), "ended", None, queue, \
                '{"outcome": "abandoned", "reason": "caller_hangup"}'
            continue
        agent = rng.randrange(1, AGENTS + 1)
        ring = tq + timedelta(seconds=rng.expovariate(1 / 25))
        answer = ring + timedelta(seconds=rng.uniform(2, 8))
        end = answer + timedelta(seconds=rng.expovariate(1 / 240))
        back = end + timedelta(seconds=rng.uniform(10, 90))
        yield call_id, _ts(ring), "agent_state", agent, None, '{"state": "ringing", "reason": null}'
        yield call_id, _ts(ring), "offered", agent, queue, '{"endpoint_kind": "Local"}'
        yield call_id, _ts(answer), "agent_state", agent, None, '{"state": "on_call", "reason": null}'
        yield call_id, _ts(answer), "connected", agent, queue, "{}"
        yield call_id, _ts(end), "ended", agent, queue, '{"outcome": "completed", "reason": "caller_hangup"}'
        yield call_id, _ts(end), "agent_state", agent, None, '{"state": "wrapup", "reason": null}'
        yield call_id, _ts(back), "agent_state", agent, None, '{"state": "available", "reason": null}'


CASES = [
    ("daily dashboard (one day by 15-min interval)", 0, "interval"),
    ("daily dashboard (one day by queue)", 0, "queue"),
    ("month report (30 days by day)", 29, "day"),
]


def _service(path: Path) -> tuple[Database, KpiService]:
    cfg = config.load(env={})
    cfg.site.time_zone = "America/New_York"
    db = Database(f"sqlite:///{path}")
    return db, KpiService(db, cfg)


def _run(db: Database, kpi: KpiService, case: int):
    _, days_before, by = CASES[case]
    day_start = datetime(2026, 11, 20, tzinfo=kpi.settings.tz)
    started = time.perf_counter()
    with db.session() as session:  # a request's transaction: commits what the report stored
        report = kpi.compute_sync(session, day_start - timedelta(days=days_before),
                                  day_start + timedelta(days=1), by=by)
    return time.perf_counter() - started, report


def _fresh_process(path: Path, case: int) -> float:
    """One report in a new Python process: nothing cached in memory, only what the database holds."""
    out = subprocess.run([sys.executable, "-m", "benchlib.kpi", "--one", str(case), "--file", str(path)],
                         check=True, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "scripts")}).stdout
    return float(out.split()[-1])


def one(path: Path, case: int) -> None:
    db, kpi = _service(path)
    seconds, _ = _run(db, kpi, case)
    db.close()
    print(f"{seconds:.4f}")


def _empty_store(db: Database) -> None:
    with db.session() as session:
        for table in ("kpi_facts", "kpi_calls", "kpi_days", "kpi_state"):
            session.connection().exec_driver_sql(f"DELETE FROM {table}")


def measure(path: Path, repeat: int) -> None:
    db, kpi = _service(path)
    upgrade_started = time.perf_counter()
    db.upgrade()  # a file generated before a migration gets it
    upgraded = time.perf_counter() - upgrade_started
    if upgraded > 1:
        print(f"schema upgraded in {upgraded:.0f} s")
    with db.session() as session:
        events = session.connection().exec_driver_sql("SELECT max(id) FROM call_events").scalar()
        print(f"call_events rows: {events}")
    print("cold = fresh process, empty KPI store; fresh = fresh process, store current (as the background "
          "refresh keeps it); warm = same process, best of the repeats")
    for n, (title, _, _) in enumerate(CASES):
        _empty_store(db)
        cold = _fresh_process(path, n)
        fresh = _fresh_process(path, n)
        times, report = [], None
        for _ in range(repeat):
            seconds, report = _run(db, kpi, n)
            times.append(seconds)
        totals = report.totals
        print(f"{title}: warm {min(times) * 1000:.0f} ms, fresh {fresh * 1000:.0f} ms, "
              f"cold {cold * 1000:.0f} ms (offered {totals['offered']}, SL {totals['service_level']:.3f}, "
              f"AHT {totals['aht_seconds']:.0f} s, FCR {totals['fcr_rate']:.3f})")
    db.close()


if __name__ == "__main__":
    main()

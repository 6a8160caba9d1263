"""bench-kpi: generate a year of call events (1M calls by default) straight into SQLite with executemany,
in the same storage format the models write, then time KpiService on the daily dashboard and a month report:
first with no stored fold records (kpi_call_facts emptied: cold), then the best of the repeats (warm).

The file is cached (var/bench-kpi.db, keyed by the call count): the first run generates, later runs measure.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
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
                   help="timed runs of each report after the first (cold) one; the best is shown")
    args = p.parse_args()
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


def measure(path: Path, repeat: int) -> None:
    cfg = config.load(env={})
    cfg.site.time_zone = "America/New_York"
    db = Database(f"sqlite:///{path}")
    upgrade_started = time.perf_counter()
    db.upgrade()  # a file generated before a migration gets it (e.g. 0005's index: about a minute, once)
    upgraded = time.perf_counter() - upgrade_started
    if upgraded > 1:
        print(f"schema upgraded in {upgraded:.0f} s")
    kpi = KpiService(db, cfg)
    tz = kpi.settings.tz
    day_start = datetime(2026, 11, 20, tzinfo=tz)
    day_end = day_start + timedelta(days=1)
    cases = [
        ("daily dashboard (one day by 15-min interval)", day_start, day_end, "interval"),
        ("daily dashboard (one day by queue)", day_start, day_end, "queue"),
        ("month report (30 days by day)", day_start - timedelta(days=29), day_end, "day"),
    ]
    with db.session() as session:  # cold: no stored fold records, as on a fresh install
        session.connection().exec_driver_sql("DELETE FROM kpi_call_facts")
    with db.session() as session:
        plan = session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT c.call_id, c.last, f.last_event_id, f.facts FROM (SELECT call_id, "
            "max(id) AS last FROM call_events WHERE call_id IN (SELECT call_id FROM call_events "
            "WHERE ts >= ? AND ts < ? AND type IN ('queued', 'connected') AND call_id IS NOT NULL) "
            "GROUP BY call_id) AS c LEFT JOIN kpi_call_facts AS f ON f.call_id = c.call_id",
            ("2026-11-20", "2026-11-21")).all()
        print("query plan: " + "; ".join(row[-1] for row in plan))
        events = session.connection().exec_driver_sql("SELECT max(id) FROM call_events").scalar()
        print(f"call_events rows: {events}")
    for title, start, end, by in cases:
        times, report = [], None
        for _ in range(1 + repeat):
            t = time.perf_counter()
            with db.session() as session:  # a request's transaction: commits the fold records it stored
                report = kpi.compute_sync(session, start, end, by=by)
            times.append(time.perf_counter() - t)
        totals = report.totals
        print(f"{title}: {min(times[1:]) * 1000:.0f} ms, first run {times[0] * 1000:.0f} ms "
              f"(offered {totals['offered']}, SL {totals['service_level']:.3f}, "
              f"AHT {totals['aht_seconds']:.0f} s)")
    db.close()


if __name__ == "__main__":
    main()

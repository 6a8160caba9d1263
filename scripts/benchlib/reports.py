"""bench-reports: the follow-up rate report over a year of discharges (issue 16; target < 1 s).

Builds a SQLite database (var/bench-reports-N.db, cached; --regenerate) holding a year (2026) of N admissions
discharged across 8 departments, 40 wards and 120 attending doctors, each with the discharge follow-up
campaign's target: most completed after one or two attempts (agents' calls with recordings, or automated
calls), the rest failed, pending or never planned. Then, on that file, times the service's computation
(ReportService.compute, what a page, JSON, CSV or PDF asks for, without HTTP) of the follow-up rate by
department, ward, attending and staff member, timeliness and authenticity, each the best of --repeat runs,
and prints the figures with the year's follow-up rate.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from callcenter.config import Config
from callcenter.db.database import Database
from callcenter.db.models import (
    Agent,
    Call,
    Campaign,
    CampaignAttempt,
    CampaignTarget,
    Encounter,
    Patient,
    Recording,
)
from callcenter.reports.services import ReportQuery, ReportService

from .cpu import Stopwatch

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("America/New_York")
YEAR_START = datetime(2026, 1, 1, tzinfo=TZ)
YEAR_END = datetime(2027, 1, 1, tzinfo=TZ)
NOW = datetime(2027, 1, 10, 12, 0, tzinfo=TZ)
TARGET_SECONDS = 1.0
DEPARTMENTS = ("Cardiology", "Surgery", "Obstetrics", "Paediatrics", "General medicine", "Oncology",
               "Orthopaedics", "Neurology")
AGENTS = 20
CAMPAIGN = "bench-discharge-followup"
CHUNK = 10_000


def main() -> None:
    p = argparse.ArgumentParser(prog="bench-reports", description=__doc__)
    p.add_argument("--discharges", type=int, default=50_000, help="admissions discharged in the year")
    p.add_argument("--repeat", type=int, default=3, help="runs of each report; the best is kept")
    p.add_argument("--regenerate", action="store_true")
    args = p.parse_args()
    cached = ROOT / "var" / f"bench-reports-{args.discharges}.db"
    if args.regenerate or not cached.exists():
        generate(cached, args.discharges)
    figures = measure(cached, args.repeat)
    figures["discharges"] = args.discharges
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)  # wall times depend on it; CPU times less
    report(figures)
    (ROOT / "var" / "bench-reports.json").write_text(json.dumps(figures, indent=2))


# -- the year ------------------------------------------------------------------------------------------------


def generate(path: Path, count: int) -> None:
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    rows = _year(count, random.Random(16))
    with db.session() as session:
        session.execute(insert(Agent), [{"id": a, "number": str(1000 + a), "name": f"Agent {a}",
                                         "endpoint": f"Local/{1000 + a}"} for a in range(1, AGENTS + 1)])
        session.execute(insert(Campaign), [{"name": CAMPAIGN, "kind": "discharge_followup",
                                            "title": "Discharge follow-up", "source_yaml": "{}"}])
        for model in (Patient, Encounter, CampaignTarget, Call, CampaignAttempt, Recording):
            table = rows[model]
            for i in range(0, len(table), CHUNK):
                session.execute(insert(model), table[i:i + CHUNK])
    db.close()
    print(f"generated {count} discharges in {time.perf_counter() - started:.1f} s -> {path}")


def _year(count: int, rnd: random.Random) -> dict:
    rows: dict = {m: [] for m in (Patient, Encounter, CampaignTarget, Call, CampaignAttempt, Recording)}
    span = (YEAR_END - YEAR_START).total_seconds()
    born = datetime(1960, 1, 1).date()
    for i in range(1, count + 1):
        discharged = (YEAR_START + timedelta(seconds=rnd.random() * span)).astimezone(UTC)
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        rows[Patient].append({"id": i, "mrn": f"B{i:08d}", "given_name": "Bench", "family_name": "Patient",
                              "date_of_birth": born})
        rows[Encounter].append({"id": i, "patient_id": i, "kind": "admission", "department": department,
                                "ward": f"{department[:3].upper()}-{i % 5}", "attending": f"Dr {i % 120}",
                                "started_at": discharged - timedelta(days=3), "discharged_at": discharged})
        _followup(rows, i, discharged, rnd)
    return rows


def _followup(rows: dict, i: int, discharged: datetime, rnd: random.Random) -> None:
    """90% planned; of those 85% completed (70% by an agent's recorded call, some too short), the rest
    failed or still pending; one or two attempts each."""
    if rnd.random() < 0.10:
        return
    fate = rnd.random()
    status = "completed" if fate < 0.85 else ("failed" if fate < 0.95 else "pending")
    tries = 1 + (rnd.random() < 0.3)
    at = discharged + timedelta(hours=6)
    completed_at = None
    for n in range(tries):
        at += timedelta(days=rnd.uniform(0.5, 4))
        last = n == tries - 1
        agent = rnd.randint(1, AGENTS) if rnd.random() < 0.7 else None
        call_id = f"b{i:07d}{n}"
        outcome = "completed" if (status == "completed" and last) else None
        answered = at if (outcome or rnd.random() < 0.4) else None
        rows[Call].append({"id": call_id, "direction": "outbound", "status": "ended", "agent_id": agent,
                           "patient_id": i, "started_at": at, "answered_at": answered,
                           "ended_at": at + timedelta(minutes=4), "campaign_name": CAMPAIGN})
        rows[CampaignAttempt].append({"target_id": i, "campaign_name": CAMPAIGN, "patient_id": i,
                                      "call_id": call_id, "started_at": at,
                                      "result": "person" if answered else "no_answer", "outcome": outcome})
        if agent and answered and rnd.random() < 0.95:
            rows[Recording].append({"call_id": call_id, "agent_id": agent, "name": f"call-{call_id}",
                                    "duration_seconds": rnd.uniform(20, 400)})
        completed_at = at if outcome else completed_at
    rows[CampaignTarget].append({"id": i, "campaign_name": CAMPAIGN, "patient_id": i, "subject_id": i,
                                 "subject_kind": "encounter", "status": status, "attempts": tries,
                                 "completed_at": completed_at})


# -- the measures --------------------------------------------------------------------------------------------


RUNS = (("followup-rate", "department"), ("followup-rate", "ward"), ("followup-rate", "attending"),
        ("followup-rate", "staff"), ("timeliness", "department"), ("authenticity", "staff"))


def measure(path: Path, repeat: int) -> dict:
    cfg = Config()
    cfg.database.url = f"sqlite:///{path}"
    cfg.site.time_zone = TZ.key
    db = Database(cfg.database_url)
    service = ReportService(db, cfg, clock=lambda: NOW)
    figures: dict = {}
    try:
        for name, by in RUNS:
            best, report = None, None
            for _ in range(repeat):
                # Wall time split into this process's CPU (SQLite runs in it: what the report costs when the
                # machine is busy), waits for a CPU other processes held, and the rest (disk).
                with Stopwatch() as watch, db.session() as session:
                    report = service.compute(session, ReportQuery(name, YEAR_START, YEAR_END, by))
                best = watch if best is None or watch.wall < best.wall else best
            figures.update(best.figures(f"{name}_by_{by}"))
            figures[f"{name}_by_{by}_rows"] = len(report.rows)
            if name == "followup-rate" and by == "department":
                figures["year_followup_rate"] = round(report.total["followup_rate"], 4)
                figures["year_discharged"] = report.total["discharged"]
    finally:
        db.close()
    return figures


def report(figures: dict) -> None:
    print(json.dumps(figures, indent=2))
    cpus = [v for k, v in figures.items()
            if k.startswith("followup-rate") and k.endswith("_cpu_seconds") and "waiting" not in k]
    wall, key = figures["followup-rate_by_department_seconds"], "followup-rate_by_department"
    verdict = "meets" if wall < TARGET_SECONDS else "MISSES"
    print(f"follow-up rate report by department over a year of {figures['discharges']} discharges: "
          f"{wall:.3f} s wall = {figures[key + '_cpu_seconds']:.3f} s of CPU + "
          f"{figures[key + '_waiting_for_cpu_seconds']:.3f} s waiting for a CPU other processes held + "
          f"{figures[key + '_blocked_seconds']:.3f} s blocked; {max(cpus):.3f} s CPU at most for any cut; "
          f"load average {figures['load_average_1min']} on {os.cpu_count()} cores "
          f"({verdict} the target of < {TARGET_SECONDS:g} s)")


if __name__ == "__main__":
    main()

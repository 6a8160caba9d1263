"""bench-campaign-pacing: an automated campaign dialing N simulated patients through the sandbox Asterisk at a
configured calls_per_second; the measured originate rate against it (target: within 5%), and CPU per call.

Runs its own sandbox instance (bench-pacing, ARI on 8107) and, in this process, the controller (build() +
start() as `callcenter serve` does, without HTTP), on a temporary SQLite database with the demo data. The
patients' phones (sim-campaign) are busy, no answer (the dialer gives up after --ring-timeout) or a person who
confirms the appointment (key 1), in the given shares. The clock is controlled (10:00 at the hospital on a
weekday) so the calling window always allows the run.

Measured rate: (calls - 1) / (last - first) over the `campaign_dialed` call events, written when each
originate is sent. CPU: this process's CPU (controller + the few ARI calls setting the phones up) during the
run, per call; Asterisk's too.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from callcenter import config as configuration
from callcenter.campaigns.actions import CampaignActions
from callcenter.campaigns.dialing.automated import Dialer
from callcenter.campaigns.message import render_site_prompts
from callcenter.campaigns.services import CampaignService
from callcenter.db.database import Database
from callcenter.db.models import Appointment, CallEvent, Patient, PatientPhone
from callcenter.demo import seed_demo
from callcenter.main import build, start, stop
from callcenter.prompts import generate

from .cpu import own_cpu, process_cpu
from .stack import PROMPTS, ROOT, sandbox

INSTANCE, PORT = "bench-pacing", 8107
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York (the hospital)
TOLERANCE = 0.05


class RunningClock:
    def __init__(self, at: datetime):
        self.at, self.t0 = at, time.monotonic()

    def __call__(self) -> datetime:
        return self.at + timedelta(seconds=time.monotonic() - self.t0)


def campaign_yaml(name: str, cps: float, channels: int) -> str:
    return (f"name: {name}\nkind: appointment_reminder\ntitle: Pacing benchmark\nversion: 1\n"
            f"target: {{rule: appointments, days_ahead: 1, department: {name}}}\nmode: automated\n"
            "flow: appointment-reminder\n"
            "compliance: {max_attempts: 1, caps: {per_day: 10, per_week: 10}, machine: hang_up}\n"
            f"pacing: {{max_channels: {channels}, calls_per_second: {cps}}}\n")


def behaviours(n: int, person_share: float) -> list[str]:
    persons = round(n * person_share)
    rest = ["busy" if i % 2 == 0 else "noanswer" for i in range(n - persons)]
    out, step = [], (n / persons) if persons else 0
    marks = {round(i * step) for i in range(persons)}
    for i in range(n):
        out.append("person" if i in marks else rest.pop())
    return out


def add_patients(session, name: str, kinds: list[str], first: int) -> None:
    tomorrow = NOW + timedelta(days=1)
    for n, _ in enumerate(kinds, start=first):
        patient = Patient(mrn=f"P{n:08d}", given_name="Bench", family_name=f"Pacing{n}",
                          date_of_birth=datetime(1970, 1, 1).date(), language="en")
        patient.phones.append(PatientPhone(e164=f"+1556{n:07d}", is_primary=True))
        session.add(patient)
        session.flush()
        session.add(Appointment(patient_id=patient.id, department=name, starts_at=tomorrow, status="booked"))


async def one_rate(services, ari_pid: int, cps: float, args, first: int) -> dict:
    name = f"pacing-{str(cps).replace('.', '-')}"
    kinds = behaviours(args.calls, args.person_share)
    for n, kind in enumerate(kinds, start=first):
        await services.ari.set_global_variable(f"SIM_CAMPAIGN_1556{n:07d}", kind)
        await services.ari.set_global_variable(f"SIM_KEYS_1556{n:07d}", "1")
    await services.db.run(add_patients, name, kinds, first)
    clock = RunningClock(NOW)
    campaigns = CampaignService(services.db, services.events, services.cfg, clock=clock)
    await campaigns.save_text(name, campaign_yaml(name, cps, args.max_channels), None)
    await campaigns.plan(name)
    dialer = Dialer(services.router, campaigns, CampaignActions(services.db, services.events, clock=clock),
                    services.cfg, clock=clock, worker="bench")
    cpu0, ast0, wall0 = own_cpu(), process_cpu(ari_pid), time.monotonic()
    report = await dialer.run(name)
    cpu, ast, wall = own_cpu() - cpu0, process_cpu(ari_pid) - ast0, time.monotonic() - wall0
    await services.events.flush()
    stamps = await services.db.run(lambda s: [row.ts for row in s.scalars(
        select(CallEvent).where(CallEvent.type == "campaign_dialed").order_by(CallEvent.ts))
        if row.data.get("campaign") == name])
    span = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else 0.0
    measured = (len(stamps) - 1) / span if span > 0 else 0.0
    mono = report.dialed_at
    scheduled = (len(mono) - 1) / (mono[-1] - mono[0]) if len(mono) > 1 and mono[-1] > mono[0] else 0.0
    return {"calls_per_second": cps, "max_channels": args.max_channels, "calls": report.dialed,
            "results": dict(report.results), "measured_rate": round(measured, 3),
            "dialer_rate": round(scheduled, 3), "error": round(measured / cps - 1, 4) if cps else None,
            "within_target": abs(measured / cps - 1) <= TOLERANCE, "run_seconds": round(wall, 1),
            "controller_cpu_ms_per_call": round(1000 * cpu / max(1, report.dialed), 2),
            "asterisk_cpu_ms_per_call": round(1000 * ast / max(1, report.dialed), 2)}


async def main_async(args) -> list[dict]:
    password = secrets.token_urlsafe(16)
    state = Path(tempfile.mkdtemp(prefix="bench-pacing-"))
    cfg = configuration.load(config_file=state / "absent.toml", env={})
    cfg.state_dir = str(state)
    cfg.database.url = f"sqlite:///{state / 'callcenter.db'}"
    cfg.ari.url, cfg.ari.password = f"http://127.0.0.1:{PORT}", password
    cfg.recordings.enabled = False
    cfg.site = dataclasses.replace(cfg.site, hospital_name="Bench Hospital", callback_number="+15555550100",
                                   time_zone="America/New_York")
    cfg.telephony = dataclasses.replace(cfg.telephony, campaign_ring_timeout=args.ring_timeout)
    generate(ROOT / "ivr_flows" / "prompts.yaml", PROMPTS)
    render_site_prompts(cfg.site, ROOT / "ivr_flows" / "prompts.yaml", PROMPTS)
    sandbox("provision", timeout=1800)
    sandbox("stop", "--instance", INSTANCE)
    sandbox("install", "--instance", INSTANCE, "--http-port", str(PORT), "--ari-password", password,
            "--prompts", str(PROMPTS))
    sandbox("start", "--instance", INSTANCE)
    ari_pid = int(re.search(r"\(pid (\d+)", sandbox("status", "--instance", INSTANCE)).group(1))
    db = Database(cfg.database_url)
    db.upgrade()
    with db.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    db.close()
    services = build(cfg)
    await start(services)
    await asyncio.wait_for(services.ari.connected.wait(), 20)
    results = []
    try:
        for i, cps in enumerate(args.rates):
            results.append(await one_rate(services, ari_pid, cps, args, first=1 + i * args.calls))
            print(json.dumps(results[-1]), flush=True)
    finally:
        await stop(services)
        if not args.keep:
            sandbox("stop", "--instance", INSTANCE)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench-campaign-pacing", description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[5.0, 10.0],
                        help="calls per second to test")
    parser.add_argument("--calls", type=int, default=200, help="patients per rate (default 200)")
    parser.add_argument("--max-channels", type=int, default=20)
    parser.add_argument("--person-share", type=float, default=0.05, help="share of persons (default 0.05)")
    parser.add_argument("--ring-timeout", type=int, default=3,
                        help="seconds until the dialer gives up on a ringing phone (persons answer at 1 s)")
    parser.add_argument("--keep", action="store_true", help="leave the bench-pacing instance running")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    out = ROOT / "var" / "bench-campaign-pacing.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'cps':>6} {'calls':>6} {'measured':>9} {'error':>7} {'ok':>4} {'ctl ms/call':>12} "
          f"{'ast ms/call':>12}")
    for r in results:
        print(f"{r['calls_per_second']:>6g} {r['calls']:>6} {r['measured_rate']:>9.3f} {r['error']:>+7.1%} "
              f"{'yes' if r['within_target'] else 'NO':>4} {r['controller_cpu_ms_per_call']:>12} "
              f"{r['asterisk_cpu_ms_per_call']:>12}")
    print(f"figures: {out}")


if __name__ == "__main__":
    main()

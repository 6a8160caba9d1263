"""scripts/bench-inbound: N concurrent simulated patient calls through the IVR, the queues and agents, and the
same calls through the same IVR written in dialplan (context native-ivr) as the baseline. See
docs/benchmarks.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from callcenter.ari.client import AriClient, AriError, AriUnavailable
from callcenter.db.database import Database

from . import analysis, load, report
from .cpu import Snapshot
from .pops import Consoles
from .stack import (
    ROOT,
    Controller,
    Settings,
    StackError,
    prepare_state,
    set_available,
    start_asterisk,
    stop_asterisk,
)

JSON_OUT = ROOT / "var" / "bench-inbound.json"
CONTROLLER_LOG = ROOT / "var" / "bench-inbound-controller.log"
GRACE = 60.0         # seconds a phase may run past its last call's scheduled end
SETTLE = 2.0         # after the last call: let tear-down work (recordings, event log) finish in the window
IDLE_SECONDS = 5.0
BENCH_APP = "callcenter-bench"
POP_BASES = ("queued_to_sent", "from_queued", "from_dispatch", "from_offered", "delivery")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench-inbound", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, help="new calls per second (default 5; --quick 2)")
    p.add_argument("--concurrent", type=int,
                   help="calls up at once; each call lasts concurrent/rate seconds (default 100; --quick 40)")
    p.add_argument("--calls", type=int, help="calls per phase (default 300; --quick 20)")
    p.add_argument("--agents", type=int, default=40, help="agents on auto-answer test phones (default 40)")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 calls at 2/s")
    p.add_argument("--no-recording", dest="recording", action="store_false",
                   help="lighter variant: record neither the product's calls nor the native ones")
    p.add_argument("--skip-native", action="store_true", help="no baseline phase (no ratio)")
    p.add_argument("--instance", default="bench", help="sandbox Asterisk instance (default bench)")
    p.add_argument("--ari-port", type=int, default=8091)
    p.add_argument("--http-port", type=int, default=8092)
    p.add_argument("--json", type=Path, default=JSON_OUT, help=f"figures as JSON (default {JSON_OUT})")
    p.add_argument("--keep", action="store_true", help="keep the temporary state directory")
    p.add_argument("--profile", type=Path, help="cProfile the controller into this file (pstats format)")
    args = p.parse_args(argv)
    quick = args.quick
    args.rate = args.rate or (2.0 if quick else 5.0)
    args.concurrent = args.concurrent or (40 if quick else 100)
    args.calls = args.calls or (20 if quick else 300)
    args.hangup_after = round(args.concurrent / args.rate, 1)
    if args.rate <= 0 or args.calls <= 0 or args.agents <= 0:
        p.error("--rate, --calls and --agents must be positive")
    if args.hangup_after < load.CONNECT_AFTER + load.MIN_TALK:
        p.error(f"concurrent/rate = {args.hangup_after:g} s per call is shorter than the IVR and queue "
                f"(~{load.CONNECT_AFTER:g} s) plus {load.MIN_TALK:g} s of talk: raise --concurrent")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = _figures_header(args)
    try:
        asyncio.run(_run_with_signals(args, figures))
    except KeyboardInterrupt:
        figures["broken"] = figures.get("broken") or "interrupted"
    report.print_report(figures)
    report.write_json(figures, args.json)
    print(f"\nfigures: {args.json}\ncontroller log: {CONTROLLER_LOG}")
    return 1 if figures.get("broken") else 0


async def _run_with_signals(args, figures: dict) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await run(args, figures)
    except asyncio.CancelledError:
        figures["broken"] = "interrupted"
    except (StackError, AriError, AriUnavailable, OSError, RuntimeError, aiohttp.ClientError) as exc:
        figures["broken"] = f"{type(exc).__name__}: {exc}"


def _figures_header(args) -> dict:
    return {
        "benchmark": "bench-inbound",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
        "source": _source(),
        "settings": {"calls": args.calls, "rate": args.rate, "concurrent": args.concurrent,
                     "hangup_after": args.hangup_after, "agents": args.agents, "recording": args.recording,
                     "first_delay": load.FIRST_DELAY, "digit_gap": load.DIGIT_GAP, "quick": args.quick},
        "broken": None,
    }


def _source() -> dict:
    """Which code was measured: the commit, and whether the product's files differed from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    changed = git("status", "--porcelain", "--", "callcenter", "ivr_flows", "asterisk_conf")
    return {"root": str(ROOT), "commit": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted_product_changes": changed.splitlines()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- the run -------------------------------------------------------------------------------------------------

class Bench:
    """Everything a run owns, so that one `close()` undoes it whatever happened."""

    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
        self.s = Settings(args.instance, args.ari_port, args.http_port, self.work, args.recording,
                          args.profile)
        self.controller = Controller(self.s, self.work / "controller.log")
        self.http: aiohttp.ClientSession | None = None
        self.ari: AriClient | None = None
        self.consoles: Consoles | None = None
        self.db: Database | None = None
        self.asterisk_pid = 0
        self.asterisk_started = False

    async def start(self) -> list[str]:
        """Asterisk, state, controller, agent consoles; returns the known patient numbers."""
        self.asterisk_started = True
        self.asterisk_pid = await asyncio.to_thread(start_asterisk, self.s)
        seeded = await asyncio.to_thread(prepare_state, self.s, self.args.agents)
        self.controller.start()
        # No cap on connections: every agent's console websocket holds one for the whole run (aiohttp's
        # default cap of 100 left the API requests of a run with 100 agents waiting until they timed out).
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        await self.controller.wait_ready(self.http)
        self.consoles = Consoles(self.http, self.s.http_url, self.s.token)
        await self.consoles.open(seeded.agents)
        await set_available(self.http, self.s, seeded.agents)
        self.ari = AriClient(self.s.ari_url, "callcenter", self.s.password, BENCH_APP)
        await self.ari.start()
        self.db = Database(self.s.database_url, max_workers=1)
        return seeded.known_numbers

    def snapshot(self) -> Snapshot:
        if not self.controller.alive():
            raise StackError(f"the controller died (exit {self.controller.proc.returncode}); "
                             f"see {CONTROLLER_LOG}")
        return Snapshot.take(self.controller.pid, self.asterisk_pid)

    async def close(self) -> None:
        if self.consoles:
            await _quietly(self.consoles.close())
        if self.ari:
            await _quietly(hang_up_all(self.ari))
            await _quietly(self.ari.close())
        if self.http:
            await _quietly(self.http.close())
        self.controller.stop()
        if self.db:
            self.db.close()
        if self.controller.log_path.exists():
            CONTROLLER_LOG.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.controller.log_path, CONTROLLER_LOG)
        if self.asterisk_started:
            await _quietly(asyncio.to_thread(stop_asterisk, self.s))
        for wav in self.s.monitor_dir.glob("native-*.wav"):
            wav.unlink(missing_ok=True)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


async def _quietly(aw: Awaitable) -> None:
    try:
        await aw
    except Exception as exc:  # clean-up goes on with the next step whatever this one hit
        print(f"clean-up: {type(exc).__name__}: {exc}", file=sys.stderr)


async def hang_up_all(ari: AriClient) -> list[str]:
    """Hang up every channel of the instance; returns their names (leftovers are a finding)."""
    names = []
    for channel in await ari.channels():
        names.append(channel.name)
        try:
            await ari.hangup(channel.id)
        except AriError:
            pass
    return names


async def run(args, figures: dict) -> None:
    bench = Bench(args)
    try:
        known = await bench.start()
        figures["idle"] = await idle_rates(bench)
        calls = load.plan(args.calls, known)
        figures["ari"] = await ari_phase(bench, calls)
        if not args.skip_native:
            figures["native"] = await native_phase(bench, calls)
            figures["ratio"] = ratios(figures)
        figures["targets"] = report.targets(figures)
    finally:
        await asyncio.shield(bench.close())


async def idle_rates(bench: Bench) -> dict:
    before = bench.snapshot()
    await asyncio.sleep(IDLE_SECONDS)
    cpu = before.until(bench.snapshot())
    return {k: cpu[k] / cpu["wall"] for k in ("controller", "asterisk", "bench", "other")}


# -- phase 1: the product ------------------------------------------------------------------------------------

async def ari_phase(bench: Bench, calls: list[load.PlannedCall]) -> dict:
    args = bench.args
    print(f"ARI phase: {len(calls)} calls at {args.rate:g}/s, {args.hangup_after:g} s each ...", flush=True)
    counters = await bench.controller.metrics(bench.http)
    before = bench.snapshot()
    placed = await load.place_paced(calls, args.rate, load.ari_originator(bench.ari, args.hangup_after))
    ok = sum(1 for p in placed if not p.error)
    in_time = await wait_until(lambda: _product_done(bench, ok), placed, bench)
    await asyncio.sleep(SETTLE)
    cpu = before.until(bench.snapshot())
    ari_traffic = _ari_per_call(counters, await bench.controller.metrics(bench.http), len(calls))
    leftovers = await hang_up_all(bench.ari)
    records = await bench.db.run(analysis.load_records)
    pops = analysis.pop_times(records, bench.consoles.pops)
    errors = [p.error for p in placed if p.error]
    return {
        "outcomes": analysis.outcomes(records, errors, len(calls)),
        "pacing": _pacing(placed),
        "pop_ms": {name: analysis.percentiles(getattr(pops, name)) for name in POP_BASES},
        "pop_notes": {"calls that waited for a free agent (left out of from_queued)": pops.waited_for_agent,
                      "queued calls without a pop": pops.calls_without_pop,
                      "pops not matched to DB events": pops.pops_unmatched},
        "timing": analysis.product_timing(records),
        "cpu": cpu,
        "cpu_per_call": _per_call(cpu, len(calls)),
        "ari_per_call": ari_traffic,
        "ended_in_time": in_time,
        "leftover_channels": leftovers,
        "controller_log": report.log_problems(bench.controller.log_path),
    }


async def _product_done(bench: Bench, expected: int) -> bool:
    state = await bench.db.run(analysis.progress)
    return state["rows"] >= expected and state["open"] == 0 and state["recordings_pending"] <= 0


# -- phase 2: the native dialplan baseline -------------------------------------------------------------------

async def native_phase(bench: Bench, calls: list[load.PlannedCall]) -> dict:
    args, log = bench.args, bench.s.asterisk_log
    print(f"native phase: {len(calls)} calls at {args.rate:g}/s ...", flush=True)
    offset = log.stat().st_size if log.exists() else 0
    for wav in bench.s.monitor_dir.glob("native-*.wav"):
        wav.unlink()
    before = bench.snapshot()
    originate = load.native_originator(bench.ari, args.hangup_after, args.recording)
    placed = await load.place_paced(calls, args.rate, originate)
    ok = sum(1 for p in placed if not p.error)

    async def done() -> bool:
        return len(analysis.native_ends(log, offset)) >= ok
    in_time = await wait_until(done, placed, bench)
    await asyncio.sleep(SETTLE)
    cpu = before.until(bench.snapshot())
    leftovers = await hang_up_all(bench.ari)
    ends = analysis.native_ends(log, offset)
    recorded = analysis.native_recording_seconds(bench.s.monitor_dir)
    starts = [p.answered for p in placed if not p.error]
    return {
        "outcomes": analysis.native_outcomes(ends, [p.error for p in placed if p.error], len(calls)),
        "pacing": _pacing(placed),
        "timing": {"peak_concurrent_calls": analysis.max_overlap(starts, [e for _, _, e in ends]),
                   "mean_call_seconds": _mean_span(starts, [e for _, _, e in ends]),
                   "mean_recording_seconds": sum(recorded) / len(recorded) if recorded else None,
                   "recordings": len(recorded)},
        "cpu": cpu,
        "cpu_per_call": _per_call(cpu, len(calls)),
        "ended_in_time": in_time,
        "leftover_channels": leftovers,
    }


def _mean_span(starts: list[float], ends: list[float]) -> float | None:
    """Mean call length without pairing: (sum of ends - sum of starts) / n."""
    if not ends or len(ends) != len(starts):
        return None
    return (sum(ends) - sum(starts)) / len(ends)


# -- shared --------------------------------------------------------------------------------------------------

async def wait_until(check: Callable[[], Awaitable[bool]], placed: list[load.Placed], bench: Bench) -> bool:
    """Poll once a second, from shortly before the last call should end, until `check` holds; False when
    the calls outlive their schedule by GRACE seconds (a finding about the calls, not a broken run)."""
    last_end = max(p.due for p in placed) + bench.args.hangup_after
    await asyncio.sleep(max(0.0, last_end - 1 - time.time()))
    while True:
        if not bench.controller.alive():
            raise StackError(f"the controller died (exit {bench.controller.proc.returncode}); "
                             f"see {CONTROLLER_LOG}")
        if await check():
            return True
        if time.time() >= last_end + GRACE:
            return False
        await asyncio.sleep(1.0)


def _pacing(placed: list[load.Placed]) -> dict:
    late = [1000 * (p.sent - p.due) for p in placed]
    return {"max_late_ms": max(late), "originate_ms": analysis.percentiles(
        [round(1000 * (p.answered - p.sent), 1) for p in placed if not p.error])}


def _ari_per_call(before: dict[str, float], after: dict[str, float], calls: int) -> dict:
    """The controller's ARI REST round trips and websocket events, and its database transactions (event log
    batches, pops' audit rows, lookups, background jobs), over the phase, per call placed."""
    counters = {kind: f"callcenter_ari_{kind}_total" for kind in ("requests", "events")}
    counters["db_transactions"] = "callcenter_db_transaction_seconds_count"
    return {kind: (after.get(name, 0.0) - before.get(name, 0.0)) / calls for kind, name in counters.items()}


def _per_call(cpu: dict, calls: int) -> dict:
    return {"controller": cpu["controller"] / calls, "asterisk": cpu["asterisk"] / calls,
            "controller_loop": cpu["controller_loop"] / calls}


def ratios(f: dict) -> dict:
    ari, native = f["ari"]["cpu_per_call"], f["native"]["cpu_per_call"]
    if native["asterisk"] <= 0:
        return {"total": None, "asterisk_only": None}
    return {"total": (ari["controller"] + ari["asterisk"]) / native["asterisk"],
            "asterisk_only": ari["asterisk"] / native["asterisk"]}


if __name__ == "__main__":
    sys.exit(main())

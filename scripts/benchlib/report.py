"""The end of a run: a table for people, JSON for tools, and the verdict against the targets."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

POP_TARGET_MS = 100.0
SERVER_POP_TARGET_MS = 10.0  # from queued to the pop sent: the server's own part
RATIO_TARGET = 1.3


def targets(figures: dict) -> list[dict]:
    pops = figures.get("ari", {}).get("pop_ms", {})
    ratio = figures.get("ratio", {}).get("total")
    out = []
    p99 = pops.get("queued_to_sent", {}).get("p99")
    out.append(_target(f"screen pop p99 queued to sent < {SERVER_POP_TARGET_MS:g} ms", p99,
                       p99 is not None and p99 < SERVER_POP_TARGET_MS))
    for base in ("from_queued", "from_offered"):
        p99 = pops.get(base, {}).get("p99")
        out.append(_target(f"screen pop p99 {base.replace('_', ' ')} < {POP_TARGET_MS:g} ms", p99,
                           p99 is not None and p99 < POP_TARGET_MS))
    if "ratio" in figures:
        out.append(_target(f"CPU ratio (controller + Asterisk) / native <= {RATIO_TARGET:g}", ratio,
                           ratio is not None and ratio <= RATIO_TARGET))
    return out


def _target(name: str, value, ok: bool) -> dict:
    return {"target": name, "value": value, "verdict": "PASS" if ok else "MISS"}


def write_json(figures: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")


def log_problems(log: Path, limit: int = 8) -> dict:
    """WARNING/ERROR lines of the controller's log, grouped with ids and numbers masked."""
    counts: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            found = re.match(r"\S+ \S+ (WARNING|ERROR|CRITICAL) (.*)", line)
            if found:
                levels[found.group(1)] += 1
                counts[_mask(found.group(2))[:160]] += 1
    return {"levels": dict(levels), "top": [{"count": n, "message": m} for m, n in counts.most_common(limit)]}


def _mask(text: str) -> str:
    text = re.sub(r"[0-9a-f]{16,}", "<id>", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text


# -- the table -----------------------------------------------------------------------------------------------

def print_report(f: dict) -> None:
    s = f["settings"]
    print()
    print(f"bench-inbound  {f['date']}  {f['machine']['cores']} cores  ({f['machine']['cpu']})")
    print(f"  {s['calls']} calls at {s['rate']:g}/s, {s['hangup_after']:g} s each (target {s['concurrent']} "
          f"concurrent), {s['agents']} agents, recording {'on' if s['recording'] else 'off'}")
    if f.get("idle"):
        i = f["idle"]
        print(f"  idle before the run: controller {i['controller']:.3f}, Asterisk {i['asterisk']:.3f}, "
              f"rest of machine {i['other']:.2f} CPU s per s")
    _print_phase("ARI (product)", f.get("ari"))
    _print_pops(f.get("ari", {}).get("pop_ms"), f.get("ari", {}).get("pop_notes"))
    _print_phase("native dialplan", f.get("native"))
    _print_cpu(f)
    print("\ntargets")
    for t in f.get("targets", []):
        value = "n/a" if t["value"] is None else f"{t['value']:.2f}"
        print(f"  {t['verdict']:4}  {t['target']:58} {value}")
    if f.get("broken"):
        print(f"\nRUN BROKEN: {f['broken']}")


def _print_phase(title: str, phase: dict | None) -> None:
    if not phase:
        return
    o = phase["outcomes"]
    print(f"\n{title}: {o['completed']} completed, {o['failed']} failed of {o['placed']} placed; "
          f"peak {phase['timing'].get('peak_concurrent_calls')} concurrent; pacing max late "
          f"{phase['pacing']['max_late_ms']:.1f} ms; "
          f"originate p99 {phase['pacing']['originate_ms']['p99']} ms")
    for reason, n in o["failed_by_reason"].items():
        print(f"    failed {n:4}  {reason}")
    t = phase["timing"]
    parts = [f"{k.removeprefix('mean_').replace('_', ' ')} {v:.1f}" for k, v in t.items()
             if k.startswith("mean_") and v is not None]
    if parts:
        print("  means (s): " + ", ".join(parts))
    if phase.get("ended_in_time") is False:
        print("  CALLS OUTLIVED THEIR SCHEDULE: still not all ended 60 s after the last one should have")
    if phase.get("leftover_channels"):
        print(f"  channels still up after the phase (hung up by the benchmark): {phase['leftover_channels']}")
    problems = phase.get("controller_log", {})
    if problems.get("levels"):
        print(f"  controller log: {problems['levels']}")
        for p in problems["top"]:
            print(f"    {p['count']:5}x {p['message']}")


def _print_pops(pops: dict | None, notes: dict | None) -> None:
    if not pops:
        return
    print("\n  screen pop latency (ms)       n      p50      p95      p99      max")
    for base, row in pops.items():
        cells = "".join(f"{_ms(row.get(k)):>9}" for k in ("p50", "p95", "p99", "max"))
        print(f"    {base.replace('_', ' '):24} {row['n']:5}{cells}")
    if notes:
        print("    " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in notes.items()))


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _print_cpu(f: dict) -> None:
    ari, native = f.get("ari", {}).get("cpu_per_call"), f.get("native", {}).get("cpu_per_call")
    if not ari:
        return
    print("\n  CPU seconds per call          controller   Asterisk    total    (window: busy cores, others)")
    print(f"    ARI (product)              {ari['controller']:10.4f} {ari['asterisk']:10.4f} "
          f"{ari['controller'] + ari['asterisk']:8.4f}    ({_window(f['ari']['cpu'])})")
    if "controller_loop" in ari:
        print(f"    controller: event loop thread {1000 * ari['controller_loop']:.1f} ms, other threads "
              f"(database pool...) {1000 * (ari['controller'] - ari['controller_loop']):.1f} ms per call")
    traffic = f.get("ari", {}).get("ari_per_call")
    if traffic:
        print(f"    ARI per call: {traffic['requests']:.1f} REST round trips, {traffic['events']:.1f} "
              f"events; {traffic.get('db_transactions', 0):.1f} database transactions")
    if native:
        print(f"    native dialplan            {'-':>10} {native['asterisk']:10.4f} {native['asterisk']:8.4f}"
              f"    ({_window(f['native']['cpu'])})")
        r = f["ratio"]
        print(f"    ratio (controller + Asterisk) / native {r['total']:.2f};  "
              f"Asterisk only {r['asterisk_only']:.2f}")


def _window(cpu: dict) -> str:
    busy = cpu["machine_busy"] / cpu["wall"] if cpu["wall"] else 0
    return (f"{cpu['wall']:.0f} s, {busy:.2f} of {cpu['cores']:.0f} cores busy, bench client "
            f"{cpu['bench']:.1f} s, other processes {cpu['other']:.1f} s")

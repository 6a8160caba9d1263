"""Turning what happened into figures: the product's own records (database), the consoles' receipts, the
native dialplan's log lines."""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.db.models import Agent, Call, CallEvent, Recording

from .pops import Pop

PERCENTILES = (50, 95, 99)


def percentiles(values: list[float]) -> dict:
    """Nearest-rank percentiles (p99 of 300 values is the 297th smallest): no interpolation flattering."""
    if not values:
        return {"n": 0} | {f"p{p}": None for p in PERCENTILES} | {"max": None}
    ordered = sorted(values)
    out = {"n": len(ordered)}
    for p in PERCENTILES:
        out[f"p{p}"] = ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
    return out | {"max": ordered[-1]}


def max_overlap(starts: list[float], ends: list[float]) -> int:
    """Most calls up at once; starts and ends need not be paired."""
    marks = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends], key=lambda m: (m[0], m[1]))
    level = peak = 0
    for _, step in marks:
        level += step
        peak = max(peak, level)
    return peak


# -- the ARI product -----------------------------------------------------------------------------------------

@dataclass
class ProductRecords:
    calls: list[Call]
    events: list[CallEvent]
    agent_ids: dict[str, int]
    recording_seconds: list[float]


def load_records(session: Session) -> ProductRecords:
    kinds = ("queued", "offered", "agent_state", "recording_started", "recording_saved", "recording_lost")
    calls = list(session.scalars(select(Call)))
    events = list(session.scalars(select(CallEvent).where(CallEvent.type.in_(kinds)).order_by(CallEvent.id)))
    agents = {a.number: a.id for a in session.scalars(select(Agent))}
    seconds = [r.duration_seconds or 0.0 for r in session.scalars(select(Recording))]
    return ProductRecords(calls, events, agents, seconds)


def progress(session: Session) -> dict:
    """How far the product is: call rows, rows not ended yet, recordings still being fetched."""
    rows = list(session.scalars(select(Call.status)))
    types = Counter(session.scalars(select(CallEvent.type).where(
        CallEvent.type.in_(("recording_started", "recording_saved", "recording_lost")))))
    pending = types["recording_started"] - types["recording_saved"] - types["recording_lost"]
    return {"rows": len(rows), "open": sum(1 for s in rows if s != "ended"), "recordings_pending": pending}


def outcomes(records: ProductRecords, placed_errors: list[str], expected: int) -> dict:
    completed, failed = 0, Counter()
    for call in records.calls:
        if call.outcome == "completed" and call.answered_at is not None:
            completed += 1
        else:
            failed[f"{call.outcome or 'not ended: ' + call.status}/{call.end_reason or '-'}"] += 1
    for error in placed_errors:
        failed[error] += 1
    missing = expected - len(records.calls) - len(placed_errors)
    if missing > 0:
        failed["placed but never reached the controller"] += missing
    return {"placed": expected, "completed": completed, "failed": sum(failed.values()),
            "failed_by_reason": dict(failed.most_common())}


@dataclass
class PopTimes:
    queued_to_sent: list[float] = field(default_factory=list)
    from_queued: list[float] = field(default_factory=list)
    from_dispatch: list[float] = field(default_factory=list)
    from_offered: list[float] = field(default_factory=list)
    delivery: list[float] = field(default_factory=list)
    waited_for_agent: int = 0
    calls_without_pop: int = 0
    pops_unmatched: int = 0


def pop_times(records: ProductRecords, pops: list[Pop]) -> PopTimes:
    """Per pop, ms from the call's DB stamps to its arrival at the console.

    queued_to_sent: from the call entering the queue to the server's stamp as it sent the pop (the server's
    own latency, first pop of a call only). queued: the call entered the queue (first pop of a call only),
    to receipt. dispatch: the queue picked this agent
    (agent_state 'ringing'). offered: the call's 'offered' event for this agent. delivery: from the pop's
    own sent_at stamp (the websocket hop and the benchmark's loop).
    """
    queued, dispatched, offered = _stamps(records.events)
    out, seen = PopTimes(), set()
    for pop in sorted(pops, key=lambda p: p.received):
        agent_id = records.agent_ids.get(pop.agent)
        if pop.call_id not in queued or (pop.call_id, agent_id) not in offered:
            out.pops_unmatched += 1
            continue
        dispatch = dispatched.get((pop.call_id, agent_id))
        if pop.call_id not in seen:
            seen.add(pop.call_id)
            if dispatch is not None and dispatch - queued[pop.call_id] > 1.0:
                out.waited_for_agent += 1  # no free agent: that is queue time, not pop latency
            else:
                out.from_queued.append(1000 * (pop.received - queued[pop.call_id]))
                out.queued_to_sent.append(1000 * (pop.sent_at - queued[pop.call_id]))
        if dispatch is not None:
            out.from_dispatch.append(1000 * (pop.received - dispatch))
        out.from_offered.append(1000 * (pop.received - offered[(pop.call_id, agent_id)]))
        out.delivery.append(1000 * (pop.received - pop.sent_at))
    out.calls_without_pop = sum(1 for c in records.calls if c.queued_at is not None and c.id not in seen)
    return out


def _stamps(events: list[CallEvent]):
    queued, dispatched, offered = {}, {}, {}
    for e in events:
        ts = e.ts.timestamp()
        if e.type == "queued":
            queued.setdefault(e.call_id, ts)
        elif e.type == "offered":
            offered.setdefault((e.call_id, e.agent_id), ts)
        elif e.type == "agent_state" and (e.data or {}).get("state") == "ringing" and e.call_id:
            dispatched.setdefault((e.call_id, e.agent_id), ts)
    return queued, dispatched, offered


def product_timing(records: ProductRecords) -> dict:
    calls = [c for c in records.calls if c.ended_at is not None]
    talk = [(c.ended_at - c.answered_at).total_seconds() for c in calls if c.answered_at]
    connect = [(c.answered_at - c.started_at).total_seconds() for c in calls if c.answered_at]
    return {
        "peak_concurrent_calls": max_overlap([c.started_at.timestamp() for c in records.calls],
                                             [c.ended_at.timestamp() for c in calls]),
        "mean_call_seconds": _mean([(c.ended_at - c.started_at).total_seconds() for c in calls]),
        "mean_answer_to_agent_seconds": _mean(connect),
        "mean_talk_seconds": _mean(talk),
        "mean_recording_seconds": _mean(records.recording_seconds),
        "recordings": len(records.recording_seconds),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


# -- the native dialplan baseline --------------------------------------------------------------------------

NATIVE_END = re.compile(r"native-ivr-end dialstatus=(\S*) keys=(\S*) end=([\d.]+)")


def native_ends(log: Path, offset: int) -> list[tuple[str, str, float]]:
    """(dial status, keys read, end epoch) of each native call logged after `offset` bytes of the log."""
    if not log.exists():
        return []
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [(m.group(1), m.group(2), float(m.group(3))) for m in NATIVE_END.finditer(text)]


def native_outcomes(ends: list[tuple[str, str, float]], placed_errors: list[str], expected: int) -> dict:
    failed = Counter(f"dialstatus {status or '(none)'}" for status, _, _ in ends if status != "ANSWER")
    failed.update(placed_errors)
    missing = expected - len(ends) - len(placed_errors)
    if missing > 0:
        failed["no end logged"] += missing
    return {"placed": expected, "completed": sum(1 for s, _, _ in ends if s == "ANSWER"),
            "failed": sum(failed.values()), "failed_by_reason": dict(failed.most_common()),
            # Both keys read means the native IVR followed the same timeline as the product's.
            "calls_missing_a_key": sum(1 for _, keys, _ in ends if len(keys) != 2)}


def native_recording_seconds(monitor_dir: Path) -> list[float]:
    """MixMonitor WAVs (8 kHz, 16 bit, 44-byte header) of the native calls."""
    return [max(0, p.stat().st_size - 44) / 16000 for p in monitor_dir.glob("native-*.wav")]

"""The one KPI computation: call events -> per-call figures, stored -> sums by the requested cut -> KPIs.

Every consumer (the wallboard's today-so-far figures, the dashboard, the CSV, `callcenter kpi`) calls
`KpiService.report` or `KpiService.live`, which is `report` for today by queue: they cannot disagree. The
definitions are in docs/kpi.md; this module is their implementation and says which event carries which fact.

Shape of the work (all in one database thread, no ORM objects per row):
1. each call's events are folded into figures (`CallFold`): a queue segment, an agent's handling, a transfer,
   a callback, a red flag, an outbound attempt, a first-contact candidate — each with the instant it belongs
   to (its anchor); the figures are stored as rows of kpi_facts (sums as columns, no setting applied) and
   kept up to date with the event log (`refresh`: the calls with newer events are folded again; a report
   first makes sure its days are in the store; a background task keeps today's up to date);
2. the database totals the stored figures by bucket (15-minute interval, queue, agent, campaign), applying
   the current settings (T per queue, short abandon threshold, first-contact window) in the query;
3. a few facts that are not calls come from their tables (survey responses, complaints, discharges) and the
   agents' state timeline (occupancy);
4. each sum is added to its row and to the totals; the KPIs are ratios of those sums.
"""
from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    Text,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..campaigns.claims import completes  # the outcomes that finish a target: one list, the dialer's
from ..db.models import (
    Agent,
    CallEvent,
    CallSurvey,
    Campaign,
    CampaignAttempt,
    CampaignTarget,
    Complaint,
    Encounter,
    KpiCall,
    KpiDay,
    KpiFact,
    KpiState,
    Queue,
    SurveyResponse,
)
from ..errors import ServiceError
from ..periodic import Periodic
from ..triage.escalation import governing
from ..triage.schema import ESCALATIONS

if TYPE_CHECKING:
    from ..config import Config
    from ..db.database import Database

log = logging.getLogger(__name__)

DEFINITIONS_VERSION = "2026-1"
CUTS = ("interval", "day", "week", "month", "queue", "agent", "campaign")
TIME_CUTS = ("interval", "day", "week", "month")
INTERVAL = timedelta(minutes=15)
BATCH = 5000

KPI_NAMES = (
    "offered", "answered", "abandoned", "short_abandons", "asa_seconds", "aht_seconds", "service_level",
    "abandon_rate", "occupancy", "transfers", "callbacks", "fcr_rate",
    "outbound_dialed", "contact_rate", "completion_rate", "confirmations", "cancellations", "opt_outs",
    "amd_human", "amd_machine", "outbound_abandon_rate",
    "followup_rate", "csat", "red_flags", "time_to_escalation_seconds", "complaint_resolution_hours",
    "available_seconds", "on_call_seconds", "wrapup_seconds", "paused_seconds",
)

# name: (green, amber, higher_is_better). Green when at least (or at most) `green`, amber up to `amber`.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float, bool]] = {
    "service_level": (0.80, 0.70, True),
    "abandon_rate": (0.05, 0.08, False),
    "asa_seconds": (30, 60, False),
    "aht_seconds": (360, 480, False),
    "occupancy": (0.85, 0.90, False),
    "fcr_rate": (0.75, 0.65, True),
    "contact_rate": (0.60, 0.40, True),
    "completion_rate": (0.80, 0.60, True),
    "outbound_abandon_rate": (0.02, 0.03, False),  # the 3% cap is the edge of amber
    "followup_rate": (0.90, 0.75, True),
    "csat": (0.85, 0.75, True),
    "time_to_escalation_seconds": (120, 300, False),
    "complaint_resolution_hours": (72, 120, False),
}

# Agent states in which an agent is staffed (occupancy's denominator) and busy with a call (its numerator).
STAFFED = frozenset({"available", "ringing", "on_call", "wrapup"})
BUSY = frozenset({"on_call", "wrapup"})
# Time per state for the agent-states chart (sum name per state). Ringing counts as available: the agent is
# free and being offered a call. Logged out is no state time at all.
STATE_SUMS = {"available": "st_available_s", "ringing": "st_available_s", "on_call": "st_on_call_s",
              "wrapup": "st_wrapup_s", "paused": "st_paused_s"}
# A person took the call: the attempt result, or else the AMD verdict.
PERSON_RESULTS = frozenset({"person", "abandoned"})
# How far back an agent's last state change is looked for (their state when a report starts).
AGENT_LOOKBACK = timedelta(days=1)


class KpiError(ServiceError):
    status = 400


# -- settings ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiSettings:
    tz: ZoneInfo
    short_abandon_seconds: float = 5.0
    fcr_days: int = 7
    opens: time = time(8)
    closes: time = time(18)
    business_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    thresholds: dict[str, tuple[float, float, bool]] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))

    @classmethod
    def from_config(cls, cfg: Config) -> KpiSettings:
        k = cfg.kpi
        opens, closes = _hours(k.business_hours)
        return cls(tz=ZoneInfo(cfg.site.time_zone), short_abandon_seconds=k.short_abandon_seconds,
                   fcr_days=k.fcr_days, opens=opens, closes=closes, business_days=_days(k.business_days),
                   thresholds=_thresholds(k.thresholds))

    def in_business_hours(self, ts: datetime) -> bool:
        local = ts.astimezone(self.tz)
        return local.isoweekday() in self.business_days and self.opens <= local.time() < self.closes


def _hours(text: str) -> tuple[time, time]:
    try:
        first, last = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise KpiError(f"kpi.business_hours: expected 'HH:MM-HH:MM', got {text!r}") from None
    if first >= last:
        raise KpiError(f"kpi.business_hours: {text!r} closes before it opens")
    return first, last


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            days.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise KpiError(f"kpi.business_days: expected ISO weekdays like '1-5', got {text!r}") from None
    if not days or not days <= set(range(1, 8)):
        raise KpiError(f"kpi.business_days: weekdays are 1 (Monday) to 7, got {text!r}")
    return frozenset(days)


def _thresholds(text: str) -> dict[str, tuple[float, float, bool]]:
    result = dict(DEFAULT_THRESHOLDS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, *values = item.split(":")
        if name not in DEFAULT_THRESHOLDS or len(values) != 2:
            raise KpiError(f"kpi.thresholds: {item!r} is not 'kpi:green:amber' for a KPI with thresholds")
        try:
            green, amber = float(values[0]), float(values[1])
        except ValueError:
            raise KpiError(f"kpi.thresholds: {item!r} needs two numbers") from None
        result[name] = (green, amber, DEFAULT_THRESHOLDS[name][2])
    return result


# -- facts ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Fact:
    """One countable thing, at its anchor instant, with what it adds to the sums."""
    ts: datetime
    sums: dict[str, float]
    queue: str | None = None
    agent: int | None = None
    campaign: str | None = None


@dataclass(frozen=True, slots=True)
class _Event:
    """A call event as the governing-disposition rule reads it (type, ts, data)."""
    type: str
    ts: datetime
    data: dict


@dataclass(slots=True)
class _Segment:
    """A call's stay in one queue: from being queued there until answered or gone."""
    queue: str
    start: datetime
    answered_at: datetime | None = None
    agent: int | None = None
    end: str | None = None  # 'abandoned', 'other' once the caller left unanswered
    ended_at: datetime | None = None


class CallFold:
    """The facts of one call, from its events in order (`record` gives them, before any setting applies)."""

    def __init__(self, call_id: str):
        self.call_id = call_id
        self.segments: list[_Segment] = []
        self.facts: list[Fact] = []
        self.patient: int | None = None
        self.contact_ts: datetime | None = None
        self.named_ts: datetime | None = None  # the first identification naming a patient
        self.on_call: dict[int, tuple[datetime, str | None]] = {}
        self.wrapup: dict[int, datetime] = {}
        self.red_flags: dict[datetime, Fact] = {}  # by the instant of their triage_disposition
        self.escalation_events: list[_Event] = []  # what the governing disposition is read from
        self.outbound: dict[str, Any] | None = None

    @property
    def segment(self) -> _Segment | None:
        return self.segments[-1] if self.segments else None

    @property
    def queue(self) -> str | None:
        return self.segment.queue if self.segment else None

    def feed(self, type_: str, ts: datetime, agent_id: int | None, queue: str | None, data,
             state: str | None = None) -> None:
        """`data` is the raw JSON (decoded only for the events whose data is used); an agent_state's state
        comes already extracted by the database, the most frequent event being decoded for one field."""
        handler = getattr(self, "on_" + type_, None)
        if handler is None:
            return
        if type_ == "agent_state" and state is not None:
            handler(ts, agent_id, queue, {"state": state})
        else:
            handler(ts, agent_id, queue, {} if type_ in NO_DATA else _data(data))

    # -- the queue segments: offered, answered, abandoned -------------------------------------------------

    def on_queued(self, ts, agent_id, queue, data) -> None:
        seg = self.segment
        # A ring-no-answer puts the caller back in the same queue: the same segment goes on. Another queue,
        # or a queue again after an answer (blind transfer), is a new offer.
        if seg is not None and seg.answered_at is None and seg.end is None and seg.queue == queue:
            return
        if seg is not None and seg.answered_at is None and seg.end is None:
            seg.end = "other"
        self.segments.append(_Segment(queue or "", ts))

    on_requeued = on_queued

    def on_connected(self, ts, agent_id, queue, data) -> None:
        seg = self.segment
        if seg is not None and seg.answered_at is None and seg.end is None:
            seg.answered_at, seg.agent = ts, agent_id

    def on_ended(self, ts, agent_id, queue, data) -> None:
        seg = self.segment
        if seg is not None and seg.answered_at is None and seg.end is None:
            seg.end = "abandoned" if data.get("outcome") == "abandoned" else "other"
            seg.ended_at = ts

    # -- handling: from the agent's on_call to the end of their wrap-up -----------------------------------

    def on_agent_state(self, ts, agent_id, queue, data) -> None:
        state = data.get("state")
        if state == "on_call":
            self.on_call[agent_id] = (ts, self.queue)
        elif state == "wrapup" and agent_id in self.on_call:
            self.wrapup[agent_id] = ts
        elif state != "ringing" and agent_id in self.on_call:
            began, queue_ = self.on_call.pop(agent_id)
            self.wrapup.pop(agent_id, None)
            self.facts.append(Fact(began, {"handle_sum": (ts - began).total_seconds(), "handlings": 1},
                                   queue=queue_, agent=agent_id))

    # -- transfers, callbacks, red flags, identity -------------------------------------------------------

    def on_transfer_completed(self, ts, agent_id, queue, data) -> None:
        self.escalation_events.append(_Event("transfer_completed", ts, data))
        self.facts.append(Fact(ts, {"transfers": 1}, queue=self.queue, agent=agent_id))

    def on_transferred(self, ts, agent_id, queue, data) -> None:
        if data.get("reason") == "transferred":  # not the requeue after an agent left a consultation
            self.facts.append(Fact(ts, {"transfers": 1}, queue=self.queue, agent=agent_id))

    def on_disposition(self, ts, agent_id, queue, data) -> None:
        if data.get("callback_id") is not None:
            self.facts.append(Fact(ts, {"callbacks": 1}, queue=self.queue, agent=agent_id))

    def on_triage_disposition(self, ts, agent_id, queue, data) -> None:
        if data.get("escalation_required"):
            self.red_flags[ts] = Fact(ts, {"red_flags": 1}, queue=self.queue, agent=agent_id)
            self.facts.append(self.red_flags[ts])
            # Written before the ladder named what satisfies a rung (issue 13): any escalation counted then.
            data = {"satisfied_by": list(ESCALATIONS), **data}
        self.escalation_events.append(_Event("triage_disposition", ts, data))

    def on_escalation_performed(self, ts, agent_id, queue, data) -> None:
        self.escalation_events.append(_Event("escalation_performed", ts, data))

    def on_escalation_started(self, ts, agent_id, queue, data) -> None:
        self.escalation_events.append(_Event("escalation_started", ts, data))

    def on_escalation_overridden(self, ts, agent_id, queue, data) -> None:
        self.escalation_events.append(_Event("escalation_overridden", ts, data))

    def _time_to_escalation(self) -> None:
        """The time from the governing red flag to the action that satisfied it: the wrap-up rule's own
        reading (triage/escalation.py), so the KPI agrees with the call's page. An escalation that did not
        count, or one before a more urgent result took over, is not it."""
        gov = governing(self.escalation_events) if self.red_flags else None
        flag = self.red_flags.get(gov.at) if gov is not None and gov.satisfied is not None else None
        if flag is not None:
            flag.sums.update(esc_sum=(gov.satisfied.ts - flag.ts).total_seconds(), esc_n=1)

    def on_caller_identified(self, ts, agent_id, queue, data) -> None:
        self.contact_ts = self.contact_ts or ts
        self.on_identity_confirmed(ts, agent_id, queue, data)

    def on_identity_confirmed(self, ts, agent_id, queue, data) -> None:
        if data.get("patient_id") is not None:
            self.patient = data["patient_id"]
            self.named_ts = self.named_ts or ts

    # -- outbound campaign attempts --------------------------------------------------------------------

    def on_campaign_dialed(self, ts, agent_id, queue, data) -> None:
        self.outbound = {"ts": ts, "campaign": data.get("campaign"), "attempt_id": data.get("attempt_id"),
                         "amd": None, "result": None, "outcomes": []}

    def on_campaign_answered(self, ts, agent_id, queue, data) -> None:
        if self.outbound is not None:
            self.outbound["amd"] = (data.get("amd_status") or "").upper() or None

    def on_campaign_attempt_ended(self, ts, agent_id, queue, data) -> None:
        if self.outbound is not None:
            self.outbound["result"] = data.get("result")
            if data.get("outcome"):
                self.outbound["final_outcome"] = data["outcome"]

    def on_campaign_outcome(self, ts, agent_id, queue, data) -> None:
        if self.outbound is not None and data.get("outcome"):
            self.outbound["outcomes"].append(data["outcome"])

    # -- the end -----------------------------------------------------------------------------------------

    def record(self) -> dict:
        """What this call's events say, before any setting (service level T, short abandon threshold) is
        applied; `record_rows` turns it into the call's kpi_facts rows. Instants are integer microseconds
        since the epoch."""
        self._time_to_escalation()
        rec: dict[str, Any] = {
            "v": FOLD_VERSION,
            "s": [[seg.queue, _micros(seg.start), _seconds(seg.start, seg.answered_at), seg.agent, seg.end,
                   _seconds(seg.start, seg.ended_at)] for seg in self.segments],
            "f": [[_micros(f.ts), f.sums, f.queue, f.agent, f.campaign] for f in self.facts],
        }
        out = self.outbound
        if out is not None:
            fact = outbound_fact(out)
            rec["o"] = [_micros(fact.ts), fact.sums, fact.campaign]
            if out["result"] is None and out["attempt_id"] is not None:
                rec["a"] = out["attempt_id"]  # its end is looked up in campaign_attempts at every report
        if self.patient is not None and self.contact_ts is not None:
            rec["p"] = [self.patient, _micros(self.contact_ts)]
        if self.patient is not None and self.named_ts is not None:
            rec["n"] = [self.patient, _micros(self.named_ts)]
        return rec


# Bump when CallFold.record's meaning changes: stored records of another version are folded again.
FOLD_VERSION = 4  # 4: time to escalation from the governing disposition's satisfying action
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def _micros(ts: datetime) -> int:
    return (ts - EPOCH) // MICRO


def _instant_of(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


# Events whose handler reads nothing from data.
NO_DATA = frozenset({"queued", "requeued", "connected", "transfer_completed"})
# Only the events a fold has a handler for are read: a real call also logs every state change, playback,
# recording... which no KPI needs.
FOLDED_TYPES = tuple(sorted(name[3:] for name in dir(CallFold) if name.startswith("on_")))


def outbound_fact(out: dict[str, Any]) -> Fact:
    """One dial attempt: its line result (or AMD verdict) and what the patient answered."""
    result, amd = out["result"], out["amd"]
    outcomes = list(out["outcomes"]) + ([out["final_outcome"]] if out.get("final_outcome") else [])
    person = result in PERSON_RESULTS if result else amd in ("HUMAN", "NOTSURE")
    sums = {"out_dialed": 1, "out_contacts": int(person),
            "amd_human": int(amd == "HUMAN" or (amd is None and result == "person")),
            "amd_machine": int(amd == "MACHINE" or (amd is None and result == "machine")),
            "out_abandoned": int(result == "abandoned"),
            "out_completed": int(person and any(completes(o) for o in outcomes)),
            "confirmations": int("confirmed" in out["outcomes"]),
            "cancellations": int("cancelled" in out["outcomes"]),
            "opt_outs": int("opted_out" in out["outcomes"]),
            "red_flags": int(any(o.startswith("red_flag") for o in out["outcomes"]))}
    return Fact(out["ts"], {k: v for k, v in sums.items() if v or k == "out_dialed"},
                campaign=out["campaign"])




# -- sums and KPIs -------------------------------------------------------------------------------------------


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def kpis(s: dict[str, float]) -> dict[str, float | int | None]:
    """The KPIs of one row's sums (docs/kpi.md gives each formula). Durations are summed in whole
    microseconds (exact in any order: totals and rows agree to the last digit) and divided at the end."""
    g = s.get
    resolved = g("offered", 0) - g("short_abandons", 0) - g("waiting", 0)
    return {
        "offered": int(g("offered", 0)), "answered": int(g("answered", 0)),
        "abandoned": int(g("abandoned", 0)), "short_abandons": int(g("short_abandons", 0)),
        "asa_seconds": _ratio(g("wait_sum", 0) / 1e6, g("answered", 0)),
        "aht_seconds": _ratio(g("handle_sum", 0) / 1e6, g("handlings", 0)),
        "service_level": _ratio(g("answered_in_sl", 0), resolved),
        "abandon_rate": _ratio(g("abandoned", 0), resolved),
        "occupancy": _ratio(g("busy_s", 0), g("staffed_s", 0)),
        "transfers": int(g("transfers", 0)), "callbacks": int(g("callbacks", 0)),
        "fcr_rate": _ratio(g("fcr_yes", 0), g("fcr_base", 0)),
        "outbound_dialed": int(g("out_dialed", 0)),
        "contact_rate": _ratio(g("out_contacts", 0), g("out_dialed", 0)),
        "completion_rate": _ratio(g("out_completed", 0), g("out_contacts", 0)),
        "confirmations": int(g("confirmations", 0)), "cancellations": int(g("cancellations", 0)),
        "opt_outs": int(g("opt_outs", 0)),
        "amd_human": int(g("amd_human", 0)), "amd_machine": int(g("amd_machine", 0)),
        "outbound_abandon_rate": _ratio(g("out_abandoned", 0), g("out_contacts", 0)),
        "followup_rate": _ratio(g("followup_done", 0), g("followup_n", 0)),
        "csat": _ratio(g("csat_top", 0), g("csat_n", 0)),
        "red_flags": int(g("red_flags", 0)),
        "time_to_escalation_seconds": _ratio(g("esc_sum", 0) / 1e6, g("esc_n", 0)),
        "complaint_resolution_hours": _ratio(g("complaint_hours", 0), g("complaints", 0)),
        "available_seconds": g("st_available_s", 0), "on_call_seconds": g("st_on_call_s", 0),
        "wrapup_seconds": g("st_wrapup_s", 0), "paused_seconds": g("st_paused_s", 0),
    }


@dataclass
class KpiRow:
    key: str
    label: str
    kpis: dict[str, float | int | None]
    # Thresholds of this row that differ from the report's (a queue's own answer-time target).
    thresholds: dict[str, tuple[float, float, bool]] = field(default_factory=dict)


@dataclass
class KpiReport:
    start: datetime
    end: datetime
    time_zone: str
    by: str
    totals: dict[str, float | int | None]
    rows: list[KpiRow]
    thresholds: dict[str, tuple[float, float, bool]]

    def row(self, key: str) -> KpiRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def to_json(self) -> dict:
        return {
            "from": self.start.isoformat(), "to": self.end.isoformat(), "time_zone": self.time_zone,
            "by": self.by, "definitions_version": DEFINITIONS_VERSION,
            "totals": {k: _rounded(v) for k, v in self.totals.items()},
            "rows": [{"key": r.key, "label": r.label, "kpis": {k: _rounded(v) for k, v in r.kpis.items()}}
                     | ({"thresholds": _threshold_json(r.thresholds)} if r.thresholds else {})
                     for r in self.rows],
            "thresholds": _threshold_json(self.thresholds),
        }


def _threshold_json(thresholds: dict[str, tuple[float, float, bool]]) -> dict:
    return {name: {"green": g, "amber": a, "higher_is_better": up} for name, (g, a, up) in thresholds.items()}


def _queue_thresholds(by: str, key: str, service_level: dict[str, int]) -> dict:
    """A queue's speed of answer is judged against its own target T (30 s scheduling, 120 s clinical): green
    up to T, amber up to 2T. The report-wide threshold stays for totals and the other cuts."""
    if by != "queue" or key not in service_level:
        return {}
    target = service_level[key]
    return {"asa_seconds": (target, 2 * target, False)}


def _rounded(value):
    return round(value, 4) if isinstance(value, float) else value


# -- cuts ----------------------------------------------------------------------------------------------------


def time_key(ts: datetime, by: str, tz: ZoneInfo) -> str:
    """The local bucket of an instant. An interval in the hour that a DST fall-back repeats carries its UTC
    offset, so the two 01:00 intervals of that night stay two rows."""
    local = ts.astimezone(tz)
    if by == "day":
        return local.date().isoformat()
    if by == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if by == "week":
        year, week, _ = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    floored = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    key = floored.strftime("%Y-%m-%dT%H:%M")
    wall = floored.replace(tzinfo=None)
    if wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset():
        key += floored.strftime("%z")[:3] + ":" + floored.strftime("%z")[3:]
    return key


def time_keys(start: datetime, end: datetime, by: str, tz: ZoneInfo) -> list[str]:
    """Every bucket of [start, end) in order, so charts show empty intervals as zero."""
    keys: dict[str, None] = {}
    step = _floor_interval(start)
    while step < end:
        keys[time_key(max(step, start), by, tz)] = None
        step += INTERVAL
    return list(keys)


def _floor_interval(ts: datetime) -> datetime:
    # 15-minute borders are the same in UTC and in every zone whose offset is a multiple of 15 minutes.
    ts = ts.astimezone(UTC)
    return ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)


def _label(key: str, by: str) -> str:
    if by == "interval":
        return key.replace("T", " ")
    if by == "week":
        year, week = key.split("-W")
        return f"Week of {date.fromisocalendar(int(year), int(week), 1).isoformat()}"
    return key


# -- the service ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    start: datetime
    end: datetime
    by: str
    queue: str | None
    agent: str | None
    campaign: str | None
    business_hours: bool
    now: datetime


# How often the background task folds the calls that have new events (write-through of the KPI store).
REFRESH_SECONDS = 5.0


class KpiService:
    def __init__(self, db: Database, cfg: Config, *, clock: Callable[[], datetime] | None = None):
        self._db = db
        self.settings = KpiSettings.from_config(cfg)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._refresher: Periodic | None = None

    def start(self, every: float = REFRESH_SECONDS) -> None:
        """Keep the store current in the background, so a report (even the first in a fresh process) only
        totals stored figures. Reports never depend on it: they refresh what is stale themselves, so a
        failed refresh is only logged."""
        self._refresher = Periodic(self.refresh_today, every, name="kpi-refresh")
        self._refresher.start()

    async def stop(self) -> None:
        if self._refresher:
            await self._refresher.stop()

    async def refresh_today(self) -> None:
        """Fold the calls with new events, and cover today (hospital time) if it is not yet: a UTC day per
        transaction, each run again after a pause when it loses the race for the write lock (under load the
        event log writer holds it often; the refresh must wait its turn, not fail)."""
        start = self.today_start(self._clock())
        end = self.today_start(start + timedelta(hours=36))  # the next local midnight, whatever DST does
        for day in utc_days(start, end):
            await self._db.run_retrying(refresh, [day])

    async def report(self, start: datetime, end: datetime, *, by: str = "day", queue: str | None = None,
                     agent: str | None = None, campaign: str | None = None,
                     business_hours: bool = False) -> KpiReport:
        query = self.query(start, end, by=by, queue=queue, agent=agent, campaign=campaign,
                           business_hours=business_hours)
        await self._prepare(query)
        return await self._db.run(compute, query, self.settings)

    async def _prepare(self, q: _Query) -> None:
        """Fill the store a day per transaction before the report (which then finds nothing to do): on
        SQLite, storing holds the database's write lock, and the event log writer must not wait long."""
        for day in utc_days(q.start, q.end):
            await self._db.run_retrying(refresh, [day])
        for day in await self._db.run(fcr_days, q, self.settings):
            await self._db.run_retrying(refresh, [day])

    def query(self, start: datetime, end: datetime, *, by: str = "day", queue: str | None = None,
              agent: str | int | None = None, campaign: str | None = None,
              business_hours: bool = False) -> _Query:
        if by not in CUTS:
            raise KpiError(f"'by' must be one of {', '.join(CUTS)}")
        if start.tzinfo is None or end.tzinfo is None:
            raise KpiError("the report's start and end need a time zone")
        if end <= start:
            raise KpiError("the report ends before it starts")
        return _Query(start.astimezone(UTC), end.astimezone(UTC), by, queue or None,
                      str(agent) if agent not in (None, "") else None, campaign or None, business_hours,
                      self._clock())

    def today_start(self, now: datetime) -> datetime:
        local = now.astimezone(self.settings.tz)
        return datetime.combine(local.date(), time(0), tzinfo=self.settings.tz).astimezone(UTC)

    async def live(self, now: datetime | None = None) -> KpiReport:
        """Today so far, per queue: what the wallboard shows."""
        now = now or self._clock()
        return await self.report(self.today_start(now), now + timedelta(microseconds=1), by="queue")

    def compute_sync(self, session: Session, start: datetime, end: datetime, **kwargs) -> KpiReport:
        """The same computation in the caller's session (CLI, benchmark)."""
        return compute(session, self.query(start, end, **kwargs), self.settings)


def compute(session: Session, q: _Query, settings: KpiSettings) -> KpiReport:
    service_level = dict(session.execute(select(Queue.name, Queue.service_level_seconds)).all())
    agents = {row.id: row for row in session.execute(select(Agent.id, Agent.number, Agent.name))}
    numbers = {agent_id: row.number for agent_id, row in agents.items()}
    refresh_for(session, q, settings)
    grouped, facts = stored_sums(session, q, settings, service_level, numbers)
    facts += table_facts(session, q)
    facts += occupancy_facts(session, q, settings.tz)
    return aggregate(facts, q, settings, service_level, agents, session, grouped=grouped)


# The event log's hot columns are read raw and decoded here (only when used): the ORM's per-row type
# processing cost more than the whole fold. SQLite gives text; PostgreSQL's driver gives datetimes and
# dicts already.
RAW_TS = type_coerce(CallEvent.ts, String).label("ts")
RAW_DATA = type_coerce(CallEvent.data, Text).label("data")


def _stream(session: Session, stmt):
    return session.connection().execute(stmt.execution_options(yield_per=BATCH))


def _instant(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _data(value) -> dict:
    if isinstance(value, str):
        return json.loads(value)
    return value or {}


# -- the KPI store: figures as rows, kept up to date with the event log -------------------------------------

SUM_COLUMNS = ("offered", "handle_sum", "handlings", "transfers", "callbacks", "red_flags", "esc_sum",
               "esc_n", "fcr_base", "out_dialed", "out_contacts", "out_completed", "out_abandoned",
               "amd_human", "amd_machine", "confirmations", "cancellations", "opt_outs")
ZERO_SUMS = dict.fromkeys(SUM_COLUMNS, 0)
# Calls folded per query (an IN list).
FOLD_CHUNK = 500
# Event ids committed out of order (PostgreSQL hands out ids before commit, several writers): the calls of
# this many ids below the watermark are checked again, by their count of folded events. Not on SQLite (see
# `_recheck_ids`), where that check was most of the background refresh's cost per call.
RECHECK_IDS = 5000
# A first contact's window reaches back at most this far before its call's first queue segment.
CONTACT_LEAD = timedelta(days=1)


# Durations are stored in whole microseconds (in float columns: exact up to 285 years), so SUM is exact.
DURATION_SUMS = frozenset({"handle_sum", "esc_sum"})


def _us(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1_000_000)


def record_rows(call_id: str, rec: dict) -> tuple[list[dict], int | None, int | None]:
    """The kpi_facts rows of one call's record (no setting applied: raw waits), and its patient and the
    microsecond its patient was first named (for other calls' first-contact resolution)."""
    rows = []

    def row(ts: int, queue=None, agent=None, campaign=None, **values) -> dict:
        r = {"call_id": call_id, "ts": _instant_of(ts), "minute": ts // 60_000_000, "queue": queue,
             "agent_id": agent, "campaign": campaign, "attempt_id": None, "wait": None, "ended": None,
             "gone": None, "patient_id": None, "contact_us": None, **ZERO_SUMS}
        r.update(values)
        rows.append(r)
        return r

    for queue, start, wait, agent, end, gone in rec["s"]:
        row(start, queue, agent, offered=1, wait=_us(wait), ended=end, gone=_us(gone))
    for ts, sums, queue, agent, campaign in rec["f"]:
        row(ts, queue, agent, campaign,
            **{k: _us(v) if k in DURATION_SUMS else v for k, v in sums.items()})
    if "o" in rec:
        ts, sums, campaign = rec["o"]
        row(ts, campaign=campaign, attempt_id=rec.get("a"), **sums)
    first = next((seg for seg in rec["s"] if seg[2] is not None), None)
    if first is not None and "p" in rec:
        patient, contact = rec["p"]
        row(first[1], first[0], first[3], fcr_base=1, patient_id=patient, contact_us=contact)
    patient, named = rec.get("n", (None, None))
    return rows, patient, named


def fold_calls(session: Session, call_ids: list[str]) -> dict[str, tuple[dict, int, int]]:
    """Fold each call's events, in order, into its record; with its count of folded events and last id."""
    rows = _stream(session, select(CallEvent.call_id, CallEvent.id, RAW_TS, CallEvent.type,
                                   CallEvent.agent_id, CallEvent.queue_name, RAW_DATA,
                                   CallEvent.data["state"].as_string())
                   .where(CallEvent.call_id.in_(call_ids), CallEvent.type.in_(FOLDED_TYPES))
                   .order_by(CallEvent.call_id, CallEvent.id))
    records: dict[str, tuple[dict, int, int]] = {}
    fold: CallFold | None = None
    count = last = 0
    for call_id, event_id, ts, type_, agent_id, queue, data, state in rows:
        if fold is None or fold.call_id != call_id:
            if fold is not None:
                records[fold.call_id] = (fold.record(), count, last)
            fold, count = CallFold(call_id), 0
        fold.feed(type_, _instant(ts), agent_id, queue, data, state)
        count, last = count + 1, event_id
    if fold is not None:
        records[fold.call_id] = (fold.record(), count, last)
    return records


def store_calls(session: Session, call_ids: Iterable[str]) -> int:
    """Fold these calls again and replace their stored figures."""
    ids = sorted(set(call_ids))
    for n in range(0, len(ids), FOLD_CHUNK):
        chunk = ids[n:n + FOLD_CHUNK]
        folded = fold_calls(session, chunk)
        session.execute(delete(KpiFact).where(KpiFact.call_id.in_(chunk)))
        session.execute(delete(KpiCall).where(KpiCall.call_id.in_(chunk)))
        facts, calls = [], []
        for call_id, (rec, count, last) in folded.items():
            rows, patient, named = record_rows(call_id, rec)
            facts += rows
            calls.append({"call_id": call_id, "last_event_id": last, "events": count, "patient_id": patient,
                          "contact_us": named})
        if calls:
            session.execute(insert(KpiCall), calls)
        if facts:
            session.execute(insert(KpiFact), facts)
    return len(ids)


def utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days [start, end) touches."""
    first, last = start.astimezone(UTC).date(), (end.astimezone(UTC) - MICRO).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def refresh(session: Session, days: Iterable[date] = ()) -> None:
    """Bring the store up to date with the event log, and make sure every call of `days` is in it.

    Invariant: every call with a folded event on a day in kpi_days has its current record stored, as of the
    event id `folded_through`. Events after it name the calls to fold again; a day not yet covered has its
    calls without a record folded. Nothing to do (the usual case with the background refresh) costs two small
    reads and no write. Writers take the kpi_state row first, so concurrent refreshes wait for each other."""
    conn = session.connection()
    wanted = set(days)
    top = conn.execute(select(func.max(CallEvent.id))).scalar() or 0
    state = conn.execute(select(KpiState.fold_version, KpiState.folded_through)
                         .where(KpiState.id == 1)).first()
    covered = _covered(conn, wanted)
    if state is not None and state[0] == FOLD_VERSION and state[1] >= top and covered >= wanted:
        return
    if state is None:
        try:
            with session.begin_nested():
                session.execute(insert(KpiState).values(id=1, fold_version=0, folded_through=0))
        except IntegrityError:
            pass
    # The lock: the first write. SQLite begins its write transaction here; PostgreSQL locks the row.
    session.execute(update(KpiState).where(KpiState.id == 1).values(fold_version=KpiState.fold_version))
    version, through = session.execute(select(KpiState.fold_version, KpiState.folded_through)
                                       .where(KpiState.id == 1)).one()
    top = session.execute(select(func.max(CallEvent.id))).scalar() or 0
    if version != FOLD_VERSION:  # another meaning of a record: start empty, covering days again as asked
        for table in (KpiFact, KpiCall, KpiDay):
            session.execute(delete(table))
        through = top
    elif through < top:
        _catch_up(session, max(0, through - _recheck_ids(session)))
    session.execute(update(KpiState).where(KpiState.id == 1).values(fold_version=FOLD_VERSION,
                                                                    folded_through=max(through, top)))
    for day in sorted(wanted - _covered(session.connection(), wanted)):
        _cover(session, day)


def _recheck_ids(session: Session) -> int:
    """How far below the watermark an event may still appear. SQLite has one writer at a time and gives an
    event its id inside the writer's transaction, so ids commit in order; and `refresh` reads the top id
    holding the write lock, so every event at or below the watermark was committed, and folded, before:
    nothing to check again. PostgreSQL's sequence hands ids out before their transactions commit."""
    return 0 if session.get_bind().dialect.name == "sqlite" else RECHECK_IDS


def _covered(conn, days: set[date]) -> set[date]:
    if not days:
        return set()
    return set(conn.execute(select(KpiDay.day).where(KpiDay.day.in_(days))).scalars())


def _catch_up(session: Session, after: int) -> None:
    """Fold again the calls with events after the id `after` whose stored count of events is not theirs."""
    touched = (select(CallEvent.call_id).where(CallEvent.id > after, CallEvent.type.in_(FOLDED_TYPES),
                                               CallEvent.call_id.is_not(None)).distinct().subquery())
    counts = (select(CallEvent.call_id, func.count().label("n")).where(
        CallEvent.call_id.in_(select(touched.c.call_id)), CallEvent.type.in_(FOLDED_TYPES))
        .group_by(CallEvent.call_id).subquery())
    stale = session.execute(select(counts.c.call_id).outerjoin(KpiCall, KpiCall.call_id == counts.c.call_id)
                            .where(or_(KpiCall.events.is_(None), KpiCall.events != counts.c.n))).scalars()
    store_calls(session, list(stale))


def _cover(session: Session, day: date) -> None:
    """Store every call with a folded event on this UTC day that has no record yet."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    in_day = (select(CallEvent.call_id)
              .where(CallEvent.ts >= start, CallEvent.ts < start + timedelta(days=1),
                     CallEvent.type.in_(FOLDED_TYPES), CallEvent.call_id.is_not(None))
              .distinct().subquery())
    missing = session.execute(select(in_day.c.call_id).outerjoin(KpiCall, KpiCall.call_id == in_day.c.call_id)
                              .where(KpiCall.call_id.is_(None))).scalars()
    store_calls(session, list(missing))
    session.execute(insert(KpiDay).values(day=day))


def refresh_for(session: Session, q: _Query, settings: KpiSettings) -> None:
    """The store covers the report's days, and for first-contact resolution the days from its earliest
    candidate's contact to fcr_days after its end (the patient's next call)."""
    refresh(session, utc_days(q.start, q.end))
    refresh(session, fcr_days(session, q, settings))


def fcr_days(session: Session, q: _Query, settings: KpiSettings) -> list[date]:
    earliest = session.execute(select(func.min(KpiFact.contact_us)).where(
        KpiFact.ts >= q.start, KpiFact.ts < q.end, KpiFact.fcr_base == 1)).scalar()
    first = q.start if earliest is None else min(q.start, _instant_of(earliest))
    return utc_days(first, q.end + timedelta(days=settings.fcr_days))


def stored_sums(session: Session, q: _Query, settings: KpiSettings, service_level: dict[str, int],
                numbers: dict[int, str]) -> tuple[list[Fact], list[Fact]]:
    """The sums of the stored figures in [start, end), grouped in SQL by what the report's rows need (15
    minutes — or minutes, when business hours are not on quarter hours — and/or queue, agent, campaign),
    each group given as a Fact at an instant of its bucket; the current settings (T per queue, short
    abandon threshold, fcr_days) applied in the query. Second: outbound figures whose attempt end is looked
    up in campaign_attempts (`_fill_attempts`)."""
    f = KpiFact
    sl = (case(service_level, value=f.queue, else_=30) if service_level else literal(30))
    short = settings.short_abandon_seconds * 1_000_000
    abandoned = and_(f.ended == "abandoned", f.wait.is_(None))
    other = KpiCall.__table__.alias("other")
    repeat = exists().where(other.c.patient_id == f.patient_id, other.c.call_id != f.call_id,
                            other.c.contact_us > f.contact_us,
                            other.c.contact_us <= f.contact_us + int(settings.fcr_days * 86_400_000_000))
    sums = {
        **{name: func.sum(getattr(f, name)) for name in SUM_COLUMNS},
        "answered": func.sum(case((f.wait.is_not(None), 1), else_=0)),
        "wait_sum": func.sum(f.wait),
        "answered_in_sl": func.sum(case((f.wait <= sl * 1_000_000, 1), else_=0)),
        "short_abandons": func.sum(case((and_(abandoned, f.gone < short), 1), else_=0)),
        "abandoned": func.sum(case((and_(abandoned, f.gone >= short), 1), else_=0)),
        "waiting": func.sum(case((and_(f.offered == 1, f.wait.is_(None), f.ended.is_(None)), 1), else_=0)),
        "fcr_yes": func.sum(case((and_(f.fcr_base == 1, ~repeat), 1), else_=0)),
    }
    where = [f.ts >= q.start, f.ts < q.end]
    if q.queue is not None:
        where.append(f.queue == q.queue)
    if q.campaign is not None:
        where.append(f.campaign == q.campaign)
    if q.agent is not None:
        ids = [agent_id for agent_id, number in numbers.items() if number == q.agent]
        where.append(f.agent_id.in_(ids) if ids else false())
    groups = []
    step = 0
    if q.by in TIME_CUTS or q.business_hours:
        quarters = all(t.minute % 15 == 0 and t.second == 0 for t in (settings.opens, settings.closes))
        step = 15 if quarters or not q.business_hours else 1
        groups.append((f.minute // step).label("bucket") if step > 1 else f.minute.label("bucket"))
    cut = {"queue": f.queue, "agent": f.agent_id, "campaign": f.campaign}.get(q.by)
    if cut is not None:
        groups.append(cut.label("cut"))
    names = list(sums)
    stmt = select(*groups, *(value.label(name) for name, value in sums.items())).where(
        *where, f.attempt_id.is_(None))
    if groups:
        stmt = stmt.group_by(*groups)
    result = []
    for row in session.execute(stmt):
        values = row[len(groups):]
        at = q.start
        if step:
            at = max(q.start, EPOCH + timedelta(minutes=row[0] * step))
        key = row[len(groups) - 1] if cut is not None else None
        result.append(Fact(at, {n: v for n, v in zip(names, values, strict=True) if v},
                           queue=key if q.by == "queue" else None, agent=key if q.by == "agent" else None,
                           campaign=key if q.by == "campaign" else None))
    pending: dict[int, Fact] = {}
    for attempt_id, ts, queue, agent, campaign, *values in session.execute(
            select(f.attempt_id, f.ts, f.queue, f.agent_id, f.campaign, *(getattr(f, n) for n in SUM_COLUMNS))
            .where(*where, f.attempt_id.is_not(None))):
        sums = {n: v for n, v in zip(SUM_COLUMNS, values, strict=True) if v or n == "out_dialed"}
        pending[attempt_id] = Fact(ts, sums, queue=queue, agent=agent, campaign=campaign)
    _fill_attempts(session, pending)
    return result, list(pending.values())


def _fill_attempts(session: Session, missing: dict[int, Fact]) -> None:
    """Attempts whose end is not in the event log (older writers, a crash): their row says how they ended."""
    if not missing:
        return
    rows = session.execute(select(CampaignAttempt.id, CampaignAttempt.result, CampaignAttempt.amd_status,
                                  CampaignAttempt.outcome).where(CampaignAttempt.id.in_(list(missing))))
    for attempt_id, result, amd, outcome in rows:
        if result == "dialing":
            continue
        fact = missing[attempt_id]
        redone = outbound_fact({"ts": fact.ts, "campaign": fact.campaign, "result": result,
                                "amd": (amd or "").upper() or None, "outcomes": [],
                                "final_outcome": outcome})
        fact.sums.clear()
        fact.sums.update(redone.sums)


def table_facts(session: Session, q: _Query) -> list[Fact]:
    """Patient-relationship facts that live in their own tables, anchored at their own instants."""
    facts = []
    for campaign, score, at in session.execute(
            select(SurveyResponse.campaign_name, SurveyResponse.score, SurveyResponse.created_at)
            .where(SurveyResponse.created_at >= q.start, SurveyResponse.created_at < q.end)):
        facts.append(Fact(at, {"csat_n": 1, "csat_top": int(score >= 4)}, campaign=campaign))
    # The survey after an inbound call (issue 17): the same CSAT, by the agent who took the call and queue.
    for agent_id, queue, score, at in session.execute(
            select(CallSurvey.agent_id, CallSurvey.queue_name, CallSurvey.satisfaction, CallSurvey.started_at)
            .where(CallSurvey.started_at >= q.start, CallSurvey.started_at < q.end,
                   CallSurvey.satisfaction.is_not(None))):
        facts.append(Fact(at, {"csat_n": 1, "csat_top": int(score >= 4)}, queue=queue, agent=agent_id))
    for opened, resolved in session.execute(
            select(Complaint.opened_at, Complaint.resolved_at)
            .where(Complaint.resolved_at >= q.start, Complaint.resolved_at < q.end)):
        facts.append(Fact(resolved, {"complaints": 1,
                                     "complaint_hours": (resolved - opened).total_seconds() / 3600}))
    done = followup_completions()
    for discharged, encounter_id in session.execute(
            select(Encounter.discharged_at, done.c.encounter_id)
            .outerjoin(done, done.c.encounter_id == Encounter.id).where(*discharged_between(q.start, q.end))):
        facts.append(Fact(discharged, {"followup_n": 1, "followup_done": int(encounter_id is not None)}))
    return facts


# The follow-up rate's two halves (docs/kpi.md `followup_rate`), shared with the follow-up performance reports
# (callcenter/reports/services.py) so that their numbers and the dashboard's cannot differ.


def discharged_between(start: datetime, end: datetime) -> tuple:
    """The population: admissions discharged in [start, end) (a visit is no discharge)."""
    return (Encounter.kind == "admission", Encounter.discharged_at >= start, Encounter.discharged_at < end)


def followup_completions():
    """Per followed-up encounter, one row: a campaign target about it is `completed`, and the first time one
    was (NULL when the target does not say)."""
    t = CampaignTarget
    return (select(t.subject_id.label("encounter_id"), func.min(t.completed_at).label("completed_at"))
            .where(t.subject_kind == "encounter", t.status == "completed").group_by(t.subject_id).subquery())


def occupancy_facts(session: Session, q: _Query, tz: ZoneInfo) -> list[Fact]:
    """Each agent's staffed and busy seconds, and seconds per state, per bucket of the report (`_borders`),
    so every cut and the
    business-hours filter see them in the right place. An agent's state at `start` is their last change
    before it (up to a day back); time after `now` is not counted."""
    is_state = CallEvent.type == "agent_state"
    before = (select(func.max(CallEvent.id))
              .where(is_state, CallEvent.ts >= q.start - AGENT_LOOKBACK, CallEvent.ts < q.start)
              .group_by(CallEvent.agent_id))
    rows = _stream(session, select(CallEvent.agent_id, RAW_TS, CallEvent.data["state"].as_string())
                   .where(is_state, or_(and_(CallEvent.ts >= q.start, CallEvent.ts < q.end),
                                        CallEvent.id.in_(before)))
                   .order_by(CallEvent.agent_id, CallEvent.ts, CallEvent.id))
    stop = min(q.end, q.now)
    buckets: dict[tuple[int, datetime], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    borders = _borders(q, tz, stop)
    previous: tuple[int, datetime, str] | None = None
    for agent_id, ts, state_name in rows:  # the state is extracted from the JSON by the database
        ts = _instant(ts)
        if previous is not None:
            _spans(buckets, previous, ts if previous[0] == agent_id else stop, q.start, stop, borders)
        previous = (agent_id, ts, state_name)
    if previous is not None:
        _spans(buckets, previous, stop, q.start, stop, borders)
    return [Fact(max(at, q.start), {"staffed_s": 0.0, "busy_s": 0.0} | sums, agent=agent_id)
            for (agent_id, at), sums in buckets.items()]


def _borders(q: _Query, tz: ZoneInfo, stop: datetime) -> list[datetime]:
    """Where an agent's state time is cut, in order, from the bucket holding `start` to past `stop`: every
    15 minutes for the interval cut and the business-hours filter, local midnights for the other time cuts,
    none for the rest — as fine as the report needs, so a month's report does not carry 96 pieces per agent
    and day. Found by bisection, not by a time zone conversion per state."""
    if q.by == "interval" or q.business_hours:
        at = _floor_interval(q.start)
        borders = [at]
        while at <= stop:
            at += INTERVAL
            borders.append(at)
        return borders
    if q.by in TIME_CUTS:
        day = q.start.astimezone(tz).date()
        borders = [datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)]
        while borders[-1] <= stop:
            day += timedelta(days=1)
            borders.append(datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC))
        return borders
    return [q.start, q.end]


def _spans(buckets: dict, state: tuple[int, datetime, str], until: datetime, start: datetime,
           stop: datetime, borders: list[datetime]) -> None:
    agent_id, since, name = state
    if name not in STATE_SUMS:
        return
    at, until = max(since, start), min(until, stop)
    staffed, busy, per_state = name in STAFFED, name in BUSY, STATE_SUMS[name]
    i = bisect_right(borders, at) - 1
    while at < until:
        end = min(borders[i + 1], until)
        seconds = (end - at).total_seconds()
        sums = buckets[agent_id, borders[i]]
        sums[per_state] += seconds
        if staffed:
            sums["staffed_s"] += seconds
        if busy:
            sums["busy_s"] += seconds
        at, i = end, i + 1


def aggregate(facts: Iterable[Fact], q: _Query, settings: KpiSettings, service_level: dict[str, int],
              agents: dict, session: Session, grouped: Iterable[Fact] = ()) -> KpiReport:
    """Adds each fact to its row and to the totals. `grouped` are sums the database already filtered by
    range, queue, agent and campaign, each at an instant of its bucket (`stored_sums`)."""
    numbers = {agent_id: row.number for agent_id, row in agents.items()}
    totals: dict[str, float] = defaultdict(float)
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    key_of = _key_function(q, settings, numbers)
    filtered = q.queue is not None or q.agent is not None or q.campaign is not None
    for fact in _chain(facts, grouped, q, numbers, filtered):
        if q.business_hours and not settings.in_business_hours(fact.ts):
            continue
        key = key_of(fact)
        row = rows[key] if key is not None else None
        for name, value in fact.sums.items():
            totals[name] += value
            if row is not None:
                row[name] += value
    keys = _row_keys(q, settings, rows, service_level, session)
    labels = _labels(q, agents, session)
    return KpiReport(
        q.start, q.end, settings.tz.key, q.by, kpis(totals),
        [KpiRow(k, labels.get(k, _label(k, q.by)), kpis(rows.get(k, {})),
                _queue_thresholds(q.by, k, service_level)) for k in keys],
        settings.thresholds)


def _chain(facts: Iterable[Fact], grouped: Iterable[Fact], q: _Query, numbers: dict[int, str],
           filtered: bool) -> Iterator[Fact]:
    for fact in facts:
        if q.start <= fact.ts < q.end and not (filtered and not _matches(fact, q, numbers)):
            yield fact
    yield from grouped


def _key_function(q: _Query, settings: KpiSettings, numbers: dict[int, str]) -> Callable[[Fact], str | None]:
    if q.by in TIME_CUTS:
        tz, by = settings.tz, q.by
        memo: dict[datetime, str] = {}

        def key(fact: Fact) -> str:
            # A bucket is a function of the fact's 15-minute interval: computed once per interval.
            interval = _floor_interval(fact.ts)
            found = memo.get(interval)
            if found is None:
                found = memo[interval] = time_key(interval, by, tz)
            return found
        return key
    if q.by == "queue":
        return lambda f: f.queue
    if q.by == "agent":
        return lambda f: numbers.get(f.agent) if f.agent is not None else None
    return lambda f: f.campaign


def _matches(fact: Fact, q: _Query, numbers: dict[int, str]) -> bool:
    if q.queue is not None and fact.queue != q.queue:
        return False
    if q.agent is not None and (fact.agent is None or numbers.get(fact.agent) != q.agent):
        return False
    return q.campaign is None or fact.campaign == q.campaign


def _row_keys(q: _Query, settings: KpiSettings, rows: dict, service_level: dict[str, int],
              session: Session) -> list[str]:
    if q.by in TIME_CUTS:
        return time_keys(q.start, q.end, q.by, settings.tz)
    known: set[str] = set(rows)
    if q.by == "queue" and q.agent is None and q.campaign is None:
        known |= set(service_level) if q.queue is None else {q.queue}
    if q.by == "campaign" and q.queue is None and q.agent is None:
        known |= set(session.scalars(select(Campaign.name))) if q.campaign is None else {q.campaign}
    return sorted(known)


def _labels(q: _Query, agents: dict, session: Session) -> dict[str, str]:
    if q.by == "agent":
        return {row.number: f"{row.number} {row.name}" for row in agents.values()}
    if q.by == "queue":
        return dict(session.execute(select(Queue.name, Queue.title)).all())
    if q.by == "campaign":
        return dict(session.execute(select(Campaign.name, Campaign.title)).all())
    return {}


def report_bounds(first: str, last: str | None, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A report's [start, end) from days (hospital time, the last day included) or instants with offsets."""
    return _bound(first, tz, end=False), _bound(last or first, tz, end=last is None or len(last) == 10)


def _bound(text: str, tz: ZoneInfo, *, end: bool) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise KpiError(f"{text!r} is neither a day (YYYY-MM-DD) nor an instant") from None
    if instant.tzinfo is None:
        raise KpiError(f"{text!r} needs its UTC offset (or give a day)")
    return instant.astimezone(UTC)

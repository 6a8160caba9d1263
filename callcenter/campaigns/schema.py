"""Campaign definitions: YAML in (campaigns/*.yaml or an admin's edit), frozen and fully validated
`CampaignDef` out. Every problem is reported at once as `file:line: where: what` (yamlsource.py), like IVR
flows.

```yaml
name: cardiology-discharge-followup        # [a-z0-9-]+
kind: discharge_followup                   # discharge_followup | appointment_reminder | chronic_check |
                                           # satisfaction_survey
title: Cardiology discharge follow-up
version: 1                                 # whole number or text (clinical content is versioned)
review: "Example content, requires clinical review before production use."   # optional
target: {rule: discharged, department: Cardiology, within_days: 2}
mode: automated                            # automated (runs `flow`) | progressive (agents of `queue`)
flow: discharge-followup                   # automated: ivr_flows/<flow>.yaml must exist
queue: nurse                               # progressive: required; automated: where "connect me" goes
script: outbound_followup                  # progressive: the call script shown to the agent (optional;
                                           # must be a callcenter/triage/scripts/<script>.j2)
schedule: "0 10 * * 1-5"                   # cron in the hospital's time zone; absent = run by hand only
caller_id: '"City Hospital" <+15555550100>'   # optional: default [telephony] outbound_caller_id
protocol: chest_pain                       # automated, optional: the triage protocol the flow's
                                           # questionnaire asks (default: the flow's own); must exist
questionnaire: post_surgery_wound_check    # automated, optional: the follow-up questionnaire the flow's
                                           # `followup` node asks (default: the flow's own); must exist
compliance:                                # optional, every key has a default (DEFAULT_* below)
  window: {start: "08:00", end: "21:00"}   # in the patient's time zone, else the hospital's; end excluded
  max_attempts: 3
  retry_after: {no_answer: 2h, busy: 15m, machine: 4h, failed: 1h, abandoned: 1h, person: 4h}
  caps: {per_day: 2, per_week: 4}          # attempts per patient across ALL campaigns, patient's local day
  machine: leave_message                   # leave_message | hang_up
pacing: {max_channels: 10, calls_per_second: 2, abandon_cap: 0.03}   # optional
```

Target rules, one per kind (a rule that makes no sense for the kind is an error):
- discharge_followup: `discharged` {department?, within_days 1..60}: admissions discharged in the last N days.
- appointment_reminder: `appointments` {days_ahead 0..30 (1 = tomorrow, in the hospital's calendar),
  department?, statuses? (default [booked])}.
- chronic_check: `chronic_not_reached` {days 1..365, condition_code?}: patients with a chronic condition whom
  no call of this campaign reached (a person answered) in the last N days.
- satisfaction_survey: `recent_discharges_or_visits` {within_days 1..60, department?}: visits that started,
  and admissions that ended, in the last N days.
"""
from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from croniter import croniter

from .. import yamlsource as source
from ..db.models import APPOINTMENT_STATUSES, CAMPAIGN_KINDS
from ..yamlsource import Fields, Invalid, LineMap, Problems
from .exceptions import CampaignError

NAME = r"[a-z0-9][a-z0-9-]*"
MODES = ("automated", "progressive")
MACHINE_ACTIONS = ("leave_message", "hang_up")
DEFAULT_SCRIPT = "outbound_followup"  # a progressive campaign's call script when it names none
# Results after which a target is dialed again (the attempt results of db/models.py but 'dialing').
RETRY_RESULTS = ("no_answer", "busy", "machine", "failed", "abandoned", "person")
DEFAULT_RETRY_AFTER = {"no_answer": timedelta(hours=2), "busy": timedelta(minutes=15),
                       "machine": timedelta(hours=4), "failed": timedelta(hours=1),
                       "abandoned": timedelta(hours=1), "person": timedelta(hours=4)}
DEFAULT_WINDOW = (time(8, 0), time(21, 0))
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_PER_DAY, DEFAULT_PER_WEEK = 2, 4
RULES_BY_KIND = {
    "discharge_followup": "discharged",
    "appointment_reminder": "appointments",
    "chronic_check": "chronic_not_reached",
    "satisfaction_survey": "recent_discharges_or_visits",
}
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True, kw_only=True)
class TargetRule:
    """Who a campaign calls. Only the fields of `rule` are set (see the module docstring)."""
    rule: str
    department: str | None = None
    within_days: int | None = None
    days_ahead: int | None = None
    statuses: tuple[str, ...] = ("booked",)
    days: int | None = None
    condition_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class Compliance:
    window_start: time = DEFAULT_WINDOW[0]
    window_end: time = DEFAULT_WINDOW[1]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_after: Mapping[str, timedelta] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_RETRY_AFTER)))
    per_day: int = DEFAULT_PER_DAY
    per_week: int = DEFAULT_PER_WEEK
    machine: str = "leave_message"


@dataclass(frozen=True, kw_only=True)
class Pacing:
    max_channels: int = 10
    calls_per_second: float = 2.0
    abandon_cap: float = 0.03


@dataclass(frozen=True, kw_only=True)
class CampaignDef:
    name: str
    kind: str
    title: str
    version: int | str
    review: str
    target: TargetRule
    mode: str
    flow: str | None
    queue: str | None
    script: str | None
    schedule: str | None
    caller_id: str | None
    compliance: Compliance
    pacing: Pacing
    # automated: the triage protocol the flow's questionnaire asks instead of the flow's own (None: its own)
    protocol: str | None = None
    # automated: the follow-up questionnaire the flow's `followup` node asks instead of its own
    questionnaire: str | None = None

    @property
    def desk_script(self) -> str | None:
        """The call script a progressive campaign's agents follow: its own, else the generic follow-up one
        (also for a stored campaign whose script has since gone). None for an automated campaign: its calls
        that reach a desk get their queue's. Read by the live call's flavour and after it ended."""
        if self.mode != "progressive":
            return None
        from ..triage.guide import CALL_TYPES
        return self.script if self.script in CALL_TYPES else DEFAULT_SCRIPT


# ---- entry points ----

def load_campaign_file(path: str | Path, flows_dir: Path | None = None, shown_as: str | None = None
                       ) -> CampaignDef:
    path = Path(path)
    data = source.read_yaml(path, shown_as or str(path), CampaignError)
    return _build(data, shown_as or str(path), flows_dir)


def load_campaign_text(text: str, filename: str, flows_dir: Path | None = None) -> CampaignDef:
    """Parse and validate; `flows_dir` given, an automated campaign's flow file must exist there (left out
    when re-reading a definition already stored, so a flow renamed later does not hide the campaign)."""
    data = source.read_yaml_text(text, filename, CampaignError)
    return _build(data, filename, flows_dir)


def parse_duration(value: Any) -> timedelta:
    """'15m', '2h', '1d', '1h30m' -> timedelta; raises Invalid otherwise."""
    if not isinstance(value, str) or not value or not re.fullmatch(r"(\d+[smhd])+", value.strip()):
        shown = repr(value) if isinstance(value, str) else source.describe(value)
        raise Invalid(f"{shown} is not a duration such as 30s, 15m, 2h or 1d")
    total = timedelta()
    for amount, unit in _DURATION.findall(value.strip()):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    if total <= timedelta(0):
        raise Invalid("a duration must be longer than zero")
    return total


def parse_clock(value: Any) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        shown = repr(value) if isinstance(value, str) else source.describe(value)
        raise Invalid(f"{shown} is not a time of day HH:MM (00:00..23:59; quote it)")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def cron(value: Any) -> str:
    if not isinstance(value, str) or not croniter.is_valid(value):
        shown = repr(value) if isinstance(value, str) else source.describe(value)
        raise Invalid(f"{shown} is not a cron expression such as '0 10 * * 1-5' "
                      "(minute hour day month weekday)")
    return value


# ---- the reader ----

def _build(data: Any, shown_as: str, flows_dir: Path | None) -> CampaignDef:
    problems = Problems(shown_as)
    if not isinstance(data, LineMap):
        raise CampaignError([f"{shown_as}:1: a campaign file must be a mapping, got {source.describe(data)}"])
    top = Fields(problems, data, "")
    name = top.get("name", source.pattern_text(NAME, "a name of lowercase letters, digits and dashes"))
    kind = top.get("kind", _one_of(CAMPAIGN_KINDS))
    title = top.get("title", source.text)
    version = top.get("version", source.version)
    review = top.get("review", source.text, "")
    mode = top.get("mode", _one_of(MODES))
    flow = top.get("flow", source.pattern_text(r"[a-z0-9_-]+", "a flow name (a file in ivr_flows/)"), None)
    queue = top.get("queue", source.pattern_text(r"[a-z0-9_-]+", "a queue name"), None)
    script = top.get("script", _script, None)
    schedule = top.get("schedule", cron, None)
    caller_id = top.get("caller_id", source.text, None)
    protocol = top.get("protocol", _protocol, None)
    questionnaire = top.get("questionnaire", _questionnaire, None)
    target = _target(problems, top, kind)
    compliance = _compliance(problems, top)
    pacing = _pacing(problems, top)
    top.done()
    _check_mode(top, mode, flow, queue, flows_dir)
    if protocol is not None and mode == "progressive":
        top.error("protocol", "protocol: only an automated campaign's flow asks a questionnaire (a "
                              "progressive campaign's agents follow its `script`)")
    if questionnaire is not None and mode == "progressive":
        top.error("questionnaire", "questionnaire: only an automated campaign's flow asks one by phone")
    problems.raise_if_any(CampaignError)
    return CampaignDef(name=name, kind=kind, title=title, version=version, review=review, target=target,
                       mode=mode, flow=flow, queue=queue, script=script, schedule=schedule,
                       caller_id=caller_id, compliance=compliance, pacing=pacing, protocol=protocol,
                       questionnaire=questionnaire)


def _protocol(value: Any) -> str:
    """A triage protocol that exists (callcenter/triage/protocols/), by id."""
    known = triage_protocol_ids()
    if not isinstance(value, str) or value not in known:
        shown = repr(value) if isinstance(value, str) else source.describe(value)
        close = difflib.get_close_matches(str(value), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise Invalid(f"unknown triage protocol {shown}{hint}; known: {', '.join(known)}")
    return value


def _questionnaire(value: Any) -> str:
    """A follow-up questionnaire that exists (callcenter/followup/questionnaires/), by id."""
    known = followup_questionnaire_ids()
    if not isinstance(value, str) or value not in known:
        shown = repr(value) if isinstance(value, str) else source.describe(value)
        close = difflib.get_close_matches(str(value), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise Invalid(f"unknown follow-up questionnaire {shown}{hint}; known: {', '.join(known)}")
    return value


@functools.cache
def followup_questionnaire_ids() -> tuple[str, ...]:
    """The shipped questionnaires' ids, read once: files under version control, like the protocols."""
    from ..followup.schema import load_questionnaires
    return tuple(sorted(load_questionnaires()))


def _script(value: Any) -> str:
    """A call script that exists (callcenter/triage/scripts/), by name."""
    from ..triage.schema import script_ref
    return script_ref()(value)


@functools.cache
def triage_protocol_ids() -> tuple[str, ...]:
    """The protocols' ids, read once: they are files under version control, not edited at run time."""
    from ..triage.schema import load_protocols
    return tuple(sorted(load_protocols()))


def _one_of(values: tuple[str, ...]):
    def check(value: Any) -> str:
        if value not in values:
            shown = repr(value) if isinstance(value, str) else source.describe(value)
            raise Invalid(f"{shown} is not one of {', '.join(values)}")
        return value
    return check


def _check_mode(top: Fields, mode: str | None, flow: str | None, queue: str | None,
                flows_dir: Path | None) -> None:
    if mode == "automated":
        if flow is None and "flow" not in top:
            top.error(None, "an automated campaign needs 'flow' (a flow in ivr_flows/)")
        elif flow and flows_dir is not None and not (flows_dir / f"{flow}.yaml").is_file():
            top.error("flow", f"flow: no flow file {flow}.yaml in {flows_dir}")
    elif mode == "progressive" and queue is None and "queue" not in top:
        top.error(None, "a progressive campaign needs 'queue' (the agents who take its calls)")


def _section(problems: Problems, top: Fields, key: str) -> Fields | None:
    """The sub-mapping `key` read field by field, or None if absent or broken (then reported)."""
    value = top.get(key, source.mapping, None)
    return Fields(problems, value, key) if value is not None else None


def _target(problems: Problems, top: Fields, kind: str | None) -> TargetRule | None:
    fields = _section(problems, top, "target")
    if fields is None:
        if "target" not in top:
            top.error(None, "missing required key 'target'")
        return None
    expected = RULES_BY_KIND.get(kind)
    rule = fields.get("rule", _one_of(tuple(RULES_BY_KIND.values())))
    if rule and expected and rule != expected:
        fields.error("rule", f"rule: a {kind} campaign targets with rule '{expected}', not '{rule}'")
    department = fields.get("department", source.text, None) if rule in (
        "discharged", "appointments", "recent_discharges_or_visits") else None
    values: dict[str, Any] = {}
    if rule in ("discharged", "recent_discharges_or_visits"):
        values["within_days"] = fields.get("within_days", source.integer(1, 60))
    elif rule == "appointments":
        values["days_ahead"] = fields.get("days_ahead", source.integer(0, 30))
        values["statuses"] = fields.get("statuses", _statuses, ("booked",))
    elif rule == "chronic_not_reached":
        values["days"] = fields.get("days", source.integer(1, 365))
        values["condition_code"] = fields.get("condition_code", source.text, None)
    fields.done()
    if rule is None or any(v is None for k, v in values.items() if k != "condition_code"):
        return None
    return TargetRule(rule=rule, department=department, **values)


def _statuses(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"expected a list of appointment statuses, got {source.describe(value)}")
    wrong = [v for v in value if v not in APPOINTMENT_STATUSES or v in ("cancelled", "completed", "no_show")]
    if wrong:
        raise Invalid(f"{wrong[0]!r} is not a status of an appointment still to come (booked, confirmed)")
    return tuple(value)


def _compliance(problems: Problems, top: Fields) -> Compliance:
    fields = _section(problems, top, "compliance")
    if fields is None:
        return Compliance()
    start, end = _window(problems, fields)
    retry = _retry_after(problems, fields)
    caps = _section(problems, fields, "caps")
    per_day = caps.get("per_day", source.integer(1, 20), DEFAULT_PER_DAY) if caps else DEFAULT_PER_DAY
    per_week = caps.get("per_week", source.integer(1, 100), DEFAULT_PER_WEEK) if caps else DEFAULT_PER_WEEK
    if caps:
        caps.done()
        if per_day and per_week and per_week < per_day:
            caps.error("per_week", f"per_week: {per_week} is less than per_day {per_day}")
    compliance = Compliance(
        window_start=start, window_end=end,
        max_attempts=fields.get("max_attempts", source.integer(1, 20), DEFAULT_MAX_ATTEMPTS),
        retry_after=MappingProxyType(retry), per_day=per_day, per_week=per_week,
        machine=fields.get("machine", _one_of(MACHINE_ACTIONS), "leave_message"))
    fields.done()
    return compliance


def _window(problems: Problems, compliance: Fields) -> tuple[time, time]:
    window = _section(problems, compliance, "window")
    if window is None:
        return DEFAULT_WINDOW
    start = window.get("start", parse_clock, DEFAULT_WINDOW[0])
    end = window.get("end", parse_clock, DEFAULT_WINDOW[1])
    window.done()
    if start and end and end <= start:
        window.error("end", f"end: {end:%H:%M} is not after start {start:%H:%M}")
    return start or DEFAULT_WINDOW[0], end or DEFAULT_WINDOW[1]


def _retry_after(problems: Problems, compliance: Fields) -> dict[str, timedelta]:
    retry = dict(DEFAULT_RETRY_AFTER)
    section = _section(problems, compliance, "retry_after")
    if section is None:
        return retry
    for result in RETRY_RESULTS:
        value = section.get(result, parse_duration, None)
        if value is not None:
            retry[result] = value
    section.done()
    return retry


def _pacing(problems: Problems, top: Fields) -> Pacing:
    fields = _section(problems, top, "pacing")
    if fields is None:
        return Pacing()
    pacing = Pacing(max_channels=fields.get("max_channels", source.integer(1, 500), 10),
                    calls_per_second=fields.get("calls_per_second", _rate, 2.0),
                    abandon_cap=fields.get("abandon_cap", _fraction, 0.03))
    fields.done()
    return pacing


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 100:
        raise Invalid(f"expected calls per second 0.01..100 such as 2, got {source.describe(value)}")
    return float(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise Invalid(f"expected a fraction 0..1 such as 0.03, got {source.describe(value)}")
    return float(value)

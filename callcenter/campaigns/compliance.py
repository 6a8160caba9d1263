"""The rules checked before every dial, as pure functions of facts loaded beforehand (no database, no clock).

Each check returns None when the dial is allowed, else a short reason code (`outside_window`,
`do_not_call`, `max_attempts`, `retry_wait`, `cap_day`, `cap_week`). Reasons are ids, never patient data, so
they may be logged and counted.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .schema import CampaignDef, Compliance

OUTSIDE_WINDOW = "outside_window"
DO_NOT_CALL = "do_not_call"
MAX_ATTEMPTS = "max_attempts"
RETRY_WAIT = "retry_wait"
CAP_DAY = "cap_day"
CAP_WEEK = "cap_week"
# Refusals that hold for good (the target is closed); the others only mean "not now".
FINAL = (DO_NOT_CALL, MAX_ATTEMPTS)


@dataclass(frozen=True)
class DncEntry:
    e164: str | None
    patient_id: int | None
    campaign_kind: str | None  # None: every campaign


@dataclass(frozen=True)
class DialFacts:
    """What the rules need to know about one target at the moment of the dial."""
    patient_id: int
    phone_e164: str
    time_zone: str | None          # the patient's IANA zone, None -> the hospital's
    attempts: int                  # attempts already made on this target
    last_result: str | None
    last_attempt_at: datetime | None
    recent_attempts: tuple[datetime, ...]   # start times of this patient's attempts, ALL campaigns, >= 8 days


def zone(name: str | None, hospital: str) -> ZoneInfo:
    """The patient's zone; the hospital's when the patient has none or an unknown one."""
    for candidate in (name, hospital):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def outside_window(rules: Compliance, now: datetime, tz: ZoneInfo) -> str | None:
    """The window is in the patient's local time: start included, end excluded (08:00 yes, 21:00 no)."""
    local = now.astimezone(tz).time()
    return None if rules.window_start <= local < rules.window_end else OUTSIDE_WINDOW


def do_not_call(entries: Iterable[DncEntry], patient_id: int, e164: str, kind: str) -> str | None:
    for entry in entries:
        if entry.campaign_kind not in (None, kind):
            continue
        if (entry.e164 and entry.e164 == e164) or (entry.patient_id and entry.patient_id == patient_id):
            return DO_NOT_CALL
    return None


def max_attempts(rules: Compliance, attempts: int) -> str | None:
    return MAX_ATTEMPTS if attempts >= rules.max_attempts else None


def retry_wait(rules: Compliance, last_result: str | None, last_attempt_at: datetime | None,
               now: datetime) -> str | None:
    """Too soon after the last attempt, by how it ended (busy: minutes; no answer: hours...)."""
    if not last_result or last_attempt_at is None:
        return None
    wait = rules.retry_after.get(last_result)
    if wait is None:
        return None
    return RETRY_WAIT if now < last_attempt_at + wait else None


def retry_due(rules: Compliance, result: str, now: datetime) -> datetime:
    """When a target whose attempt ended with `result` may be dialed again."""
    return now + rules.retry_after.get(result, timedelta(hours=1))


def caps(rules: Compliance, recent: Iterable[datetime], now: datetime, tz: ZoneInfo) -> str | None:
    """Attempts of every campaign on this patient, counted in the patient's own day and (ISO) week."""
    today = now.astimezone(tz).date()
    week = _week_start(today)
    days = [started.astimezone(tz).date() for started in recent]
    if sum(day == today for day in days) >= rules.per_day:
        return CAP_DAY
    if sum(week <= day <= today for day in days) >= rules.per_week:
        return CAP_WEEK
    return None


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def refusal(campaign: CampaignDef, facts: DialFacts, dnc: Iterable[DncEntry], now: datetime,
            hospital_zone: str) -> str | None:
    """The first rule that refuses this dial now, or None: the dial is allowed."""
    rules = campaign.compliance
    tz = zone(facts.time_zone, hospital_zone)
    return (do_not_call(dnc, facts.patient_id, facts.phone_e164, campaign.kind)
            or max_attempts(rules, facts.attempts)
            or outside_window(rules, now, tz)
            or retry_wait(rules, facts.last_result, facts.last_attempt_at, now)
            or caps(rules, facts.recent_attempts, now, tz))

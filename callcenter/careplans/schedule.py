"""A care plan's schedule: an RFC 5545 RRULE (dateutil) over the hospital's calendar days. Pure functions.

Written as an RRULE ("FREQ=DAILY;INTERVAL=14", "FREQ=MONTHLY", "FREQ=WEEKLY;BYDAY=MO") or in the console's
words ("every 14 days", "every 2 weeks", "monthly", "weekly"). The plan's own start and end bound it, so a
rule may not carry DTSTART, UNTIL or COUNT.

Monthly from the 29th, 30th or 31st: RFC 5545 skips the months without that day; a patient enrolled on the
31st is followed up at the end of each shorter month instead (BYMONTHDAY=28..31 with BYSETPOS=-1, the last
of those days the month has).
"""
from __future__ import annotations

import functools
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from .exceptions import CarePlanError

_WORDS = {"daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY", "monthly": "FREQ=MONTHLY",
          "yearly": "FREQ=YEARLY"}
_EVERY = re.compile(r"every\s+(\d{1,3})\s+(day|week|month)s?")
_FREQ = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY"}
_FORBIDDEN = ("DTSTART", "UNTIL", "COUNT")
# A follow-up is due from this hour of its day, hospital time (the desk's "due today" list, the dialer).
DUE_TIME = time(9, 0)


def normalize(text: str) -> str:
    """The stored RRULE of what an admin typed, or CarePlanError saying what is wrong (no patient data)."""
    words = " ".join(str(text).lower().split())
    every = _EVERY.fullmatch(words)
    if words in _WORDS:
        rule = _WORDS[words]
    elif every:
        rule = f"FREQ={_FREQ[every[2]]};INTERVAL={int(every[1])}"
    else:
        rule = words.upper().removeprefix("RRULE:")
    _check(rule)
    return rule


def _check(rule: str) -> None:
    parts = dict(part.partition("=")[::2] for part in rule.split(";") if part)
    if not rule.startswith("FREQ=") or any(key in parts for key in _FORBIDDEN):
        raise CarePlanError("schedule: give an RRULE starting FREQ= without DTSTART, UNTIL or COUNT, or "
                            "'every N days|weeks|months', 'weekly', 'monthly'")
    if parts.get("FREQ") in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise CarePlanError("schedule: follow-ups are planned by day; FREQ must be DAILY or longer")
    if int(parts.get("INTERVAL", "1") or 0) < 1:
        raise CarePlanError("schedule: INTERVAL must be 1 or more")
    try:
        rrulestr(f"RRULE:{rule}", dtstart=datetime(2026, 1, 1))
    except (ValueError, TypeError) as exc:
        raise CarePlanError(f"schedule: not a valid RRULE ({exc})") from None


@functools.lru_cache(maxsize=8192)
def due_days(rule: str, starts_on: date, after: date | None, through: date,
             ends_on: date | None = None) -> tuple[date, ...]:
    """The plan's due days in (after, through], none before its start or after its end. Cached: planning
    100k plans meets the same few rules and start days again and again."""
    first = starts_on if after is None else max(starts_on, after + timedelta(days=1))
    last = min(through, ends_on) if ends_on else through
    if last < first:
        return ()
    recurrence = rrulestr(f"RRULE:{_month_end(rule, starts_on)}", dtstart=datetime.combine(starts_on, time()))
    return tuple(d.date() for d in recurrence.between(datetime.combine(first, time()),
                                                      datetime.combine(last, time()), inc=True))


def _month_end(rule: str, starts_on: date) -> str:
    plain_monthly = rule.startswith("FREQ=MONTHLY") and "BY" not in rule
    if not plain_monthly or starts_on.day <= 28:
        return rule
    days = ",".join(str(d) for d in range(28, starts_on.day + 1))
    return f"{rule};BYMONTHDAY={days};BYSETPOS=-1"


def due_at(day: date, zone: ZoneInfo) -> datetime:
    """When a follow-up of this hospital day falls due: DUE_TIME there (its UTC offset that day, DST
    included), as an aware datetime."""
    return datetime.combine(day, DUE_TIME, zone)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def hospital_today(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date()

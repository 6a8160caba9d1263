"""What a `say` node plays: a date, time or number as Asterisk core sounds in the call language.

Asterisk's core sounds give weekday names (`digits/day-0` is Sunday), month names (`digits/mon-0` is
January) and numbers (`number:N` media, read by Asterisk in the channel language), in English and Spanish.
The word before the hour is our own prompt (`callcenter/at-time`: "at" / "a las"), so it is right in both.

The value is shown as it is: the caller of the engine puts it in the patient's time zone first
(campaigns/context.py).
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

AT_TIME = "callcenter/at-time"


def say_media(value: Any, say_as: str, language: str) -> list[str]:
    """Media for `value`; empty when there is nothing sensible to say (missing or of the wrong kind).

    Sound names are plain (`digits/day-1`); numbers are `number:N` media URIs.
    """
    if say_as in ("number", "digits"):
        return _number(value, say_as)
    moment = _moment(value)
    if moment is None:
        return []
    if say_as == "date":
        return _date(moment, language)
    if say_as == "time":
        return _time(moment, language) if isinstance(moment, (datetime, time)) else []
    if not isinstance(moment, datetime):
        return []
    return _date(moment, language) + [AT_TIME] + _time(moment, language)


def _number(value: Any, say_as: str) -> list[str]:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        return []
    return [f"{'number' if say_as == 'number' else 'digits'}:{int(text) if say_as == 'number' else text}"]


def _moment(value: Any) -> date | time | datetime | None:
    if isinstance(value, (date, time)):
        return value
    if isinstance(value, str):
        for parse in (datetime.fromisoformat, date.fromisoformat, time.fromisoformat):
            try:
                return parse(value)
            except ValueError:
                continue
    return None


def _date(day: date, language: str) -> list[str]:
    weekday = f"digits/day-{(day.weekday() + 1) % 7}"  # Python counts from Monday, Asterisk from Sunday
    month = f"digits/mon-{day.month - 1}"
    if language == "es":  # "martes 5 de marzo"
        return [weekday, f"number:{day.day}", "digits/es-de", month]
    return [weekday, month, f"number:{day.day}"]  # "Tuesday March 5"


def _time(moment: datetime | time, language: str) -> list[str]:
    hour, minute = moment.hour, moment.minute
    if language == "es":  # "a las 14 30": the 24-hour clock, as Spanish-speaking hospitals say times
        return [f"number:{hour}"] + ([f"number:{minute}"] if minute else [])
    minutes = [] if minute == 0 else (["digits/oh"] if minute < 10 else []) + [f"number:{minute}"]
    return [f"number:{hour % 12 or 12}"] + minutes + ["digits/a-m" if hour < 12 else "digits/p-m"]

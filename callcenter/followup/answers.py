"""What an answer may be, and what the answers so far mean: pure functions over a questionnaire version.

`normalise` checks one answer against its question's type and returns the value stored (JSON): yes/no a
boolean, a single choice its key, a multiple choice the list of keys in the question's order, a scale a
whole number, a number an int or float in range with at most `decimals` places, a date `YYYY-MM-DD`, a free
text the trimmed text, a recorded answer the recording's name. Console forms send text, so numbers and
yes/no also come as text.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .exceptions import InvalidAnswer
from .schema import (
    DATE,
    FREE_TEXT,
    MULTIPLE,
    NUMBER,
    RECORDED,
    SCALE,
    SINGLE,
    YES_NO,
    Item,
    Question,
    Questionnaire,
    RedFlag,
)

RECORDING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
YES_WORDS, NO_WORDS = ("yes", "true", "1"), ("no", "false", "2")


def normalise(question: Question, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidAnswer(f"{question.code}: no answer given")
    return _CHECKS[question.type](question, value)


def _yes_no(question: Question, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in YES_WORDS or word in NO_WORDS:
        return word in YES_WORDS
    raise InvalidAnswer(f"{question.code}: expected yes or no")


def _single(question: Question, value: Any) -> str:
    if value not in question.choice_keys():
        raise InvalidAnswer(f"{question.code}: {value!r} is not one of its choices "
                            f"({', '.join(question.choice_keys())})")
    return value


def _multiple(question: Question, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set)) or not value:
        raise InvalidAnswer(f"{question.code}: expected a list of one or more choices")
    keys = [_single(question, v) for v in value]
    if len(set(keys)) != len(keys):
        raise InvalidAnswer(f"{question.code}: a choice given twice")
    return [k for k in question.choice_keys() if k in keys]


def _scale(question: Question, value: Any) -> int:
    number = _decimal(question, value)
    if number != number.to_integral_value():
        raise InvalidAnswer(f"{question.code}: expected a whole number")
    return _in_range(question, int(number))


def _number(question: Question, value: Any) -> int | float:
    number = _decimal(question, value)
    if number != number.quantize(Decimal(1).scaleb(-question.decimals)):
        raise InvalidAnswer(f"{question.code}: at most {question.decimals} decimal place(s)")
    result = int(number) if number == number.to_integral_value() else float(number)
    return _in_range(question, result)


def _decimal(question: Question, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidAnswer(f"{question.code}: expected a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidAnswer(f"{question.code}: expected a number") from None
    if not number.is_finite():
        raise InvalidAnswer(f"{question.code}: expected a number")
    return number


def _in_range(question: Question, number: int | float) -> int | float:
    if not question.min <= number <= question.max:
        unit = f" {question.unit}" if question.unit else ""
        limits = f"{question.min:g}..{question.max:g}{unit}"
        raise InvalidAnswer(f"{question.code}: {number:g} is out of range {limits}")
    return number


def _date(question: Question, value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise InvalidAnswer(f"{question.code}: expected a date as YYYY-MM-DD") from None


def _free_text(question: Question, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidAnswer(f"{question.code}: expected text")
    text = value.strip()
    if len(text) > question.max_length:
        raise InvalidAnswer(f"{question.code}: longer than {question.max_length} characters")
    return text


def _recorded(question: Question, value: Any) -> str:
    if not isinstance(value, str) or not RECORDING_NAME.fullmatch(value):
        raise InvalidAnswer(f"{question.code}: expected the name of the recording of the spoken answer")
    return value


_CHECKS = {YES_NO: _yes_no, SINGLE: _single, MULTIPLE: _multiple, SCALE: _scale, NUMBER: _number,
           DATE: _date, FREE_TEXT: _free_text, RECORDED: _recorded}


# ---- skip logic and red flags ----

def is_shown(item: Item, answers: Mapping[str, Any]) -> bool:
    """Shown when every condition of its `show_if` matches an answer given so far (none: always)."""
    return all(c.matches(answers.get(c.question)) for c in item.show_if)


def shown_items(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> list[Item]:
    """The questions asked given these answers, in order. A question hidden by an answer hides the
    questions that depend on it too, since it has no answer."""
    shown: list[Item] = []
    given: dict[str, Any] = {}
    for item in questionnaire.items:
        if is_shown(item, given):
            shown.append(item)
            if item.code in answers:
                given[item.code] = answers[item.code]
    return shown


def next_item(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> Item | None:
    """The first shown question not answered yet; None when the questionnaire is done."""
    return next((i for i in shown_items(questionnaire, answers) if i.code not in answers), None)


def red_flags(item: Item, value: Any) -> list[RedFlag]:
    """The red flags this (normalised) answer raises, in the order written."""
    return [flag for flag in item.red_flags if flag.when.matches(value)]

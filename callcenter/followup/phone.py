"""A follow-up questionnaire by automated phone call: each question type rendered to prompts and keys, and
the session a flow's `followup` node asks through (ivr/engine.py; the port starts it, calls/ivr.py).

| type              | after the question's prompt (ivr_flows/prompts.yaml)     | keys                      |
| ----------------- | -------------------------------------------------------- | ------------------------- |
| `yes_no`          | followup-how-yes-no                                      | 1 yes, 2 no               |
| `single_choice`   | followup-how-choice, per choice `digits/N` + its text    | N                         |
| `multiple_choice` | followup-how-multiple, per choice `digits/N` + its text  | N... then #               |
| `scale`           | followup-how-scale `digits/MIN` followup-to `digits/MAX` | one key; two then # if 10 |
| `number`          | followup-how-number                                      | digits, * the point, #    |
| `date`            | followup-how-date                                        | DDMMYYYY (8 keys)         |
| `recorded`        | (the question says: after the tone, then #)              | spoken, recorded          |
| `free_text`       | not asked by phone: left unanswered (`not_by_phone`)     |                           |

The questions' and choices' words are prompts of the catalog (`ivr.catalog.followup_prompt`, rendered from
the questionnaire files like the triage questions are), the instructions prompts of prompts.yaml and the
numbers Asterisk's core digit sounds: no second prompt system. Every answer is stored at once through
`QuestionnaireService.record_answer` (channel phone, automated, the call id, the response's version), so a
hang-up keeps what was answered and leaves the rest unanswered. A red-flag answer also gives the
`triage_disposition` fact the console form writes (`services.red_flag_fact`), so the call's record, the
wrap-up rule of the nurse who takes it and the KPIs see it as a triage red flag.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from ..ivr.catalog import NAMESPACE, followup_prompt
from ..ivr.ports import KEYS, NOT_BY_PHONE, ONE_KEY, SPOKEN, PhoneAnswer, PhoneQuestion
from ..triage.schema import Ladder
from . import answers
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
)
from .services import AUTOMATED, AnswerGiven, QuestionnaireService, red_flag_fact

DIGITS = "0123456789"
DECIMAL_POINT = "*"  # a phone has no '.': star stands for it
OUT_OF_RANGE = f"{NAMESPACE}/followup-out-of-range"
_HOW = {YES_NO: "followup-how-yes-no", SINGLE: "followup-how-choice", MULTIPLE: "followup-how-multiple",
        SCALE: "followup-how-scale", NUMBER: "followup-how-number", DATE: "followup-how-date"}


class OutOfRange(InvalidAnswer):
    """A number or scale typed whole but outside the question's range: the caller hears so."""


def render(questionnaire_id: str, question: Question, recording: str = "") -> PhoneQuestion:
    """How the phone asks `question`; `recording` names the file of a spoken answer."""
    code = question.code
    spoken = (_sound(followup_prompt(questionnaire_id, code)),)
    if question.type == FREE_TEXT:
        return PhoneQuestion(code, (), NOT_BY_PHONE)
    if question.type == RECORDED:
        return PhoneQuestion(code, spoken, SPOKEN, recording=recording, max_seconds=question.max_seconds)
    prompts = spoken + (_sound(_HOW[question.type]),) + _more_prompts(questionnaire_id, question)
    return PhoneQuestion(code, prompts, *_keys(question))


def _sound(name: str) -> str:
    return f"{NAMESPACE}/{name}"


def _more_prompts(questionnaire_id: str, question: Question) -> tuple[str, ...]:
    if question.type == SCALE:
        tail = (_sound("followup-then-pound"),) if question.max > 9 else ()
        return (f"digits/{question.min:g}", _sound("followup-to"), f"digits/{question.max:g}") + tail
    choices = []
    for key, choice in enumerate(question.choices, start=1):
        choices += [f"digits/{key}", _sound(followup_prompt(questionnaire_id, question.code, choice.key))]
    return tuple(choices)


def _keys(question: Question) -> tuple[str, str, int]:
    """(entry, keys taken, length that completes the entry: 0 waits for '#')."""
    kind = question.type
    if kind == YES_NO:
        return ONE_KEY, "12", 0
    if kind == SINGLE:
        return ONE_KEY, DIGITS[1:len(question.choices) + 1], 0
    if kind == MULTIPLE:
        return KEYS, DIGITS[1:len(question.choices) + 1], 0
    if kind == SCALE and question.max <= 9:
        return ONE_KEY, DIGITS[int(question.min):int(question.max) + 1], 0
    if kind == SCALE:  # up to 10: "then press the pound key", as the prompt says (a 1 may be the 1 of 10)
        return KEYS, DIGITS, 0
    if kind == NUMBER:
        return KEYS, DIGITS + (DECIMAL_POINT if question.decimals else ""), 0
    return KEYS, DIGITS, 8  # DATE: DDMMYYYY


def parse(question: Question, entry: str) -> Any:
    """The answer the keys mean, for `answers.normalise`; InvalidAnswer (OutOfRange for a number outside its
    range) when they mean none. The message names the question, never the keys."""
    kind = question.type
    if kind == RECORDED:
        return entry
    if not entry or any(key not in DIGITS + DECIMAL_POINT for key in entry):
        raise InvalidAnswer(f"{question.code}: not an answer by phone")
    if kind == YES_NO:
        return _one_of(question, entry, {"1": True, "2": False})
    if kind == SINGLE:
        return _one_of(question, entry, _by_key(question))
    if kind == MULTIPLE:
        chosen = _by_key(question)
        return list(dict.fromkeys(_one_of(question, key, chosen) for key in entry))
    if kind == DATE:
        return _date(question, entry)
    return _number(question, entry)


def _one_of(question: Question, entry: str, meaning: dict[str, Any]) -> Any:
    if entry not in meaning:
        raise InvalidAnswer(f"{question.code}: not one of its keys")
    return meaning[entry]


def _by_key(question: Question) -> dict[str, str]:
    return {str(n): choice.key for n, choice in enumerate(question.choices, start=1)}


def _number(question: Question, entry: str) -> int | float:
    text = entry.replace(DECIMAL_POINT, ".")
    if text.count(".") > 1 or text.startswith(".") or text.endswith("."):
        raise InvalidAnswer(f"{question.code}: not a number")
    value = float(text) if "." in text else int(text)
    if not question.min <= value <= question.max:
        raise OutOfRange(f"{question.code}: out of range")
    return value


def _date(question: Question, entry: str) -> str:
    if len(entry) != 8:
        raise InvalidAnswer(f"{question.code}: a date is 8 digits, DDMMYYYY")
    try:
        return date(int(entry[4:]), int(entry[2:4]), int(entry[:2])).isoformat()
    except ValueError:
        raise InvalidAnswer(f"{question.code}: not a date") from None


class PhoneFollowUp:
    """One response given by an automated call (ivr.ports.FollowUpSession): the questions in order, skip
    logic on the answers given so far, each answer stored as it is given."""

    def __init__(self, service: QuestionnaireService, questionnaire: Questionnaire, response_id: int,
                 call_id: str, ladder: Ladder):
        self.service, self.call_id, self.ladder = service, call_id, ladder
        self.definition, self.response_id = questionnaire, response_id
        self.questionnaire, self.version = questionnaire.id, questionnaire.version
        self.answers: dict[str, Any] = {}
        self.skipped: set[str] = set()  # asked and left unanswered, or not asked by phone

    @classmethod
    async def start(cls, service: QuestionnaireService, code: str, *, call_id: str, patient_id: int | None,
                    ladder: Ladder) -> PhoneFollowUp:
        """A response in the questionnaire's current version, on this call."""
        response_id = await service.start_response(code, channel="phone", patient_id=patient_id,
                                                   call_id=call_id)
        return cls(service, await service.questionnaire_of(response_id), response_id, call_id, ladder)

    @property
    def answered(self) -> int:
        return len(self.answers)

    @property
    def _item(self) -> Item | None:
        return next((item for item in answers.shown_items(self.definition, self.answers)
                     if item.code not in self.answers and item.code not in self.skipped), None)

    @property
    def current(self) -> PhoneQuestion | None:
        item = self._item
        if item is None:
            return None
        recording = f"followup-{self.call_id}-{self.response_id}-{item.code}"
        return render(self.questionnaire, item.question, recording)

    async def answer(self, entry: str) -> PhoneAnswer:
        item = self._item
        try:
            value = parse(item.question, entry)
            recorded = await self.service.record_answer(AnswerGiven(
                self.response_id, item.code, value, channel="phone", answered_by=AUTOMATED,
                call_id=self.call_id))
        except OutOfRange:
            return PhoneAnswer(False, (OUT_OF_RANGE,))
        except InvalidAnswer:
            return PhoneAnswer(False)
        self.answers[item.code] = recorded.value
        if not recorded.red_flags:
            return PhoneAnswer(True)
        flag = recorded.red_flags[0]
        return PhoneAnswer(True, disposition=flag.disposition, escalation=flag.escalation,
                           fact=red_flag_fact(self.ladder, self.definition, item.code, flag))

    async def unanswered(self, reason: str) -> None:
        """Moved on without an answer: nothing is stored for it, so the response stays incomplete."""
        self.skipped.add(self._item.code)

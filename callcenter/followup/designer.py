"""The console's questionnaire designer: a draft from the browser checked by the SAME validator as the files.

A draft is JSON (`FollowUpDraft` in followup/openapi.yaml): the questionnaire's header, its questions from
the bank in order with their skip logic and red flags, and new questions for the bank. It is written out as
the YAML a clinician would have written (one line per field, values as JSON, which is YAML), then parsed by
schema.py's `parse_bank_text` and `parse_questionnaire_text`: one validator, whatever the source. Each line
written remembers its field (`questions.2.show_if`), so a problem reported as `designer:LINE: ...` is shown
on the field that caused it. The YAML text is stored as the version's source, as a loaded file's is.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .exceptions import QuestionnaireDataError
from .schema import (
    REQUIRED_LANGUAGE,
    Bank,
    Item,
    Question,
    Questionnaire,
    parse_bank_text,
    parse_questionnaire_text,
)

QUESTIONNAIRE_SOURCE, BANK_SOURCE = "designer", "designer-bank"
HEADER_FIELDS = ("id", "title", "version", "source", "review_status", "kind", "department", "study")
ITEM_FIELDS = ("code", "required", "show_if", "red_flags")
NEW_QUESTION_FIELDS = ("type", "text", "choices", "min", "max", "unit", "decimals")
_PROBLEM = re.compile(r"^(?P<source>[^:]+):(?P<line>\d+): (?P<what>.*)$", re.S)


@dataclass
class Problem:
    field: str  # e.g. "questions.2.show_if", "new_questions.0.type"; "" when it is the whole draft's
    message: str


class DraftInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class _Text:
    """YAML being written, with the field each line belongs to."""
    lines: list[str] = field(default_factory=list)
    fields: dict[int, str] = field(default_factory=dict)  # 1-based line -> field

    def add(self, line: str, name: str) -> None:
        self.lines.append(line)
        self.fields[len(self.lines)] = name

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass(frozen=True)
class Design:
    questionnaire: Questionnaire
    text: str  # the questionnaire's YAML, stored as the version's source
    bank: Bank  # the bank with the draft's new questions
    new_codes: tuple[str, ...]


def check(draft: Mapping[str, Any], bank: Bank, ladder: Any = None) -> Design:
    """The draft's questionnaire, validated as a file would be; DraftInvalid lists each problem by field."""
    if not isinstance(draft, Mapping):
        raise DraftInvalid([Problem("", "the draft must be an object")])
    bigger = _with_new_questions(draft.get("new_questions") or [], bank)
    written = questionnaire_yaml(draft)
    try:
        questionnaire = parse_questionnaire_text(written.text(), QUESTIONNAIRE_SOURCE, bigger, ladder)
    except QuestionnaireDataError as exc:
        raise DraftInvalid(_problems(exc, written.fields, "")) from None
    new_codes = tuple(c for c in bigger.questions if c not in bank.questions)
    return Design(questionnaire, written.text(), bigger, new_codes)


def _with_new_questions(new: Any, bank: Bank) -> Bank:
    """The bank plus the draft's new questions, checked by the bank's own validator; a code the bank has
    already is refused (a code keeps its meaning for ever)."""
    if not new:
        return bank
    if not isinstance(new, list):
        raise DraftInvalid([Problem("new_questions", "expected a list of questions")])
    taken = [Problem(f"new_questions.{i}.code", f"code: '{q.get('code')}' is already in the question bank: "
                     "a new question needs a new code")
             for i, q in enumerate(new) if isinstance(q, Mapping) and q.get("code") in bank.questions]
    if taken:
        raise DraftInvalid(taken)
    written = bank_yaml(new, bank)
    try:
        added = parse_bank_text(written.text(), BANK_SOURCE)
    except QuestionnaireDataError as exc:
        raise DraftInvalid(_problems(exc, written.fields, "new_questions")) from None
    return dataclasses.replace(bank, questions={**bank.questions, **added.questions})


def _problems(exc: QuestionnaireDataError, fields: dict[int, str], fallback: str) -> list[Problem]:
    found = []
    for text in exc.problems:
        match = _PROBLEM.match(text)
        line = int(match["line"]) if match else 0
        found.append(Problem(fields.get(line, fallback), match["what"] if match else text))
    return found


# ---- writing the YAML ----

def questionnaire_yaml(draft: Mapping[str, Any]) -> _Text:
    out = _Text()
    out.add("# Written by the console's questionnaire designer. Schema: callcenter/followup/schema.py", "")
    for name in HEADER_FIELDS:
        value = draft.get(name)
        if value not in (None, "", [], {}):
            out.add(f"{name}: {_json(value)}", name)
    questions = draft.get("questions")
    if not isinstance(questions, list):
        out.add(f"questions: {_json(questions)}", "questions")
        return out
    out.add("questions:", "questions")
    for index, item in enumerate(questions):
        _item_yaml(out, index, item)
    return out


def _item_yaml(out: _Text, index: int, item: Any) -> None:
    where = f"questions.{index}"
    if not isinstance(item, Mapping):
        out.add(f"  - {_json(item)}", f"{where}.code")
        return
    out.add(f"  - code: {_json(item.get('code'))}", f"{where}.code")
    for name in ITEM_FIELDS[1:]:
        value = _condition_list(item.get(name)) if name == "show_if" else item.get(name)
        if name == "red_flags" and value:
            value = [_red_flag(flag) for flag in value]
        if value not in (None, "", [], {}):
            out.add(f"    {name}: {_json(value)}", f"{where}.{name}")


def _condition_list(value: Any) -> Any:
    """The designer's conditions [{question, op, value}] as the file's [{question, OP: value}]."""
    if not isinstance(value, list):
        return value
    return [{"question": c.get("question"), str(c.get("op")): c.get("value")} if isinstance(c, Mapping) else c
            for c in value]


def _red_flag(flag: Any) -> Any:
    if not isinstance(flag, Mapping) or "op" not in flag:
        return flag
    return {"when": {str(flag["op"]): flag.get("value")}, "disposition": flag.get("disposition"),
            "escalation": flag.get("escalation")}


def bank_yaml(new: list, bank: Bank) -> _Text:
    out = _Text()
    out.add(f"version: {_json(str(bank.version))}", "")
    out.add(f"source: {_json(list(bank.source))}", "")
    out.add(f"review_status: {_json(bank.review_status)}", "")
    out.add(f"languages: {_json(list(bank.languages))}", "")
    out.add("questions:", "new_questions")
    for index, question in enumerate(new):
        where = f"new_questions.{index}"
        if not isinstance(question, Mapping):
            out.add(f"  q{index}: {_json(question)}", f"{where}.code")
            continue
        out.add(f"  {_json(str(question.get('code')))}:", f"{where}.code")
        for name in NEW_QUESTION_FIELDS:
            if question.get(name) not in (None, "", []):
                out.add(f"    {name}: {_json(question[name])}", f"{where}.{name}")
    return out


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---- a stored version as a draft ----

def draft_of(questionnaire: Questionnaire) -> dict[str, Any]:
    """A stored version as the designer edits it (the starting point of its next version)."""
    return {"id": questionnaire.id, "title": dict(questionnaire.title), "version": questionnaire.version,
            "source": list(questionnaire.source), "review_status": questionnaire.review_status,
            "kind": questionnaire.kind, "department": questionnaire.department, "study": questionnaire.study,
            "questions": [_item_draft(i) for i in questionnaire.items],
            "new_questions": []}


def _item_draft(item: Item) -> dict[str, Any]:
    return {"code": item.code, "required": item.required,
            "show_if": [{"question": c.question, "op": c.op, "value": c.value} for c in item.show_if],
            "red_flags": [{"op": f.when.op, "value": f.when.value, "disposition": f.disposition,
                           "escalation": f.escalation} for f in item.red_flags]}


def bank_view(bank: Bank) -> list[dict[str, Any]]:
    """The bank's questions as the designer lists them."""
    return [_question_view(q) for q in sorted(bank.questions.values(), key=lambda q: q.code)]


def _question_view(q: Question) -> dict[str, Any]:
    return {"code": q.code, "type": q.type, "text": q.text.get(REQUIRED_LANGUAGE, ""),
            "choices": [c.key for c in q.choices], "min": q.min, "max": q.max, "unit": q.unit}

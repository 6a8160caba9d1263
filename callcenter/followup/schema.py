"""Follow-up questionnaires as data: the question bank and the questionnaires, validated on load.

The files are written and reviewed by clinicians, not programmers, so every problem is reported as
`file:line: where: what`, all at once (the reader and problem collector of `callcenter/yamlsource.py`, as for
triage protocols, IVR flows and campaigns).

`question_bank.yaml`: every question once, under a stable code, so that answers to the same question can be
compared across questionnaires and studies (a code keeps its type and unit for ever: a question that means
something else gets a new code):

```yaml
version: 2026-12-04                # whole number or a text such as a date
source: ["NHS.uk: ...", "..."]
review_status: example content, requires clinical review
languages: [en, es]                # must include en; every text below has each of them
questions:
  chest_pain_since_discharge:      # the code: [a-z0-9_]+, unique (a duplicate key is an error)
    type: yes_no                   # see TYPES
    text: {en: "Have you had chest pain since you went home?"}
  pain_score:
    type: scale
    min: 0                         # scale: whole numbers min..max (at most 0..10: one key press)
    max: 10
    text: {en: "..."}
  weight:
    type: number
    unit: kg                       # number: unit, min, max, decimals (default 0)
    min: 1
    max: 400
    decimals: 1
  main_problem:
    type: single_choice            # and multiple_choice: 2 to 9 choices (one key each by phone)
    choices:
      - {key: breathing, text: {en: "Breathing"}}
```

`questionnaires/<id>.yaml`:

```yaml
id: post_discharge_cardiology      # [a-z0-9_]+, unique across the directory
title: {en: "..."}
version: 1                         # a stored questionnaire changes only with a new version
source: ["..."]
review_status: example content, requires clinical review
kind: post_discharge               # see KINDS
department: cardiology             # optional
study: heart_failure_registry      # optional: answers are exported by study
questions:                         # asked in this order
  - code: chest_pain_since_discharge   # a question of the bank
    red_flags:                     # optional: an answer that escalates, exactly as triage does
      - when: {equals: true}
        disposition: nurse_now     # a rung of the triage ladder (triage/dispositions.yaml)...
        escalation: nurse_transfer # ...and one of the escalations that satisfy it: nurse_transfer (the
                                   # nurse queue in the same call) or urgent_callback
  - code: chest_pain_at_rest
    show_if: {question: chest_pain_since_discharge, equals: true}   # skip logic: an EARLIER question only
    required: false                # optional, default true
```

A condition (`show_if`, a red flag's `when`) has one operator: `equals` (yes/no, single choice, scale,
number), `in` (a list: single choice, scale), `includes` (a choice of a multiple choice), `at_least` /
`at_most` (scale, number). `show_if` may be a list of conditions, all of which must hold. A question whose
condition names a question not answered (skipped or not yet asked) is not shown.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import yamlsource as source
from ..db.models import FOLLOWUP_QUESTION_TYPES
from ..ivr.catalog import LANGUAGE
from ..triage.schema import ESCALATIONS, Ladder, load_ladder
from ..yamlsource import Fields, Invalid, LineList, LineMap, Problems
from .exceptions import InvalidAnswer, QuestionnaireDataError

HERE = Path(__file__).resolve().parent
BANK_FILE = HERE / "question_bank.yaml"
QUESTIONNAIRES_DIR = HERE / "questionnaires"

# The types' names live with the table's CHECK constraint (db/models.py), so a type added here is added there.
YES_NO, SINGLE, MULTIPLE, SCALE, NUMBER, DATE, FREE_TEXT, RECORDED = TYPES = FOLLOWUP_QUESTION_TYPES
CHOICE_TYPES = (SINGLE, MULTIPLE)
KINDS = ("post_discharge", "post_surgery", "chronic_care", "maternal_newborn", "satisfaction", "research")
REVIEW_STATUSES = ("example content, requires clinical review", "clinically approved")
REQUIRED_LANGUAGE = "en"
# The escalations a follow-up red flag may ask for: the same words as triage (triage/schema.py ESCALATIONS),
# those that fit a follow-up call: the nurse queue in the same call, or an urgent nurse callback.
NURSE_TRANSFER, URGENT_CALLBACK = "nurse_transfer", "urgent_callback"
RED_FLAG_ESCALATIONS = tuple(e for e in ESCALATIONS if e in (NURSE_TRANSFER, URGENT_CALLBACK))
# The operators of a condition and the question types each applies to.
OPERATORS = {"equals": (YES_NO, SINGLE, SCALE, NUMBER), "in": (SINGLE, SCALE), "includes": (MULTIPLE,),
             "at_least": (SCALE, NUMBER), "at_most": (SCALE, NUMBER)}
MAX_CHOICES = 9  # one telephone key each
SCALE_LIMITS = (0, 10)  # one key press by phone
FREE_TEXT_MAX = 2000
RECORDING_MAX_SECONDS = (5, 300)
_ID = r"[a-z0-9_]+"
_SOURCES = source.sources("NHS.uk: Recovering from surgery")

Texts = Mapping[str, str]


@dataclass(frozen=True)
class Choice:
    key: str
    text: Texts


@dataclass(frozen=True)
class Question:
    """A question of the bank. The fields that do not apply to its type keep their defaults."""
    code: str
    type: str
    text: Texts
    choices: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    decimals: int = 0
    max_length: int = FREE_TEXT_MAX
    max_seconds: int = 120

    def choice_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.choices)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Question:
        choices = tuple(Choice(c["key"], dict(c["text"])) for c in data.get("choices", ()))
        return cls(**{**data, "text": dict(data["text"]), "choices": choices})


@dataclass(frozen=True)
class Condition:
    """`question`'s answer `op` `value`; the question is None in a red flag (its own question)."""
    question: str | None
    op: str
    value: Any

    def matches(self, answer: Any) -> bool:
        if answer is None:
            return False
        if self.op == "equals":
            return answer == self.value
        if self.op == "in":
            return answer in self.value
        if self.op == "includes":
            return self.value in answer
        return answer >= self.value if self.op == "at_least" else answer <= self.value


@dataclass(frozen=True)
class RedFlag:
    when: Condition
    disposition: str  # a rung of the triage ladder
    escalation: str  # one of RED_FLAG_ESCALATIONS, among the rung's satisfied_by


@dataclass(frozen=True)
class Item:
    """A question as a questionnaire asks it."""
    question: Question
    show_if: tuple[Condition, ...] = ()
    red_flags: tuple[RedFlag, ...] = ()
    required: bool = True

    @property
    def code(self) -> str:
        return self.question.code

    def to_json(self) -> dict:
        return {"question": self.question.to_json(), "required": self.required,
                "show_if": [dataclasses.asdict(c) for c in self.show_if],
                "red_flags": [dataclasses.asdict(f) for f in self.red_flags]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        flags = tuple(RedFlag(Condition(**f["when"]), f["disposition"], f["escalation"])
                      for f in data["red_flags"])
        return cls(Question.from_json(data["question"]), tuple(Condition(**c) for c in data["show_if"]),
                   flags, data["required"])


@dataclass(frozen=True)
class Bank:
    path: str
    version: int | str
    source: tuple[str, ...]
    review_status: str
    languages: tuple[str, ...]
    questions: Mapping[str, Question]


@dataclass(frozen=True)
class Questionnaire:
    id: str
    title: Texts
    version: str  # as written in the file; a number is kept as its text ("1")
    source: tuple[str, ...]
    review_status: str
    kind: str
    items: tuple[Item, ...]
    department: str | None = None
    study: str | None = None
    path: str = ""

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)

    def definition(self) -> dict:
        """Everything an answer needs, resolved from the bank: stored with the version, so that a later bank
        or file never changes how an old answer reads."""
        return {"id": self.id, "title": dict(self.title), "version": self.version, "kind": self.kind,
                "department": self.department, "study": self.study, "source": list(self.source),
                "review_status": self.review_status, "items": [i.to_json() for i in self.items]}

    @classmethod
    def from_definition(cls, data: Mapping[str, Any]) -> Questionnaire:
        return cls(data["id"], dict(data["title"]), data["version"], tuple(data["source"]),
                   data["review_status"], data["kind"], tuple(Item.from_json(i) for i in data["items"]),
                   data["department"], data["study"])


# ---- the question bank ----

def load_bank(path: str | Path = BANK_FILE) -> Bank:
    shown_as = str(path)
    return _parse_bank(source.read_yaml(Path(path), shown_as, QuestionnaireDataError), shown_as)


def parse_bank_text(text: str, shown_as: str) -> Bank:
    """A bank given as text (the console's designer adds questions this way): the same checks as a file."""
    return _parse_bank(source.read_yaml_text(text, shown_as, QuestionnaireDataError), shown_as)


def _parse_bank(raw: Any, shown_as: str) -> Bank:
    problems = Problems(shown_as)
    top = source.top(problems, raw, "'questions'", QuestionnaireDataError)
    version = top.get("version", source.version)
    sources = top.get("source", _SOURCES)
    review_status = top.get("review_status", source.choice(REVIEW_STATUSES))
    languages = top.get("languages", _languages) or (REQUIRED_LANGUAGE,)
    table = top.get("questions", source.mapping) or LineMap()
    top.done()
    questions = _BankParser(problems, languages).questions(table)
    problems.raise_if_any(QuestionnaireDataError)
    return Bank(shown_as, version, sources, review_status, languages, questions)


class _BankParser:
    def __init__(self, problems: Problems, languages: tuple[str, ...]):
        self.problems, self.texts = problems, _texts_check(languages)

    def questions(self, table: LineMap) -> dict[str, Question]:
        found = {}
        for code, body in table.items():
            where = f"question '{code}'"
            if not _is_id(code) or not isinstance(body, LineMap):
                self.problems.add(table.key_lines[code], where, f"expected a code ({_ID}) with a mapping")
                continue
            question = self.question(code, Fields(self.problems, body, where))
            if question is not None:
                found[code] = question
        return found

    def question(self, code: str, f: Fields) -> Question | None:
        kind = f.get("type", _question_type)
        text = f.get("text", self.texts)
        if kind is None or text is None:
            _unread(f, [key for keys in _TYPE_KEYS.values() for key in keys])
            return None
        fields = getattr(self, f"_{kind}")(f)
        f.done()
        return Question(code, kind, text, **fields) if None not in fields.values() else None

    def _yes_no(self, f: Fields) -> dict:
        return {}

    _date = _yes_no

    def _single_choice(self, f: Fields) -> dict:
        return {"choices": f.get("choices", self._choices)}

    _multiple_choice = _single_choice

    def _scale(self, f: Fields) -> dict:
        low = f.get("min", source.integer(*SCALE_LIMITS))
        high = f.get("max", source.integer(*SCALE_LIMITS))
        if low is not None and high is not None and high <= low:
            f.error("max", f"max: {high} must be above min {low}")
            return {"min": None}
        return {"min": low, "max": high}

    def _number(self, f: Fields) -> dict:
        low, high = f.get("min", _number), f.get("max", _number)
        fields = {"unit": f.get("unit", source.text), "decimals": f.get("decimals", source.integer(0, 3), 0),
                  "min": low, "max": high}
        if low is not None and high is not None and high <= low:
            f.error("max", f"max: {high} must be above min {low}")
            fields["max"] = None
        return fields

    def _free_text(self, f: Fields) -> dict:
        return {"max_length": f.get("max_length", source.integer(1, FREE_TEXT_MAX), FREE_TEXT_MAX)}

    def _recorded(self, f: Fields) -> dict:
        return {"max_seconds": f.get("max_seconds", source.integer(*RECORDING_MAX_SECONDS), 120)}

    def _choices(self, value: Any) -> tuple[Choice, ...]:
        if not isinstance(value, LineList) or not 2 <= len(value) <= MAX_CHOICES:
            raise Invalid(f"expected a list of 2 to {MAX_CHOICES} choices (one key each by phone), got "
                          f"{source.describe(value) if not isinstance(value, LineList) else len(value)}")
        choices = [self._choice(value, index) for index in range(len(value))]
        keys = [c.key for c in choices if c is not None]
        if len(set(keys)) != len(keys):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise Invalid(f"duplicate choice key(s): {', '.join(twice)}")
        return tuple(choices) if None not in choices else None

    def _choice(self, items: LineList, index: int) -> Choice | None:
        item = items[index]
        if not isinstance(item, LineMap):
            self.problems.add(items.item_line(index), f"choice {index + 1}", "expected {key: ..., text: ...}")
            return None
        f = Fields(self.problems, item, f"choice {index + 1}")
        key = f.get("key", source.pattern_text(_ID, f"a choice key ({_ID})"))
        choice = Choice(key, f.get("text", self.texts))
        f.done()
        return choice if None not in (choice.key, choice.text) else None


_TYPE_KEYS = {SINGLE: ("choices",), MULTIPLE: ("choices",), SCALE: ("min", "max"),
              NUMBER: ("unit", "min", "max", "decimals"), FREE_TEXT: ("max_length",),
              RECORDED: ("max_seconds",)}


# ---- questionnaires ----

def load_questionnaire(path: str | Path, bank: Bank, ladder: Ladder | None = None) -> Questionnaire:
    """Load one questionnaire; raises QuestionnaireDataError listing every problem as `file:line: ...`."""
    shown_as = str(path)
    raw = source.read_yaml(Path(path), shown_as, QuestionnaireDataError)
    return _QuestionnaireParser(shown_as, bank, ladder or load_ladder()).parse(raw)


def parse_questionnaire_text(text: str, shown_as: str, bank: Bank, ladder: Ladder | None = None
                             ) -> Questionnaire:
    """A questionnaire given as text (the console's designer): the same checks as a file."""
    raw = source.read_yaml_text(text, shown_as, QuestionnaireDataError)
    return _QuestionnaireParser(shown_as, bank, ladder or load_ladder()).parse(raw)


def load_questionnaires(directory: str | Path = QUESTIONNAIRES_DIR, bank: Bank | None = None,
                        ladder: Ladder | None = None) -> dict[str, Questionnaire]:
    """Every `*.yaml` of `directory` (or the one file), by id. All files are checked before anything is
    raised."""
    bank, ladder = bank or load_bank(), ladder or load_ladder()
    directory = Path(directory)
    paths = sorted(directory.glob("*.yaml")) if directory.is_dir() else [directory]
    found: dict[str, Questionnaire] = {}
    problems: list[str] = []
    for path in paths:
        try:
            questionnaire = load_questionnaire(path, bank, ladder)
        except QuestionnaireDataError as exc:
            problems.extend(exc.problems)
            continue
        if questionnaire.id in found:
            line = source.id_line(path, QuestionnaireDataError)
            problems.append(f"{path}:{line}: id '{questionnaire.id}' is already used by "
                            f"{found[questionnaire.id].path}")
            continue
        found[questionnaire.id] = questionnaire
    if problems:
        raise QuestionnaireDataError(problems)
    return found


class _QuestionnaireParser:
    def __init__(self, shown_as: str, bank: Bank, ladder: Ladder):
        self.shown_as, self.bank, self.ladder = shown_as, bank, ladder
        self.problems = Problems(shown_as)

    def parse(self, raw: Any) -> Questionnaire:
        top = source.top(self.problems, raw, "'questions'", QuestionnaireDataError)
        code = lambda meaning: source.pattern_text(_ID, f"{meaning} ({_ID})")  # noqa: E731
        values = {"id": top.get("id", code("a questionnaire id")),
                  "title": top.get("title", _texts_check(self.bank.languages)),
                  "version": top.get("version", _version_text), "source": top.get("source", _SOURCES),
                  "review_status": top.get("review_status", source.choice(REVIEW_STATUSES)),
                  "kind": top.get("kind", source.choice(KINDS)),
                  "department": top.get("department", code("a department"), None),
                  "study": top.get("study", code("a study code"), None)}
        items = top.get("questions", self._items) or ()
        top.done()
        self.problems.raise_if_any(QuestionnaireDataError)
        return Questionnaire(items=items, path=self.shown_as, **values)

    def _items(self, value: Any) -> tuple[Item, ...]:
        if not isinstance(value, LineList) or not value:
            raise Invalid(f"expected a list of questions, got {source.describe(value)}")
        items: list[Item] = []
        for index, raw in enumerate(value):
            if not isinstance(raw, LineMap):
                what = f"expected a mapping with 'code', got {source.describe(raw)}"
                self.problems.add(value.item_line(index), f"question {index + 1}", what)
                continue
            item = self._item(Fields(self.problems, raw, f"question {index + 1}"), items, value)
            if item is not None:
                items.append(item)
        return tuple(items)

    def _item(self, f: Fields, before: list[Item], everything: LineList) -> Item | None:
        question = f.get("code", self._bank_question)
        if question is None:
            _unread(f, ("show_if", "red_flags", "required"))
            return None
        f.where = f"question '{question.code}'"
        if any(i.code == question.code for i in before):
            f.error("code", f"code: '{question.code}' is asked twice in this questionnaire")
        later = [str(raw.get("code")) for raw in everything if isinstance(raw, LineMap)]
        show_if = f.get("show_if", lambda v: self._show_if(v, question.code, before, later), ())
        red_flags = f.get("red_flags", lambda v: self._red_flags(v, question), ())
        item = Item(question, show_if or (), red_flags or (), f.get("required", source.boolean, True))
        f.done()
        return item

    def _bank_question(self, value: Any) -> Question:
        if isinstance(value, str) and value in self.bank.questions:
            return self.bank.questions[value]
        close = difflib.get_close_matches(str(value), list(self.bank.questions), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise Invalid(f"no question {value!r} in the question bank {self.bank.path}{hint}")

    def _show_if(self, value: Any, own: str, before: list[Item], codes: list[str]) -> tuple[Condition, ...]:
        raws = value if isinstance(value, list) else [value]
        if not raws:
            raise Invalid("expected a condition or a list of conditions")
        return tuple(self._show_if_one(raw, own, before, codes) for raw in raws)

    def _show_if_one(self, raw: Any, own: str, before: list[Item], codes: list[str]) -> Condition:
        table = _condition_table(raw, with_question=True)
        code = table["question"]
        earlier = next((i.question for i in before if i.code == code), None)
        if earlier is None:
            raise Invalid(_not_earlier(code, own, codes))
        op, operand = _operator(table)
        return Condition(code, op, _operand(earlier, op, operand))

    def _red_flags(self, value: Any, question: Question) -> tuple[RedFlag, ...]:
        if not isinstance(value, LineList) or not value:
            raise Invalid(f"expected a list of red flags, got {source.describe(value)}")
        flags = []
        for index, raw in enumerate(value):
            where = f"question '{question.code}' red flag {index + 1}"
            if not isinstance(raw, LineMap):
                self.problems.add(value.item_line(index), where, "expected {when: ..., disposition: ..., "
                                  "escalation: ...}")
                continue
            flags.append(self._red_flag(Fields(self.problems, raw, where), question))
        return tuple(f for f in flags if f is not None)

    def _red_flag(self, f: Fields, question: Question) -> RedFlag | None:
        when = f.get("when", lambda v: _answer_condition(v, question))
        disposition = f.get("disposition", self._disposition)
        escalation = f.get("escalation", source.choice(RED_FLAG_ESCALATIONS))
        f.done()
        if None in (when, disposition, escalation):
            return None
        if escalation not in self.ladder[disposition].satisfied_by:
            satisfied = ", ".join(self.ladder[disposition].satisfied_by) or "none"
            f.error("escalation", f"escalation: '{escalation}' does not satisfy '{disposition}' in the "
                    f"triage ladder (it is satisfied by: {satisfied})")
            return None
        return RedFlag(when, disposition, escalation)

    def _disposition(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.ladder.dispositions:
            known = ", ".join(self.ladder.dispositions)
            raise Invalid(f"unknown disposition {value!r} (the triage ladder in {self.ladder.path}: {known})")
        if not self.ladder[value].escalation_required:
            raise Invalid(f"'{value}' requires no escalation: a red flag names a rung that escalates")
        return value


def _not_earlier(code: Any, own: str, codes: list[str]) -> str:
    if code == own:
        return f"question: '{own}' cannot depend on its own answer (a cycle)"
    if code in codes:
        return (f"question: '{code}' is asked later; skip logic may only look back at an earlier question "
                "(looking forward would allow a cycle)")
    return f"question: {code!r} is not a question of this questionnaire"


def _answer_condition(value: Any, question: Question) -> Condition:
    table = _condition_table(value, with_question=False)
    op, operand = _operator(table)
    return Condition(None, op, _operand(question, op, operand))


def _condition_table(value: Any, with_question: bool) -> LineMap:
    table = source.mapping(value)
    allowed = set(OPERATORS) | ({"question"} if with_question else set())
    unknown = [str(k) for k in table if k not in allowed]
    if unknown:
        keys = ", ".join(sorted(allowed))
        raise Invalid(f"unknown key(s) {', '.join(unknown)} in a condition (keys: {keys})")
    if with_question and "question" not in table:
        raise Invalid("a condition names the earlier 'question' it looks at")
    return table


def _operator(table: LineMap) -> tuple[str, Any]:
    ops = [k for k in table if k in OPERATORS]
    if len(ops) != 1:
        raise Invalid(f"expected exactly one of {', '.join(OPERATORS)}")
    return ops[0], table[ops[0]]


def _operand(question: Question, op: str, operand: Any) -> Any:
    """The operand checked against the question it compares with (a choice that exists, a number in range)."""
    if question.type not in OPERATORS[op]:
        raise Invalid(f"'{op}' does not apply to '{question.code}', a {question.type} question (applies to: "
                      f"{', '.join(OPERATORS[op])})")
    if op == "in":
        if not isinstance(operand, list) or not operand:
            raise Invalid(f"'in' expects a list of answers, got {source.describe(operand)}")
        return [_answer_operand(question, v) for v in operand]
    if op == "includes":
        return _answer_operand(dataclasses.replace(question, type=SINGLE), operand)  # one of the choices
    return _answer_operand(question, operand)


def _answer_operand(question: Question, operand: Any) -> Any:
    from .answers import normalise  # here, not at the top: answers.py needs this module's types first
    try:
        return normalise(question, operand)
    except InvalidAnswer as exc:
        raise Invalid(str(exc)) from None


# ---- value checks ----

def _unread(f: Fields, keys: Iterable[str]) -> None:
    """Finish a mapping whose main key is broken: its other keys cannot be checked, but are not unknown."""
    for key in keys:
        f.get(key, lambda value: value, None)
    f.done()


def _is_id(key: Any) -> bool:
    return isinstance(key, str) and re.fullmatch(_ID, key) is not None


def _question_type(value: Any) -> str:
    if value not in TYPES:
        close = difflib.get_close_matches(str(value), TYPES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise Invalid(f"unknown question type {value!r}{hint}; types: {', '.join(TYPES)}")
    return value


def _version_text(value: Any) -> str:
    return str(source.version(value))


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"expected a number, got {source.describe(value)}")
    return value


def _texts_check(languages: tuple[str, ...]):
    return source.texts(languages, "the bank's 'languages'")


def _languages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"expected a list of language codes such as [en], got {source.describe(value)}")
    codes = tuple(source.pattern_text(LANGUAGE, "a language code")(item) for item in value)
    if REQUIRED_LANGUAGE not in codes or len(set(codes)) != len(codes):
        raise Invalid(f"must list {REQUIRED_LANGUAGE} and each language once")
    return codes

"""Triage data as files: the disposition ladder, the protocols and the suggestion map, validated on load.

The files are written and reviewed by clinicians, not programmers, so every problem is reported as
`file:line: where: what`, all at once (the reader and problem collector of `callcenter/yamlsource.py`).

`dispositions.yaml` (the ladder; the order of the file IS the order of urgency, most urgent first):

```yaml
review: "example content, requires clinical review"
languages: [en, es]
dispositions:
  call_emergency_services_now:
    label: {en: "...", es: "..."}
    action: emergency_services     # what the console offers: see ACTIONS
    escalation_required: true      # the call cannot be wrapped up until the action was performed
    satisfied_by: [emergency_conference, instruction_read]  # the escalations that count (ESCALATIONS);
                                   # none when escalation_required is false
    instruction: {en: "...", es: "..."}
```

`protocols/<id>.yaml`:

```yaml
id: chest_pain                     # [a-z0-9_]+, unique across all protocol files
title: {en: Chest pain, es: Dolor en el pecho}
version: 1                         # whole number or a text such as a date
source: ["NHS.uk: Chest pain", "American Heart Association: Warning signs of a heart attack"]
review_status: example content, requires clinical review
languages: [en, es]                # must include en and es; every text below has each of them
call_back_if_worse: {en: "...", es: "..."}
ages: {under_months: 3}            # optional: the ages the protocol is written for (from_/under_ +
                                   # months/years); a patient outside is flagged, never refused
age_question: {en: "...?", es: "¿...?"}   # required when the protocol or a question has `ages`: the desk
                                   # asks it first unless the confirmed patient's record gives the age
questions:                         # most acute first: a question may not be more urgent than the one before
  - id: not_breathing              # [a-z0-9_]+, unique in the protocol
    text: {en: "...?", es: "¿...?"}
    if_yes: call_emergency_services_now
    advice: {en: "...", es: "..."}
    ages: {from_years: 50}         # optional: asked only at these ages (always when the age is unknown)
if_no_to_all:
  disposition: see_doctor_today    # not more urgent than the last question's
  advice: {en: "...", es: "..."}
```

`suggestions.yaml` maps what the IVR or the caller said to protocols (see `Suggestions`).

`scripts.yaml` says which call script (`scripts/<name>.j2`) a queue's calls get (see `ScriptMap`):

```yaml
default: general                   # a queue not listed below
queues:
  appointments: scheduling         # a queue in the database: checked when the server starts
```
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import yamlsource as source
from ..ivr.catalog import LANGUAGE
from ..yamlsource import Fields, Invalid, LineList, LineMap, Problems
from .exceptions import TriageDataError
from .guide import CALL_TYPES
from .suggestions import STEMMERS, stems

HERE = Path(__file__).resolve().parent
LADDER_FILE = HERE / "dispositions.yaml"
PROTOCOLS_DIR = HERE / "protocols"
SUGGESTIONS_FILE = HERE / "suggestions.yaml"
SCRIPT_MAP_FILE = HERE / "scripts.yaml"

REQUIRED_LANGUAGES = ("en", "es")
REVIEW_STATUSES = ("example content, requires clinical review", "clinically approved")
# What the console can do for a disposition; the verbs a triage panel offers as buttons.
ACTIONS = ("emergency_services", "emergency_department", "nurse_transfer", "appointment", "home_care")
# The escalations the console can perform (triage/escalation.py); a rung names those that satisfy it.
ESCALATIONS = ("nurse_transfer", "emergency_conference", "instruction_read", "urgent_callback")
_ID = r"[a-z0-9_]+"
_SOURCES = source.sources("NHS.uk: Chest pain")

Texts = Mapping[str, str]


@dataclass(frozen=True)
class Disposition:
    id: str
    rank: int  # 0 is the most urgent
    label: Texts
    action: str
    escalation_required: bool
    instruction: Texts
    satisfied_by: tuple[str, ...] = ()  # the escalations that discharge it; empty when none is required


@dataclass(frozen=True)
class Ladder:
    path: str
    languages: tuple[str, ...]
    dispositions: Mapping[str, Disposition]

    def __getitem__(self, disposition_id: str) -> Disposition:
        return self.dispositions[disposition_id]

    def more_urgent(self, a: str, b: str) -> bool:
        return self.dispositions[a].rank < self.dispositions[b].rank


@dataclass(frozen=True)
class AgeRange:
    """Ages in whole calendar months, `from_months` included, `under_months` excluded (None: no limit)."""
    from_months: int = 0
    under_months: int | None = None

    def includes(self, months: int) -> bool:
        return months >= self.from_months and (self.under_months is None or months < self.under_months)

    def said(self) -> str:
        parts = [f"from {_months_said(self.from_months)}" if self.from_months else "",
                 f"under {_months_said(self.under_months)}" if self.under_months is not None else ""]
        return " ".join(p for p in parts if p)


def _months_said(months: int) -> str:
    return f"{months // 12} years" if months and months % 12 == 0 else f"{months} months"


@dataclass(frozen=True)
class Question:
    id: str
    line: int
    text: Texts
    if_yes: str  # a disposition id: the first "yes" sets it
    advice: Texts
    ages: AgeRange | None = None  # asked only at these ages; always when the age is not known


@dataclass(frozen=True)
class Outcome:
    disposition: str
    advice: Texts


@dataclass(frozen=True)
class Protocol:
    id: str
    title: Texts
    version: int | str
    source: tuple[str, ...]
    review_status: str
    languages: tuple[str, ...]
    call_back_if_worse: Texts
    questions: tuple[Question, ...]
    if_no_to_all: Outcome
    path: str = ""
    ages: AgeRange | None = None  # the ages the protocol is written for
    age_question: Texts | None = None  # how the desk asks the age, when the record does not give it

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def age_dependent(self) -> bool:
        return self.ages is not None or any(q.ages is not None for q in self.questions)


# ---- the ladder ----

def load_ladder(path: str | Path = LADDER_FILE) -> Ladder:
    shown_as = str(path)
    problems = Problems(shown_as)
    raw = source.read_yaml(Path(path), shown_as, TriageDataError)
    top = source.top(problems, raw, "'dispositions'", TriageDataError)
    top.get("review", source.text)
    languages = top.get("languages", _languages) or REQUIRED_LANGUAGES
    dispositions = top.get("dispositions", lambda v: _dispositions(problems, v, languages))
    top.done()
    problems.raise_if_any(TriageDataError)
    return Ladder(shown_as, languages, MappingProxyType(dispositions))


def _dispositions(problems: Problems, value: Any, languages: tuple[str, ...]) -> dict[str, Disposition]:
    table = source.mapping(value)
    found = {}
    for rank, (key, body) in enumerate(table.items()):
        where = f"disposition '{key}'"
        if not _is_id(key) or not isinstance(body, LineMap):
            problems.add(table.key_lines[key], where, f"expected an id ({_ID}) with a mapping of fields")
            continue
        f = Fields(problems, body, where)
        texts = _texts_check(languages)
        found[key] = Disposition(
            key, rank, f.get("label", texts), f.get("action", source.choice(ACTIONS)),
            f.get("escalation_required", source.boolean), f.get("instruction", texts),
            f.get("satisfied_by", _escalations, ()) or ())
        _check_satisfied_by(f, found[key])
        f.done()
    return found


def _escalations(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(set(value)) != len(value):
        raise Invalid(f"expected a list of distinct escalations ({', '.join(ESCALATIONS)})")
    return tuple(source.choice(ESCALATIONS)(item) for item in value)


def _check_satisfied_by(f: Fields, rung: Disposition) -> None:
    """A rung that requires escalation names what satisfies it; one that does not names nothing, so the
    console never offers an escalation that the wrap-up rule would not count."""
    if rung.escalation_required is True and not rung.satisfied_by:
        f.error("escalation_required", "escalation_required: true needs 'satisfied_by': the escalations"
                " that count")
    elif rung.escalation_required is False and rung.satisfied_by:
        f.error("satisfied_by", "satisfied_by: a disposition that requires no escalation names none")


# ---- protocols ----

def load_protocol(path: str | Path, ladder: Ladder) -> Protocol:
    """Load one protocol; raises TriageDataError listing every problem as `file:line: ...`."""
    shown_as = str(path)
    raw = source.read_yaml(Path(path), shown_as, TriageDataError)
    return _ProtocolParser(shown_as, ladder).parse(raw)


def load_protocols(directory: str | Path = PROTOCOLS_DIR,
                   ladder: Ladder | None = None) -> dict[str, Protocol]:
    """Every `*.yaml` protocol of `directory`, by id. All files are checked before anything is raised."""
    ladder = ladder or load_ladder()
    protocols: dict[str, Protocol] = {}
    problems: list[str] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            protocol = load_protocol(path, ladder)
        except TriageDataError as exc:
            problems.extend(exc.problems)
            continue
        if protocol.id in protocols:
            first = protocols[protocol.id].path
            line = source.id_line(path, TriageDataError)
            problems.append(f"{path}:{line}: id '{protocol.id}' is already used by {first}")
            continue
        protocols[protocol.id] = protocol
    if problems:
        raise TriageDataError(problems)
    return protocols


class _ProtocolParser:
    def __init__(self, shown_as: str, ladder: Ladder):
        self.shown_as, self.ladder = shown_as, ladder
        self.problems = Problems(shown_as)
        self.languages: tuple[str, ...] = REQUIRED_LANGUAGES

    def parse(self, raw: Any) -> Protocol:
        top = source.top(self.problems, raw, "'questions'", TriageDataError)
        protocol_id = top.get("id", source.pattern_text(_ID, f"a protocol id ({_ID})"))
        self.languages = top.get("languages", _languages) or REQUIRED_LANGUAGES
        title = top.get("title", self._texts)
        version = top.get("version", source.version)
        sources = top.get("source", _SOURCES)
        review_status = top.get("review_status", source.choice(REVIEW_STATUSES))
        call_back = top.get("call_back_if_worse", self._texts)
        ages = top.get("ages", _age_range, None)
        age_question = top.get("age_question", self._texts, None)
        questions = top.get("questions", self._questions) or ()
        if_no_to_all = top.get("if_no_to_all", self._outcome)
        top.done()
        if age_question is None and (ages is not None or any(q.ages for q in questions)):
            top.error("questions" if ages is None else "ages",
                      "age_question: required when the protocol or a question depends on the age")
        if questions and if_no_to_all and self._known(if_no_to_all.disposition) \
                and self._known(questions[-1].if_yes) \
                and self.ladder.more_urgent(if_no_to_all.disposition, questions[-1].if_yes):
            top.error("if_no_to_all", f"if_no_to_all: '{if_no_to_all.disposition}' is more urgent than the"
                      f" last question's '{questions[-1].if_yes}': 'no' to every red flag cannot be worse")
        self.problems.raise_if_any(TriageDataError)
        return Protocol(protocol_id, title, version, sources, review_status, self.languages, call_back,
                        questions, if_no_to_all, self.shown_as, ages, age_question)

    def _texts(self, value: Any) -> Texts:
        return _texts_check(self.languages)(value)

    def _disposition(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.ladder.dispositions:
            shown = repr(value) if isinstance(value, str) else source.describe(value)
            known = ", ".join(self.ladder.dispositions)
            raise Invalid(f"unknown disposition {shown} (the ladder in {self.ladder.path}: {known})")
        return value

    def _known(self, disposition: str | None) -> bool:
        return disposition in self.ladder.dispositions

    def _questions(self, value: Any) -> tuple[Question, ...]:
        if not isinstance(value, LineList) or not value:
            raise Invalid(f"expected a list of questions, got {source.describe(value)}")
        questions: list[Question] = []
        for index, item in enumerate(value):
            line = value.item_line(index)
            if not isinstance(item, LineMap):
                what = f"expected a mapping, got {source.describe(item)}"
                self.problems.add(line, f"question {index + 1}", what)
                continue
            question = self._question(Fields(self.problems, item, f"question {index + 1}"), line)
            if question is not None:
                self._check_order(question, questions)
                questions.append(question)
        return tuple(questions)

    def _question(self, f: Fields, line: int) -> Question | None:
        question_id = f.get("id", source.pattern_text(_ID, f"a question id ({_ID})"))
        if question_id:
            f.where = f"question '{question_id}'"
        question = Question(question_id, line, f.get("text", self._texts), f.get("if_yes", self._disposition),
                            f.get("advice", self._texts), f.get("ages", _age_range, None))
        if True in f.mapping:  # YAML 1.1 reads an unquoted `yes:` key as the boolean true
            f.problems.add(f.mapping.key_lines[True], f.where,
                           "a key reads as true: write 'if_yes:' (YAML reads an unquoted yes/on as true)")
            f.mapping.pop(True)
        f.done()
        return question if None not in (question.id, question.if_yes) else None

    def _check_order(self, question: Question, before: list[Question]) -> None:
        if any(q.id == question.id for q in before):
            self.problems.add(question.line, f"question '{question.id}'", "duplicate question id")
        if before and self.ladder.more_urgent(question.if_yes, before[-1].if_yes):
            self.problems.add(question.line, f"question '{question.id}'",
                              f"acuity order: its disposition '{question.if_yes}' is more urgent than"
                              f" '{before[-1].if_yes}' of the question before it ('{before[-1].id}');"
                              " ask the most acute red flags first")

    def _outcome(self, value: Any) -> Outcome:
        f = Fields(self.problems, source.mapping(value), "if_no_to_all")
        outcome = Outcome(f.get("disposition", self._disposition), f.get("advice", self._texts))
        f.done()
        return outcome


# ---- suggestions ----

@dataclass(frozen=True)
class Suggestions:
    """Which protocols to offer first (suggestions.yaml; triage/suggestions.py matches and ranks): by the
    words of the caller (phrases per protocol and language), the IVR key path (`node:key`), the queue, and
    a default when none of these suggests anything."""
    version: int | str
    source: tuple[str, ...]
    review_status: str
    languages: tuple[str, ...]
    ivr_choices: Mapping[str, tuple[str, ...]]
    queues: Mapping[str, tuple[str, ...]]
    default: tuple[str, ...]
    phrases: Mapping[str, Mapping[str, tuple[str, ...]]]  # protocol id -> language -> phrases


def load_suggestions(path: str | Path = SUGGESTIONS_FILE,
                     protocol_ids: set[str] | None = None) -> Suggestions:
    """With `protocol_ids` (the shipped protocols), every protocol must have phrases in every language:
    a protocol nobody's words can suggest is how suicidal thoughts and infant fever went unsuggested."""
    shown_as = str(path)
    problems = Problems(shown_as)
    raw = source.read_yaml(Path(path), shown_as, TriageDataError)
    top = source.top(problems, raw, "'phrases'", TriageDataError)
    version = top.get("version", source.version)
    sources = top.get("source", _SOURCES)
    review_status = top.get("review_status", source.choice(REVIEW_STATUSES))
    languages = top.get("languages", _languages) or REQUIRED_LANGUAGES
    known = _protocol_ref(protocol_ids)
    lists = lambda value: _id_lists(value, known, lambda k: isinstance(k, str) and bool(k))  # noqa: E731
    ivr = top.get("ivr_choices", lists, {})
    queues = top.get("queues", lists, {})
    default = top.get("default", lambda v: _id_list(v, known), ())
    phrases = top.get("phrases", lambda v: _phrases(v, known, languages, protocol_ids))
    top.done()
    problems.raise_if_any(TriageDataError)
    return Suggestions(version, sources, review_status, languages, MappingProxyType(ivr or {}),
                       MappingProxyType(queues or {}), default or (), MappingProxyType(phrases or {}))


def _protocol_ref(protocol_ids: set[str] | None):
    def check(value: Any) -> str:
        if not isinstance(value, str) or (protocol_ids is not None and value not in protocol_ids):
            raise Invalid(f"unknown protocol {value!r}")
        return value
    return check


def _id_lists(value: Any, known, key_ok) -> dict[str, tuple[str, ...]]:
    table = source.mapping(value)
    result = {}
    for key, items in table.items():
        if not key_ok(key) or not isinstance(items, list):
            raise Invalid(f"{key!r}: expected a list of protocol ids")
        try:
            result[key] = tuple(known(item) for item in items)
        except Invalid as exc:
            raise Invalid(f"{key!r}: {exc}") from None
    return result


def _id_list(value: Any, known) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Invalid(f"expected a list of protocol ids, got {source.describe(value)}")
    return tuple(known(item) for item in value)


def _phrases(value: Any, known, languages: tuple[str, ...], protocol_ids: set[str] | None
             ) -> dict[str, dict[str, tuple[str, ...]]]:
    table = source.mapping(value)
    no_stemmer = [lang for lang in languages if lang not in STEMMERS]
    if no_stemmer:
        raise Invalid(f"no word stemmer for language(s) {', '.join(no_stemmer)} (triage/suggestions.py)")
    result = {}
    for protocol_id, by_language in table.items():
        known(protocol_id)
        if not isinstance(by_language, dict) or set(by_language) != set(languages):
            raise Invalid(f"{protocol_id!r}: expected phrases for each of {', '.join(languages)}")
        result[protocol_id] = {lang: _phrase_list(protocol_id, lang, by_language[lang]) for lang in languages}
    absent = sorted(set(protocol_ids or ()) - set(result))
    if absent:
        raise Invalid(f"no phrases for protocol(s) {', '.join(absent)}: the caller's words could never"
                      " suggest them")
    return result


def _phrase_list(protocol_id: str, language: str, items: Any) -> tuple[str, ...]:
    where = f"{protocol_id!r} {language}"
    if not isinstance(items, list) or not items:
        raise Invalid(f"{where}: expected a list of phrases")
    for item in items:
        if not isinstance(item, str) or not stems(item, language):
            raise Invalid(f"{where}: {item!r} is not a phrase of words")
    return tuple(items)


# ---- which script a queue's calls get ----

@dataclass(frozen=True)
class ScriptMap:
    """Queue name -> call script. The scripts are checked on load; the queue names only against the queues
    of the database (`unknown_queues`, at start): a name that matches no queue would silently give that
    queue's calls the default script."""
    shown_as: str
    default: str
    queues: Mapping[str, str]
    lines: Mapping[str, int]

    def for_queue(self, queue: str | None) -> str:
        return self.queues.get(queue or "", self.default)

    def unknown_queues(self, known: set[str]) -> list[str]:
        """One `file:line: ...` per mapped queue that is not in `known`, with the closest real name."""
        problems = []
        for name in self.queues:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{self.shown_as}:{self.lines[name]}: queues: no queue '{name}'{hint}; "
                                f"queues: {', '.join(sorted(known))}")
        return problems


def load_script_map(path: str | Path = SCRIPT_MAP_FILE, scripts: tuple[str, ...] = CALL_TYPES) -> ScriptMap:
    shown_as = str(path)
    problems = Problems(shown_as)
    raw = source.read_yaml(Path(path), shown_as, TriageDataError)
    top = source.top(problems, raw, "'queues'", TriageDataError)
    top.get("review", source.text, "")
    script = script_ref(scripts)
    default = top.get("default", script)
    table = top.get("queues", source.mapping, None) or LineMap()
    top.done()
    queues = {}
    for name, value in table.items():
        where = f"queues: {name}" if isinstance(name, str) else "queues"
        try:
            queues[str(name)] = script(value)
        except Invalid as exc:
            problems.add(table.value_line(name), where, str(exc))
    problems.raise_if_any(TriageDataError)
    lines = {str(name): table.key_lines.get(name, table.line) for name in table}
    return ScriptMap(shown_as, default, MappingProxyType(queues), MappingProxyType(lines))


def script_ref(scripts: tuple[str, ...] = CALL_TYPES):
    """A value check: the name of a call script that exists (also for a campaign's `script`)."""
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in scripts:
            close = difflib.get_close_matches(str(value), scripts, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise Invalid(f"unknown call script {value!r}{hint}; scripts: {', '.join(scripts)}")
        return value
    return check


# ---- value checks shared by the three files ----


def _is_id(key: Any) -> bool:
    return isinstance(key, str) and re.fullmatch(_ID, key) is not None


def _texts_check(languages: tuple[str, ...]):
    """Read-only (MappingProxyType), as triage's texts have always been."""
    check = source.texts(languages, "'languages'")
    return lambda value: MappingProxyType(check(value))


def _languages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"expected a list of language codes such as [en, es], got {source.describe(value)}")
    codes = tuple(source.pattern_text(LANGUAGE, "a language code")(item) for item in value)
    absent = [lang for lang in REQUIRED_LANGUAGES if lang not in codes]
    if absent or len(set(codes)) != len(codes):
        raise Invalid(f"must list each of {', '.join(REQUIRED_LANGUAGES)} once")
    return codes


AGE_KEYS = {"from_months": 1, "from_years": 12, "under_months": 1, "under_years": 12}


def _age_range(value: Any) -> AgeRange:
    """`{from_years: 50}`, `{under_months: 3}`, or one from_ and one under_ key: whole months inside."""
    table = source.mapping(value)
    unknown = [str(k) for k in table if k not in AGE_KEYS]
    counts = [n for n in table.values() if not isinstance(n, int) or isinstance(n, bool) or n < 0]
    starts = [k for k in table if str(k).startswith("from_")]
    ends = [k for k in table if str(k).startswith("under_")]
    if unknown or counts or not table or len(starts) > 1 or len(ends) > 1:
        raise Invalid(f"expected at most one of from_months/from_years and one of under_months/under_years,"
                      f" whole numbers, e.g. {{from_years: 50}}, got {source.describe(value)}")
    low = table[starts[0]] * AGE_KEYS[starts[0]] if starts else 0
    high = table[ends[0]] * AGE_KEYS[ends[0]] if ends else None
    if high is not None and high <= low:
        raise Invalid("the 'under' age must be above the 'from' age")
    return AgeRange(low, high)

"""The texts the hospital sends: data (templates.yaml, versioned, with its source and review status), checked
when loaded, rendered only from `TextFacts`.

No clinical details in any text: a text can be read by whoever holds the phone. Two guards: the facts a
template can be given are only those of `TextFacts` (the hospital, its number, an appointment's date and
time, a ticket's serial number), so no department, clinician, place or diagnosis can reach a text; and the
fixed wording is checked against words that would say something clinical. Every template exists in every
language and fits in MAX_SEGMENTS messages with the longest facts.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import yamlsource as source
from ..yamlsource import Fields, LineMap, Problems
from .exceptions import TemplateError

DEFAULT_FILE = Path(__file__).with_name("templates.yaml")
MAX_SEGMENTS = 3
# Words whose presence in a text would tell something of the patient's health.
CLINICAL_WORDS = ("diagnos", "result", "test", "lab ", "oncolog", "cancer", "hiv", "pregnan", "psychiatr",
                  "medica", "prescri", "surgery", "cirug", "resultado", "análisis", "embaraz")
# The GSM 03.38 alphabet: a text only in it travels 160 characters a message (153 when split), else UCS-2
# (70, 67 when split). Characters of the extension table count twice.
GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = "^{}\\[~]|€"


@dataclass(frozen=True)
class TextFacts:
    """Everything a text may say. A new fact is a field here and a line in templates.yaml's header."""
    hospital: str = ""
    callback: str = ""
    date: str = ""
    time: str = ""
    serial: str = ""


PLACEHOLDERS = frozenset(f.name for f in fields(TextFacts))
# The longest each fact may be in the length check (a hospital name, an international number...).
LONGEST = TextFacts(hospital="H" * 30, callback="+1 415 555 0100 00", date="12/31/2026", time="12:30 PM",
                    serial="2026 0001 237")


@dataclass(frozen=True)
class Templates:
    version: str
    source: str
    review: str
    languages: tuple[str, ...]
    formats: MappingProxyType  # language -> {"date": strftime, "time": strftime}
    texts: MappingProxyType    # template -> language -> text

    def render(self, template: str, language: str, facts: TextFacts) -> tuple[str, str]:
        """(text, language used): the patient's language when the file has it, else the first one."""
        language = language if language in self.languages else self.languages[0]
        return self.texts[template][language].format(**vars(facts)), language

    def when(self, moment: datetime, language: str) -> tuple[str, str]:
        """An appointment's date and time as the language writes them (local time already applied)."""
        language = language if language in self.languages else self.languages[0]
        shape = self.formats[language]
        return moment.strftime(shape["date"]), moment.strftime(shape["time"])


def load(path: Path = DEFAULT_FILE) -> Templates:
    data = source.read_yaml(path, str(path), TemplateError)
    return parse(data, str(path))


def load_text(text: str, shown_as: str) -> Templates:
    return parse(source.read_yaml_text(text, shown_as, TemplateError), shown_as)


def parse(data: Any, shown_as: str) -> Templates:
    problems = Problems(shown_as)
    if not isinstance(data, LineMap):
        raise TemplateError([f"{shown_as}:1: expected a mapping, got {source.describe(data)}"])
    top = Fields(problems, data, "")
    version = top.get("version", source.version)
    origin = top.get("source", source.text)
    review = top.get("review", source.text)
    languages = top.get("languages", _languages)
    formats = top.get("formats", source.mapping)
    texts = top.get("templates", source.mapping)
    top.done()
    languages = tuple(languages or ())
    shapes = _formats(problems, formats, languages) if formats is not None else {}
    checked = _templates(problems, texts, languages) if texts is not None else {}
    problems.raise_if_any(TemplateError)
    return Templates(str(version), origin, review, languages, MappingProxyType(shapes),
                     MappingProxyType(checked))


def _languages(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise source.Invalid(f"expected a list of language codes, got {source.describe(value)}")
    return value


def _formats(problems: Problems, formats: LineMap, languages: tuple[str, ...]) -> dict:
    shapes = {}
    for language in languages:
        if language not in formats:
            problems.add(formats.line, "formats", f"no date and time format for '{language}'")
            continue
        one = Fields(problems, source.mapping(formats[language]), f"formats.{language}")
        shapes[language] = {"date": one.get("date", source.text), "time": one.get("time", source.text)}
        one.done()
    return shapes


def _templates(problems: Problems, texts: LineMap, languages: tuple[str, ...]) -> dict:
    checked = {}
    for name, by_language in texts.items():
        where = f"templates.{name}"
        if not isinstance(by_language, LineMap):
            problems.add(texts.value_line(name), where, "expected a mapping of language -> text")
            continue
        one = Fields(problems, by_language, where)
        checked[name] = {lang: one.get(lang, _template_text) for lang in languages}
        one.done()
    return checked


def _template_text(value: Any) -> str:
    text = source.text(value)
    names = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise source.Invalid(f"unknown placeholder {{{unknown[0]}}}: a text may only say "
                             + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS)))
    lowered = text.lower()
    clinical = [word.strip() for word in CLINICAL_WORDS if word in lowered]
    if clinical:
        raise source.Invalid(f"says '{clinical[0]}': no clinical details in a text")
    longest = text.format(**vars(LONGEST))
    if segments(longest) > MAX_SEGMENTS:
        raise source.Invalid(f"too long: {segments(longest)} messages with the longest facts "
                             f"(at most {MAX_SEGMENTS})")
    return text


def segments(text: str) -> int:
    """How many messages a text takes (GSM 7-bit when it can, else UCS-2)."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units, single, split = len(text) + sum(c in GSM_EXTENSION for c in text), 160, 153
    else:
        units, single, split = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // split)

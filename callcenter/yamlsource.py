"""YAML reading that keeps line numbers, and a collector of problems that names file and line.

Flow and prompt files are written by people who are not programmers (and reviewed by clinicians), so every
problem is reported as `file:line: where: what`, all of them at once, instead of a traceback.

Scalars cannot carry attributes, so the line of every value is kept by its parent: `LineMap.value_line(key)`
and `LineList.item_line(i)`.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml


class SourceError(Exception):
    """A file has one or more problems; `problems` holds one `file:line: ...` message each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class LineMap(dict):
    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]

    def value_line(self, key: Any) -> int:
        return self.value_lines.get(key, self.line)


class LineList(list):
    line: int
    item_lines: list[int]

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineMap:
    loader.flatten_mapping(node)
    mapping = LineMap()
    mapping.line, mapping.key_lines, mapping.value_lines = node.start_mark.line + 1, {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise _DuplicateKey(None, None, "a key must be a plain value", key_node.start_mark)
        if key in mapping:
            # PyYAML silently keeps the last of two equal keys; in a menu that hides a wrong option.
            raise _DuplicateKey(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
        mapping.value_lines[key] = value_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    items = LineList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    items.item_lines = [child.start_mark.line + 1 for child in node.value]
    return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: Path, shown_as: str, error: type[SourceError] = SourceError) -> Any:
    """Parse `path`; an unreadable file or a syntax error raises `error` naming `shown_as` and the line."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error([f"{shown_as}: cannot read: {exc}"]) from exc
    return read_yaml_text(content, shown_as, error)


def read_yaml_text(content: str, shown_as: str, error: type[SourceError] = SourceError) -> Any:
    """Like `read_yaml` for text that is not (or not yet) a file, e.g. a campaign edited in the console."""
    try:
        return yaml.load(content, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        raise error([_yaml_message(exc, shown_as)]) from exc
    except yaml.YAMLError as exc:
        raise error([f"{shown_as}: invalid YAML: {exc}"]) from exc


def _yaml_message(exc: yaml.MarkedYAMLError, shown_as: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    hint = " (quote the keys '*' and '#': unquoted, * is an alias and # starts a comment)"
    return f"{shown_as}:{line}: invalid YAML: {what}" + (hint if "alias" in what else "")


class Invalid(Exception):
    """Raised by a value check; the reader adds file, line and key."""


class Problems:
    def __init__(self, shown_as: str):
        self.shown_as = shown_as
        self.items: list[str] = []

    def add(self, line: int, where: str, what: str) -> None:
        prefix = f"{self.shown_as}:{line}: "
        self.items.append(prefix + (f"{where}: {what}" if where else what))

    def raise_if_any(self, error: type[SourceError]) -> None:
        if self.items:
            raise error(list(self.items))


MISSING: Any = object()


class Fields:
    """Reads one mapping key by key; keys never read by the time of `done()` are reported as unknown."""

    def __init__(self, problems: Problems, mapping: LineMap, where: str):
        self.problems, self.mapping, self.where = problems, mapping, where
        self._read: set[Any] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.mapping

    def line(self, key: str | None = None) -> int:
        return self.mapping.line if key is None else self.mapping.value_line(key)

    def get(self, key: str, check: Callable[[Any], Any], default: Any = MISSING) -> Any:
        self._read.add(key)
        if key not in self.mapping:
            if default is MISSING:
                self.error(None, f"missing required key '{key}'")
                return None
            return default
        try:
            return check(self.mapping[key])
        except Invalid as exc:
            self.error(key, f"{key}: {exc}")
            return None

    def error(self, key: str | None, what: str) -> None:
        self.problems.add(self.line(key), self.where, what)

    def done(self, allowed: Iterable[str] = ()) -> None:
        known = sorted(set(allowed) | self._read)
        for key in self.mapping:
            if key not in self._read:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
                self.problems.add(self.mapping.key_lines[key], self.where, f"unknown key '{key}'{hint}")


# ---- value checks: each returns the normalised value or raises Invalid ----

def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()} (quote it if you meant text)"
    if value is None:
        return "nothing"
    if isinstance(value, (LineMap, dict)):
        return "a mapping"
    if isinstance(value, (LineList, list)):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"expected non-empty text, got {describe(value)}")
    return value


def pattern_text(regex: str, meaning: str) -> Callable[[Any], str]:
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            shown = repr(value) if isinstance(value, str) else describe(value)
            raise Invalid(f"{shown} is not {meaning}")
        return value

    return check


def integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected a whole number, got {describe(value)}")
        if not low <= value <= high:
            raise Invalid(f"{value} is out of range {low}..{high}")
        return value

    return check


def seconds(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"expected a number of seconds, got {describe(value)}")
        if not low <= value <= high:
            raise Invalid(f"{value} s is out of range {low:g}..{high:g} s")
        return float(value)

    return check


def version(value: Any) -> int | str:
    """Clinical content is versioned: a whole number or a text such as a date."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.strip():
        return value
    got = describe(value)
    raise Invalid(f"expected a whole number >= 1 or a text such as '2024-06-01', got {got}")


def mapping(value: Any) -> LineMap:
    if not isinstance(value, LineMap):
        raise Invalid(f"expected a mapping, got {describe(value)}")
    return value


def choice(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise Invalid(f"{value!r} is not one of: {', '.join(allowed)}")
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {describe(value)}")
    return value


def sources(example: str) -> Callable[[Any], tuple[str, ...]]:
    """Clinical content names its public sources: one text or a list of them; `example` is shown when none."""
    def check(value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise Invalid(f"name at least one public source, e.g. '{example}'")
        return tuple(text(item) for item in items)

    return check


def texts(languages: tuple[str, ...], declared_in: str) -> Callable[[Any], dict[str, str]]:
    """A text in each of `languages` ({en: ..., es: ...}), no other: stripped. `declared_in` says where the
    languages are listed, for the error about one that is not."""
    def check(value: Any) -> dict[str, str]:
        table = mapping(value)
        absent = [lang for lang in languages if lang not in table]
        extra = [str(lang) for lang in table if lang not in languages]
        if absent or extra:
            raise Invalid(f"missing language variant(s): {', '.join(absent)}" if absent else
                          f"language(s) not declared in {declared_in}: {', '.join(extra)}")
        for lang in languages:
            try:
                text(table[lang])
            except Invalid as exc:
                raise Invalid(f"{lang}: {exc}") from None
        return {lang: table[lang].strip() for lang in languages}

    return check

# ---- a file's top level ----

def top(problems: Problems, raw: Any, expected: str, error: type[SourceError]) -> Fields:
    """The file's top-level mapping; a file that is not one is reported at once (nothing else can be read)."""
    if not isinstance(raw, LineMap):
        problems.add(1, "", f"expected a mapping with {expected}, got {describe(raw)}")
        problems.raise_if_any(error)
    return Fields(problems, raw, "")


def id_line(path: Path, error: type[SourceError]) -> int:
    """The line of a file's top-level `id` (1 when there is none): where a duplicate id is reported."""
    raw = read_yaml(path, str(path), error)
    return raw.value_line("id") if isinstance(raw, LineMap) else 1

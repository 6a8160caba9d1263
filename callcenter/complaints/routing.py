"""Ticket routing as data (routing.yaml): category + department -> handling group, due hours by severity,
the escalation ladder. Read once at start-up, checked with file:line messages like the other YAML files."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..db.models import COMPLAINT_SEVERITIES
from ..yamlsource import Fields, Invalid, LineList, Problems, SourceError, integer, mapping, read_yaml, text
from ..yamlsource import version as version_check

DEFAULT_FILE = Path(__file__).with_name("routing.yaml")
ANY = "*"


class RoutingError(SourceError):
    """routing.yaml has problems; each `file:line: what`."""


@dataclass(frozen=True)
class Rule:
    category: str
    department: str
    group: str

    def matches(self, category: str, department: str) -> bool:
        return self.category in (ANY, category) and self.department in (ANY, department)


@dataclass(frozen=True)
class Level:
    to: str
    title: str
    hours: int


@dataclass(frozen=True)
class Routing:
    version: int | str
    source: str
    categories: tuple[str, ...]
    departments: tuple[str, ...]
    groups: dict[str, str]
    rules: tuple[Rule, ...]
    due_hours: dict[str, int]
    escalation: tuple[Level, ...]

    def group_for(self, category: str, department: str) -> str:
        return next(rule.group for rule in self.rules if rule.matches(category, department))

    def due_at(self, severity: str, received: datetime) -> datetime:
        return received + timedelta(hours=self.due_hours[severity])

    def due_at_after(self, level: Level, escalated: datetime) -> datetime:
        return escalated + timedelta(hours=level.hours)

    def next_level(self, level: int) -> Level | None:
        """The level a ticket at `level` escalates to (0: its group), or None at the top."""
        return self.escalation[level] if level < len(self.escalation) else None

    def holder(self, group: str, level: int) -> str:
        """Who holds a ticket now, for the console: its group, or the escalation level's title."""
        return self.escalation[level - 1].title if level else self.groups.get(group, group)


def load(path: Path = DEFAULT_FILE) -> Routing:
    problems = Problems(path.name)
    fields = Fields(problems, _top(read_yaml(path, path.name, RoutingError), problems), "routing")
    names = fields.get("categories", _names), fields.get("departments", _names)
    groups = fields.get("groups", _groups, {}) or {}
    routing = Routing(fields.get("version", version_check), fields.get("source", text),
                      *(n or () for n in names), groups, _rules(fields, groups, problems), _due(fields),
                      tuple(fields.get("escalation", _levels, ()) or ()))
    fields.done()
    _check_catch_all(routing, fields)
    problems.raise_if_any(RoutingError)
    return routing


def _top(data: Any, problems: Problems) -> Any:
    if not isinstance(data, dict):
        problems.add(1, "", "expected a mapping at the top")
        problems.raise_if_any(RoutingError)
    return data


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of names")
    return tuple(text(v) for v in value)


def _groups(value: Any) -> dict[str, str]:
    return {str(key): text(title) for key, title in mapping(value).items()}


def _rules(fields: Fields, groups: dict[str, str], problems: Problems) -> tuple[Rule, ...]:
    rules = fields.get("rules", _rule_list) or ()
    for rule in rules:
        if rule.group not in groups:
            fields.error("rules", f"rules: group '{rule.group}' is not in groups")
    return rules


def _rule_list(value: Any) -> tuple[Rule, ...]:
    if not isinstance(value, LineList) or not value:
        raise Invalid("expected a list of rules")
    return tuple(Rule(text(r.get("category")), text(r.get("department")), text(r.get("group")))
                 for r in map(mapping, value))


def _due(fields: Fields) -> dict[str, int]:
    due = fields.get("due_hours", mapping) or {}
    missing = set(COMPLAINT_SEVERITIES) - set(due)
    if missing:
        fields.error("due_hours", f"due_hours: missing {', '.join(sorted(missing))}")
    return {severity: integer(1, 24 * 365)(hours) for severity, hours in due.items()}


def _levels(value: Any) -> tuple[Level, ...]:
    if not isinstance(value, LineList):
        raise Invalid("expected a list of levels")
    return tuple(Level(text(m.get("to")), text(m.get("title")), integer(1, 24 * 365)(m.get("hours")))
                 for m in map(mapping, value))


def _check_catch_all(routing: Routing, fields: Fields) -> None:
    if routing.rules and not routing.rules[-1].matches("\0", "\0"):
        fields.error("rules", "rules: the last rule must match every category and department ('*', '*')")

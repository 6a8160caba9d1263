"""Call scripts: what the agent says, step by step, per call type (`scripts/<call type>.j2`).

A script is a Jinja2 template whose `{% block %}`s are the steps, in order; the block name is the step id
(`{% block greet %}`). Each step is rendered on its own with the patient, call and agent fields merged in.

- Autoescaped: a patient's name is data, never markup, in the panel that shows the step.
- A field that is missing (absent, None or empty) shows as a visible marker `[missing: patient.first_name]`
  instead of a blank or an exception: a call never stops on a template. A marker is a fault of the script
  or the configuration (tests/triage/test_script_choice.py renders every script with the fields the server
  gives): a field that may legitimately be absent (the patient before the identity check, a next
  appointment) is written inside `{% if %}` with wording for both cases.
- The fields: `call` (part_of_day, hospital_name, callback_number, id, queue, language), `agent`
  (first_name), `patient` (first_name, last_name of the one candidate before the agent confirmed who is
  calling; then also mrn, date_of_birth, language, phone, next_appointment). triage/services.py gives them.
- Templates are files of this package, reviewed like the protocols, and run in Jinja's sandbox anyway.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, TemplateNotFound, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from .exceptions import UnknownScript

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
# The scripts are the files: a script is added by adding its template (and, for a queue, a line in
# scripts.yaml). Read once; they are reviewed files under version control, not edited at run time.
CALL_TYPES = tuple(sorted(path.stem for path in SCRIPTS_DIR.glob("*.j2")))
MISSING_CLASS = "script-missing"
_MISSING = re.compile(r"\[missing: ([^\]]+)\]")


class Record:
    """Fields that know their dotted name, so a missing one can be named in full. Not a dict: a field
    called `items` or `keys` must be the field, not a dict method."""
    __slots__ = ("_path", "_values")

    def __init__(self, path: str, values: Mapping[str, Any]):
        self._path = path
        self._values = {key: _wrap(f"{path}.{key}", value) for key, value in values.items()
                        if value is not None and value != ""}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: str) -> bool:
        return key in self._values


def _wrap(path: str, value: Any) -> Any:
    return Record(path, value) if isinstance(value, Mapping) else value


class MissingField(Undefined):
    """Prints `[missing: patient.first_name]`; asking it for an attribute names the longer path."""
    __slots__ = ()

    @property
    def field_name(self) -> str:
        owner = getattr(self._undefined_obj, "_path", None)
        return f"{owner}.{self._undefined_name}" if owner else str(self._undefined_name)

    def __str__(self) -> str:
        return f"[missing: {self.field_name}]"

    def __html__(self) -> Markup:
        return Markup('<mark class="{}">{}</mark>').format(MISSING_CLASS, str(self))

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return MissingField(name=f"{self.field_name}.{name}")

    __getitem__ = __getattr__


@dataclass(frozen=True)
class ScriptStep:
    id: str
    html: Markup
    missing: tuple[str, ...]  # the fields shown as missing in this step, for the panel to flag

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "html": str(self.html), "missing": list(self.missing)}


class ScriptGuide:
    def __init__(self, directory: Path = SCRIPTS_DIR):
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(directory)), autoescape=True, undefined=MissingField,
            trim_blocks=True, lstrip_blocks=True)

    def call_types(self) -> tuple[str, ...]:
        return CALL_TYPES

    def steps(self, call_type: str) -> list[str]:
        return list(self._template(call_type).blocks)

    def render(self, call_type: str, *, patient: Mapping[str, Any] | None = None,
               call: Mapping[str, Any] | None = None, agent: Mapping[str, Any] | None = None
               ) -> list[ScriptStep]:
        """Every step of the script with the fields merged in, in order."""
        template = self._template(call_type)
        fields = {name: Record(name, value or {}) for name, value in
                  (("patient", patient), ("call", call), ("agent", agent))}
        context = template.new_context(fields)
        return [_step(name, Markup("".join(block(context)).strip()))
                for name, block in template.blocks.items()]

    def _template(self, call_type: str):
        if call_type not in CALL_TYPES:
            raise UnknownScript(f"no script for call type '{call_type}' (known: {', '.join(CALL_TYPES)})")
        try:
            return self.env.get_template(f"{call_type}.j2")
        except TemplateNotFound:
            raise UnknownScript(f"script file {call_type}.j2 is missing") from None


def _step(name: str, html: Markup) -> ScriptStep:
    return ScriptStep(name, html, tuple(dict.fromkeys(_MISSING.findall(str(html)))))


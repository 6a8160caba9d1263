"""Declarative IVR flows: YAML in, immutable and fully validated `Flow` out.

Schema (every key not listed here is an error, with a "did you mean" hint):

```yaml
name: hotline                  # [a-z0-9_-]+
version: 3                     # whole number or text (e.g. a date); clinical content is versioned
description: "..."
review: "example content, requires clinical review"   # optional, shown to reviewers
languages: [en, es]            # every prompt must exist in prompts.yaml for each of these
default_language: en           # optional, default: the first language
start: language                # the first node
direction: inbound             # optional: inbound (default) or outbound (campaign calls)
opt_out: {key: '9', next: NODE}   # required for outbound flows: that key in ANY menu or questionnaire
                               # goes to NODE (recorded as ivr_choice with label 'opt out')
nodes:
  <node id>:                   # [a-z_][a-z0-9_]*
    type: play | menu | read_digits | branch | set | set_language | enqueue | hangup | goto | action |
          say | questionnaire | followup
```

Node types (prompts are sound names `[a-z0-9/_-]+` such as `callcenter/main-menu` or `digits/5`; every
`prompt`/`prompts`, `invalid_prompt`, `timeout_prompt` takes one name or a list):

- `play`: `prompts`, `next`. Not interruptible: keys pressed meanwhile stay buffered for the next menu.
- `menu`: `prompts`, `options: {KEY: {next, label?, language?, set?: {var: value}}}`, `timeout` (s, default
  5, 1..60), `retries` (attempts in all, default 3, 1..10), `invalid_prompt`, `timeout_prompt` (played before
  the menu prompt on the next attempt; without it the menu prompt alone is replayed), `on_failure` (required:
  where the caller goes after the last failed attempt), `on_timeout` (optional: go there on the first
  silence instead of retrying, e.g. a default language). KEY is one of 0-9 * #; quote '*' and '#'.
- `read_digits`: `prompts`, `variable`, `min_length` (default 1), `max_length`, `terminator` ('#' default,
  '*', or 'none'), `timeout` (first key), `inter_digit_timeout` (default 3), `retries`, `pattern` (regex the
  whole input must match; default digits only), `invalid_prompt`, `timeout_prompt`, `on_failure`, `next`.
- `branch`: `conditions: [{when: {var: NAME, equals|in|matches|exists: VALUE}, next: NODE}, ...]`,
  `else: NODE`. The first condition that holds wins. No expressions: four operators on context values.
- `set`: `set: {var: value, ...}`, `next`.           - `set_language`: `language`, `next`.
- `enqueue`: `queue`, `priority` (0..100, default 0), optional `prompts` played first, optional
  `if_no_agent: NODE` (go there instead when no agent of the queue is available right now, e.g. to create
  an urgent callback). Ends the flow unless `if_no_agent` is taken.
- `action`: `action: NAME` (one of the actions the loader is given in its `Registry`, e.g. the campaign
  actions `appointment.confirm`), optional `args: {name: value}`, `outcomes: {RESULT: NODE}` (every result
  the action declares must be wired) and `next` (any other result). The engine calls
  `port.action(NAME, args, context)`.
- `say`: `say: VARIABLE` from the context, `as: date_time | date | time | number | digits`, `next`. Spoken
  with Asterisk core sounds in the call language (weekday `digits/day-N`, month `digits/mon-N`, `number:N`);
  a missing value is skipped (recorded as `ivr_say_missing`).
- `questionnaire`: `protocol: ID` (a triage protocol the loader is given), `prompts` (the intro: how to
  answer), `on_red_flag`, `next` (no red flag), `on_failure` (a question unanswered after `retries`),
  optional `timeout`, `retries`, `invalid_prompt`. Each question (prompt `callcenter/triage-<protocol>-<id>`,
  rendered from the protocol's text) is a 1 = yes / 2 = no menu; the first yes decides the disposition as
  triage.services.TriageSession does (recorded as `triage_*` events). A red flag is a disposition whose
  ladder rung requires escalation; the disposition is put into the context as `triage.disposition`.
- `followup`: `questionnaire: ID` (a follow-up questionnaire the loader is given, followup/questionnaires/),
  optional `prompts` (an intro), `on_red_flag`, `next` (asked to the end), `on_failure` (it could not be
  asked, or no question was answered), optional `timeout`, `retries`, `invalid_prompt`. Each shown question
  is read (prompt `callcenter/followup-<questionnaire>-<code>`, each choice's `...-<code>-<key>` after its
  key) and answered by keys as its type says (followup/phone.py: yes/no 1/2, a choice by its key, several
  choices then #, a scale or a number then #, a date as DDMMYYYY, a spoken answer recorded, free text not
  asked); an invalid answer is said so and asked again up to `retries`, then left unanswered. Answers are
  stored as they are given (the port's `followup` session, followup.services.QuestionnaireService) in the
  version current when the call asks it. The first answer that raises a red flag ends the questionnaire:
  `followup.escalation` (nurse_transfer or urgent_callback) and `triage.disposition` go into the context
  and the flow goes to `on_red_flag`, to escalate as a triage questionnaire's red flag does.
- `hangup`: optional `prompts`, `reason` (default `ivr_hangup`). Ends the flow.
- `goto`: `next`.

Graph rules: every reference must name a node; every node must be reachable from `start` (an unreachable node
is an error, not a warning: in a reviewed clinical flow it is either dead wording the reviewers read for
nothing or a route someone forgot to wire, and warnings scroll by unseen at deploy time); every node must have
a path to an `enqueue` or `hangup`.
"""
from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from .. import yamlsource as source
from ..yamlsource import MISSING, Fields, Invalid, LineList, LineMap, Problems, SourceError
from .catalog import LANGUAGE, NAMESPACE, PROMPT_NAME, PromptCatalog, followup_prompt
from .ports import QuestionnaireSession

DTMF_KEYS = "0123456789*#"
NODE_ID = r"[a-z_][a-z0-9_]*"
VARIABLE = r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*"
_NAME = r"[a-z0-9_-]+"
MAX_LENGTH = 32

Scalar = str | int | float | bool
Operator = Literal["equals", "in", "matches", "exists"]


class FlowError(SourceError):
    """A flow file is broken. One line per problem: `file:line: node 'x': what is wrong`."""


# ---- the flow model ----

@dataclass(frozen=True, kw_only=True)
class Node:
    kind: ClassVar[str] = "node"
    id: str
    line: int
    terminal: ClassVar[bool] = False

    def successors(self) -> tuple[str, ...]:
        return ()

    def sounds(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class PlayNode(Node):
    kind: ClassVar[str] = "play"
    prompts: tuple[str, ...]
    next: str

    def successors(self) -> tuple[str, ...]:
        return (self.next,)

    def sounds(self) -> tuple[str, ...]:
        return self.prompts


@dataclass(frozen=True, kw_only=True)
class MenuOption:
    key: str
    next: str
    label: str | None = None
    language: str | None = None
    set: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, kw_only=True)
class MenuNode(Node):
    kind: ClassVar[str] = "menu"
    prompts: tuple[str, ...]
    options: Mapping[str, MenuOption]
    on_failure: str
    timeout: float = 5.0
    retries: int = 3
    invalid_prompts: tuple[str, ...] = ()
    timeout_prompts: tuple[str, ...] = ()
    on_timeout: str | None = None

    def successors(self) -> tuple[str, ...]:
        extra = (self.on_failure,) + ((self.on_timeout,) if self.on_timeout else ())
        return tuple(option.next for option in self.options.values()) + extra

    def sounds(self) -> tuple[str, ...]:
        return self.prompts + self.invalid_prompts + self.timeout_prompts


@dataclass(frozen=True, kw_only=True)
class ReadDigitsNode(Node):
    kind: ClassVar[str] = "read_digits"
    prompts: tuple[str, ...]
    variable: str
    max_length: int
    on_failure: str
    next: str
    min_length: int = 1
    terminator: str | None = "#"
    timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    retries: int = 3
    pattern: re.Pattern[str] | None = None
    invalid_prompts: tuple[str, ...] = ()
    timeout_prompts: tuple[str, ...] = ()

    def successors(self) -> tuple[str, ...]:
        return (self.next, self.on_failure)

    def sounds(self) -> tuple[str, ...]:
        return self.prompts + self.invalid_prompts + self.timeout_prompts


@dataclass(frozen=True, kw_only=True)
class Condition:
    var: str
    op: Operator
    value: Any
    next: str


@dataclass(frozen=True, kw_only=True)
class BranchNode(Node):
    kind: ClassVar[str] = "branch"
    conditions: tuple[Condition, ...]
    otherwise: str

    def successors(self) -> tuple[str, ...]:
        return tuple(condition.next for condition in self.conditions) + (self.otherwise,)


@dataclass(frozen=True, kw_only=True)
class SetNode(Node):
    kind: ClassVar[str] = "set"
    values: Mapping[str, Scalar]
    next: str

    def successors(self) -> tuple[str, ...]:
        return (self.next,)


@dataclass(frozen=True, kw_only=True)
class SetLanguageNode(Node):
    kind: ClassVar[str] = "set_language"
    language: str
    next: str

    def successors(self) -> tuple[str, ...]:
        return (self.next,)


@dataclass(frozen=True, kw_only=True)
class EnqueueNode(Node):
    kind: ClassVar[str] = "enqueue"
    queue: str
    priority: int = 0
    prompts: tuple[str, ...] = ()
    if_no_agent: str | None = None
    terminal: ClassVar[bool] = True

    def successors(self) -> tuple[str, ...]:
        return (self.if_no_agent,) if self.if_no_agent else ()

    def sounds(self) -> tuple[str, ...]:
        return self.prompts


@dataclass(frozen=True, kw_only=True)
class ActionNode(Node):
    kind: ClassVar[str] = "action"
    action: str
    args: Mapping[str, Scalar]
    outcomes: Mapping[str, str]
    next: str

    def successors(self) -> tuple[str, ...]:
        return tuple(self.outcomes.values()) + (self.next,)


SAY_AS = ("date_time", "date", "time", "number", "digits")


@dataclass(frozen=True, kw_only=True)
class SayNode(Node):
    kind: ClassVar[str] = "say"
    variable: str
    say_as: str
    next: str

    def successors(self) -> tuple[str, ...]:
        return (self.next,)

    def sounds(self) -> tuple[str, ...]:
        return ("callcenter/at-time",) if self.say_as == "date_time" else ()


@dataclass(frozen=True, kw_only=True)
class QuestionnaireNode(Node):
    kind: ClassVar[str] = "questionnaire"
    protocol: Any  # triage.schema.Protocol
    ladder: Any    # triage.schema.Ladder
    start_session: Callable[..., QuestionnaireSession]  # Registry.questionnaire
    red_flags: frozenset[str]
    prompts: tuple[str, ...]
    on_red_flag: str
    next: str
    on_failure: str
    timeout: float = 6.0
    retries: int = 2
    invalid_prompts: tuple[str, ...] = ()

    def successors(self) -> tuple[str, ...]:
        return (self.on_red_flag, self.next, self.on_failure)

    def question_prompt(self, question_id: str) -> str:
        return question_prompt(self.protocol.id, question_id)

    def sounds(self) -> tuple[str, ...]:
        questions = tuple(self.question_prompt(q.id) for q in self.protocol.questions)
        return self.prompts + questions + self.invalid_prompts


def question_prompt(protocol_id: str, question_id: str) -> str:
    """The sound of a triage question read by phone; its text comes from the protocol (catalog.py)."""
    return f"callcenter/triage-{protocol_id}-{question_id}"  # flat: the sandbox installs callcenter/*.wav


@dataclass(frozen=True, kw_only=True)
class FollowUpNode(Node):
    kind: ClassVar[str] = "followup"
    questionnaire: Any  # followup.schema.Questionnaire as its file says: the prompts its questions need
    prompts: tuple[str, ...]
    on_red_flag: str
    next: str
    on_failure: str
    timeout: float = 6.0
    retries: int = 2
    invalid_prompts: tuple[str, ...] = ()

    def successors(self) -> tuple[str, ...]:
        return (self.on_red_flag, self.next, self.on_failure)

    def sounds(self) -> tuple[str, ...]:
        questionnaire = self.questionnaire
        spoken = []
        for item in questionnaire.items:
            question = item.question
            spoken.append(f"{NAMESPACE}/{followup_prompt(questionnaire.id, question.code)}")
            spoken += [f"{NAMESPACE}/{followup_prompt(questionnaire.id, question.code, c.key)}"
                       for c in question.choices]
        return self.prompts + tuple(spoken) + self.invalid_prompts


def _no_questionnaire(*args: Any) -> QuestionnaireSession:
    raise SourceError(["questionnaires are not available to this flow"])


@dataclass(frozen=True)
class OptOut:
    key: str
    next: str


@dataclass(frozen=True)
class Registry:
    """What a flow may name beyond its own nodes: actions (name -> the results it declares) and triage
    protocols with their ladder (for questionnaires), with `questionnaire`, which starts the session that
    asks a protocol's questions and decides: `(protocol, ladder, language) -> QuestionnaireSession`
    (triage.services.TriageSession.start, given by the campaigns package, so that the IVR package never
    imports triage, which reads its files with the IVR's prompts). The hotline needs none of it."""
    actions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protocols: Mapping[str, Any] = field(default_factory=dict)
    ladder: Any = None
    questionnaire: Callable[..., QuestionnaireSession] | None = None
    # Follow-up questionnaires (followup.schema.Questionnaire by id) that `followup` nodes may ask.
    followups: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HangupNode(Node):
    kind: ClassVar[str] = "hangup"
    prompts: tuple[str, ...] = ()
    reason: str = "ivr_hangup"
    terminal: ClassVar[bool] = True

    def sounds(self) -> tuple[str, ...]:
        return self.prompts


@dataclass(frozen=True, kw_only=True)
class GotoNode(Node):
    kind: ClassVar[str] = "goto"
    next: str

    def successors(self) -> tuple[str, ...]:
        return (self.next,)


@dataclass(frozen=True)
class Flow:
    name: str
    version: int | str
    description: str
    languages: tuple[str, ...]
    default_language: str
    start: str
    nodes: Mapping[str, Node]
    review: str | None = None
    path: str = ""
    direction: str = "inbound"
    opt_out: OptOut | None = None


# ---- loading ----

def load_flow(path: str | Path, *, catalog: PromptCatalog | None = None,
              registry: Registry | None = None) -> Flow:
    """Load and validate a flow; with a catalog, also check that every prompt exists in every language.
    `registry` names the actions and triage protocols the flow may use (none without it).

    Raises FlowError listing every problem as `file:line: ...`.
    """
    shown_as = str(path)
    raw = source.read_yaml(Path(path), shown_as, FlowError)
    flow = _FlowParser(shown_as, registry or Registry()).parse(raw)
    if catalog is not None:
        check_prompts(flow, catalog)
    return flow


def check_prompts(flow: Flow, catalog: PromptCatalog) -> None:
    """Raise FlowError unless every sound the flow plays exists for every language of the flow."""
    problems = Problems(flow.path)
    for node in flow.nodes.values():
        for sound in dict.fromkeys(node.sounds()):
            why = catalog.missing(sound, flow.languages)
            if why:
                problems.add(node.line, f"node '{node.id}'", f"prompt '{sound}' {why}")
    problems.raise_if_any(FlowError)


def _dtmf_key(key: Any) -> str:
    text = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
    if not isinstance(text, str) or len(text) != 1 or text not in DTMF_KEYS:
        raise Invalid(f"option '{key}' is not a phone key (one of 0-9, *, #)")
    return text


def _prompt_list(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise Invalid(f"expected a prompt name or a list of them, got {source.describe(value)}")
    check = source.pattern_text(PROMPT_NAME, "a prompt name such as 'callcenter/main-menu'")
    return tuple(check(item) for item in items)


def _scalar(value: Any) -> Scalar:
    if not isinstance(value, (str, int, float, bool)):
        raise Invalid(f"expected a single value, got {source.describe(value)}")
    return value


def _terminator(value: Any) -> str | None:
    if value is None:
        raise Invalid("is empty: write '#' in quotes (an unquoted # starts a comment), or 'none'")
    if value == "none":
        return None
    if value not in ("#", "*"):
        raise Invalid(f"{value!r} is not '#', '*' or 'none'")
    return value


def _regex(value: Any) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise Invalid(f"expected a regular expression, got {source.describe(value)}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise Invalid(f"{value!r} is not a valid regular expression: {exc}") from None




_timeout = source.seconds(1, 60)
_inter_digit_timeout = source.seconds(1, 30)
_retries = source.integer(1, 10)
_variable = source.pattern_text(VARIABLE, "a variable name such as 'caller.status'")


class _FlowParser:
    def __init__(self, shown_as: str, registry: Registry):
        self.shown_as = shown_as
        self.registry = registry
        self.opt_out_key: str | None = None
        self.problems = Problems(shown_as)
        self.node_ids: set[str] = set()
        self.languages: tuple[str, ...] = ()

    def parse(self, raw: Any) -> Flow:
        if not isinstance(raw, LineMap):
            self.problems.add(1, "", f"expected a flow (a mapping with 'nodes'), got {source.describe(raw)}")
            self.problems.raise_if_any(FlowError)
        if isinstance(raw.get("nodes"), LineMap):
            self.node_ids = {key for key in raw["nodes"] if isinstance(key, str)}
        flow = self._top(Fields(self.problems, raw, ""))
        self.problems.raise_if_any(FlowError)
        _check_graph(flow, self.problems, raw.value_line("start"))
        self.problems.raise_if_any(FlowError)
        return flow

    def _top(self, top: Fields) -> Flow:
        name = top.get("name", source.pattern_text(_NAME, "a flow name ([a-z0-9_-]+)"))
        version = top.get("version", source.version)
        description = top.get("description", source.text)
        review = top.get("review", source.text, default=None)
        self.languages = top.get("languages", self._languages) or ()
        first = self.languages[0] if self.languages else None
        default_language = top.get("default_language", self._language, default=first)
        start = top.get("start", self._ref)
        direction = top.get("direction", source.pattern_text("inbound|outbound", "inbound or outbound"),
                            "inbound")
        opt_out = top.get("opt_out", lambda v: self._opt_out(top, v), None)
        if direction == "outbound" and opt_out is None and "opt_out" not in top:
            top.error(None, "an outbound flow needs opt_out: {key: '9', next: NODE} (a key that opts the"
                      " patient out of these calls, in every menu)")
        self.opt_out_key = opt_out.key if opt_out else None
        nodes = top.get("nodes", self._nodes)
        top.done()
        return Flow(name, version, description, self.languages, default_language, start,
                    MappingProxyType(nodes or {}), review, self.shown_as, direction, opt_out)

    def _opt_out(self, top: Fields, value: Any) -> OptOut | None:
        f = Fields(self.problems, source.mapping(value), "opt_out")
        key = f.get("key", _dtmf_key)
        next_node = f.get("next", self._ref)
        f.done()
        return OptOut(key, next_node) if key and next_node else None

    # -- value checks that need the flow's languages or node names --

    def _languages(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise Invalid(f"expected a list of language codes such as [en, es], got {source.describe(value)}")
        check = source.pattern_text(LANGUAGE, "a language code such as 'en' or 'es'")
        codes = tuple(check(item) for item in value)
        if len(set(codes)) != len(codes):
            raise Invalid("a language is listed twice")
        return codes

    def _language(self, value: Any) -> str:
        if value not in self.languages:
            shown = repr(value) if isinstance(value, str) else source.describe(value)
            raise Invalid(f"language {shown} is not declared in 'languages' ({', '.join(self.languages)})")
        return value

    def _ref(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"expected a node name, got {source.describe(value)}")
        if value not in self.node_ids:
            close = difflib.get_close_matches(value, sorted(self.node_ids), n=1)
            raise Invalid(f"unknown node '{value}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return value

    # -- nodes --

    def _nodes(self, value: Any) -> dict[str, Node]:
        nodes_map = source.mapping(value)
        if not nodes_map:
            raise Invalid("a flow needs at least one node")
        nodes = {}
        for node_id, body in nodes_map.items():
            line = nodes_map.key_lines[node_id]
            if not isinstance(node_id, str) or not re.fullmatch(NODE_ID, node_id):
                self.problems.add(line, "", f"node name {node_id!r} is not of the form {NODE_ID}")
                continue
            if not isinstance(body, LineMap):
                what = f"expected a mapping, got {source.describe(body)}"
                self.problems.add(line, f"node '{node_id}'", what)
                continue
            nodes[node_id] = self._node(Fields(self.problems, body, f"node '{node_id}'"), node_id, line)
        return nodes

    def _node(self, fields: Fields, node_id: str, line: int) -> Node:
        kinds = ", ".join(_NODE_PARSERS)
        node_type = fields.get("type", source.pattern_text("|".join(_NODE_PARSERS), f"a node type ({kinds})"))
        if node_type is None:
            return None  # the other keys cannot be judged without a type
        node = _NODE_PARSERS[node_type](self, fields, id=node_id, line=line)
        fields.done()
        return node

    def _prompts(self, fields: Fields, required: bool = True) -> tuple[str, ...]:
        if "prompt" in fields and "prompts" in fields:
            fields.error("prompts", "give either 'prompt' or 'prompts', not both")
            fields.get("prompts", _prompt_list)
        key = "prompt" if "prompt" in fields else "prompts"
        return fields.get(key, _prompt_list, default=MISSING if required else ())

    def _play(self, f: Fields, **common: Any) -> PlayNode:
        return PlayNode(**common, prompts=self._prompts(f), next=f.get("next", self._ref))

    def _menu(self, f: Fields, **common: Any) -> MenuNode:
        node = MenuNode(
            **common, prompts=self._prompts(f), options=f.get("options", lambda v: self._options(f, v)),
            timeout=f.get("timeout", _timeout, 5.0), retries=f.get("retries", _retries, 3),
            invalid_prompts=f.get("invalid_prompt", _prompt_list, ()),
            timeout_prompts=f.get("timeout_prompt", _prompt_list, ()),
            on_failure=f.get("on_failure", self._ref), on_timeout=f.get("on_timeout", self._ref, None),
        )
        if node.on_failure == node.id:
            f.error("on_failure", "on_failure must leave the menu, not come back to it")
        if node.options and self.opt_out_key in node.options:
            f.error("options", f"key '{self.opt_out_key}' is the flow's opt-out key: use another key here")
        return node

    def _options(self, node: Fields, value: Any) -> Mapping[str, MenuOption]:
        options_map = source.mapping(value)
        if not options_map:
            raise Invalid("a menu needs at least one option")
        options = {}
        for raw_key, body in options_map.items():
            try:
                key = _dtmf_key(raw_key)
            except Invalid as exc:
                self.problems.add(options_map.key_lines[raw_key], node.where, str(exc))
                continue
            where = f"{node.where}: option '{key}'"
            if not isinstance(body, LineMap):
                what = f"expected a mapping such as {{next: NODE}}, got {source.describe(body)}"
                self.problems.add(options_map.value_line(raw_key), where, what)
                continue
            options[key] = self._option(Fields(self.problems, body, where), key)
        return MappingProxyType(options)

    def _option(self, f: Fields, key: str) -> MenuOption:
        option = MenuOption(
            key=key, next=f.get("next", self._ref), label=f.get("label", source.text, None),
            language=f.get("language", self._language, None),
            set=f.get("set", self._values, MappingProxyType({})),
        )
        f.done()
        return option

    def _values(self, value: Any) -> Mapping[str, Scalar]:
        values_map = source.mapping(value)
        values = {}
        for name, item in values_map.items():
            try:
                values[_variable(name)] = _scalar(item)
            except Invalid as exc:
                raise Invalid(f"{name!r}: {exc}") from None
        return MappingProxyType(values)

    def _read_digits(self, f: Fields, **common: Any) -> ReadDigitsNode:
        node = ReadDigitsNode(
            **common, prompts=self._prompts(f), variable=f.get("variable", _variable),
            min_length=f.get("min_length", source.integer(0, MAX_LENGTH), 1),
            max_length=f.get("max_length", source.integer(1, MAX_LENGTH)),
            terminator=f.get("terminator", _terminator, "#"), timeout=f.get("timeout", _timeout, 5.0),
            inter_digit_timeout=f.get("inter_digit_timeout", _inter_digit_timeout, 3.0),
            retries=f.get("retries", _retries, 3), pattern=f.get("pattern", _regex, None),
            invalid_prompts=f.get("invalid_prompt", _prompt_list, ()),
            timeout_prompts=f.get("timeout_prompt", _prompt_list, ()),
            on_failure=f.get("on_failure", self._ref), next=f.get("next", self._ref),
        )
        low, high = node.min_length, node.max_length
        if low is not None and high is not None and low > high:
            f.error("min_length", f"min_length {low} is more than max_length {high}")
        return node

    def _branch(self, f: Fields, **common: Any) -> BranchNode:
        conditions = f.get("conditions", lambda v: self._conditions(f, v))
        return BranchNode(**common, conditions=conditions, otherwise=f.get("else", self._ref))

    def _conditions(self, node: Fields, value: Any) -> tuple[Condition, ...]:
        if not isinstance(value, LineList) or not value:
            raise Invalid(f"expected a list of {{when: ..., next: ...}}, got {source.describe(value)}")
        conditions = []
        for index, item in enumerate(value):
            where = f"{node.where}: condition {index + 1}"
            if not isinstance(item, LineMap):
                what = f"expected a mapping, got {source.describe(item)}"
                self.problems.add(value.item_line(index), where, what)
                continue
            conditions.append(self._condition(Fields(self.problems, item, where)))
        return tuple(conditions)

    def _condition(self, f: Fields) -> Condition:
        when = f.get("when", lambda v: self._when(f, v))
        next_node = f.get("next", self._ref)
        f.done()
        return Condition(**when, next=next_node) if when else None

    def _when(self, owner: Fields, value: Any) -> dict[str, Any]:
        f = Fields(self.problems, source.mapping(value), f"{owner.where}: when")
        operators = [op for op in _OPERATORS if op in f]
        var = f.get("var", _variable)
        if len(operators) != 1:
            f.error(None, f"needs exactly one of {', '.join(_OPERATORS)}; found {len(operators)}")
        parsed = {op: f.get(op, _OPERATORS[op]) for op in operators}
        f.done()
        if len(operators) != 1 or var is None or parsed[operators[0]] is None:
            return {}
        return {"var": var, "op": operators[0], "value": parsed[operators[0]]}

    def _set(self, f: Fields, **common: Any) -> SetNode:
        return SetNode(**common, values=f.get("set", self._values), next=f.get("next", self._ref))

    def _set_language(self, f: Fields, **common: Any) -> SetLanguageNode:
        language = f.get("language", self._language)
        return SetLanguageNode(**common, language=language, next=f.get("next", self._ref))

    def _enqueue(self, f: Fields, **common: Any) -> EnqueueNode:
        return EnqueueNode(
            **common, queue=f.get("queue", source.pattern_text(_NAME, "a queue name ([a-z0-9_-]+)")),
            priority=f.get("priority", source.integer(0, 100), 0), prompts=self._prompts(f, required=False),
            if_no_agent=f.get("if_no_agent", self._ref, None),
        )

    def _action(self, f: Fields, **common: Any) -> ActionNode:
        name = f.get("action", self._action_name)
        outcomes = f.get("outcomes", self._outcomes, MappingProxyType({}))
        node = ActionNode(**common, action=name, args=f.get("args", self._values, MappingProxyType({})),
                          outcomes=outcomes, next=f.get("next", self._ref))
        declared = self.registry.actions.get(name, ()) if name else ()
        unwired = [result for result in declared if result not in (outcomes or {})]
        if unwired:
            f.error("outcomes" if "outcomes" in f else None,
                    f"action '{name}' can result in {', '.join(unwired)}: wire each in 'outcomes'")
        unknown = [result for result in (outcomes or {}) if name and result not in declared]
        if unknown:
            f.error("outcomes", f"action '{name}' never results in {', '.join(unknown)}"
                    f" (its results: {', '.join(declared) or 'none'})")
        return node

    def _action_name(self, value: Any) -> str:
        known = sorted(self.registry.actions)
        if not isinstance(value, str) or value not in self.registry.actions:
            close = difflib.get_close_matches(str(value), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise Invalid(f"unknown action {value!r}{hint}; known: {', '.join(known) or 'none'}")
        return value

    def _outcomes(self, value: Any) -> Mapping[str, str]:
        outcomes_map = source.mapping(value)
        check = source.pattern_text(_NAME, "a result name ([a-z0-9_-]+)")
        outcomes = {}
        for result, target in outcomes_map.items():
            try:
                outcomes[check(result)] = self._ref(target)
            except Invalid as exc:
                self.problems.add(outcomes_map.value_line(result), "outcomes", f"{result!r}: {exc}")
        return MappingProxyType(outcomes)

    def _say(self, f: Fields, **common: Any) -> SayNode:
        say_as = f.get("as", source.pattern_text("|".join(SAY_AS), f"one of {', '.join(SAY_AS)}"))
        variable = f.get("say", _variable)
        return SayNode(**common, variable=variable, say_as=say_as, next=f.get("next", self._ref))

    def _questionnaire(self, f: Fields, **common: Any) -> QuestionnaireNode:
        protocol = f.get("protocol", self._protocol)
        ladder = self.registry.ladder
        # A red flag is a disposition the ladder will not let a call end without escalating.
        rungs = ladder.dispositions.values() if ladder else ()
        red_flags = frozenset(rung.id for rung in rungs if rung.escalation_required)
        node = QuestionnaireNode(
            **common, protocol=protocol, ladder=ladder, start_session=self._session_starter(f),
            red_flags=red_flags,
            prompts=self._prompts(f), on_red_flag=f.get("on_red_flag", self._ref),
            next=f.get("next", self._ref), on_failure=f.get("on_failure", self._ref),
            timeout=f.get("timeout", _timeout, 6.0), retries=f.get("retries", _retries, 2),
            invalid_prompts=f.get("invalid_prompt", _prompt_list, ()),
        )
        return node

    def _session_starter(self, f: Fields) -> Callable[..., QuestionnaireSession]:
        if self.registry.questionnaire is None:
            f.error("protocol", "questionnaires are not available to this flow (its loader gives none)")
            return _no_questionnaire
        return self.registry.questionnaire

    def _protocol(self, value: Any) -> Any:
        protocols = self.registry.protocols
        if not isinstance(value, str) or value not in protocols:
            close = difflib.get_close_matches(str(value), sorted(protocols), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(protocols)) or "none"
            raise Invalid(f"unknown triage protocol {value!r}{hint}; known: {known}")
        protocol = protocols[value]
        missing = [lang for lang in self.languages if lang not in protocol.languages]
        if missing:
            raise Invalid(f"protocol '{value}' has no text in {', '.join(missing)}")
        if self.registry.ladder is None:
            raise Invalid("the loader was given protocols without their disposition ladder")
        return protocol

    def _followup(self, f: Fields, **common: Any) -> FollowUpNode:
        return FollowUpNode(
            **common, questionnaire=f.get("questionnaire", self._followup_questionnaire),
            prompts=self._prompts(f, required=False), on_red_flag=f.get("on_red_flag", self._ref),
            next=f.get("next", self._ref), on_failure=f.get("on_failure", self._ref),
            timeout=f.get("timeout", _timeout, 6.0), retries=f.get("retries", _retries, 2),
            invalid_prompts=f.get("invalid_prompt", _prompt_list, ()),
        )

    def _followup_questionnaire(self, value: Any) -> Any:
        known = self.registry.followups
        if not isinstance(value, str) or value not in known:
            close = difflib.get_close_matches(str(value), sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise Invalid(f"unknown follow-up questionnaire {value!r}{hint}; known: "
                          f"{', '.join(sorted(known)) or 'none'}")
        questionnaire = known[value]
        missing = [lang for lang in self.languages
                   if any(lang not in item.question.text for item in questionnaire.items)]
        if missing:
            raise Invalid(f"questionnaire '{value}' has no text in {', '.join(missing)}")
        return questionnaire

    def _hangup(self, f: Fields, **common: Any) -> HangupNode:
        reason = f.get("reason", source.pattern_text(_NAME, "a reason ([a-z0-9_-]+)"), "ivr_hangup")
        return HangupNode(**common, prompts=self._prompts(f, required=False), reason=reason)

    def _goto(self, f: Fields, **common: Any) -> GotoNode:
        return GotoNode(**common, next=f.get("next", self._ref))


def _in_list(value: Any) -> tuple[Scalar, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"expected a list of values, got {source.describe(value)}")
    return tuple(_scalar(item) for item in value)


def _exists(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {source.describe(value)}")
    return value


_OPERATORS: dict[str, Callable[[Any], Any]] = {
    "equals": _scalar, "in": _in_list, "matches": _regex, "exists": _exists,
}

_NODE_PARSERS: dict[str, Callable[..., Node]] = {
    "play": _FlowParser._play, "menu": _FlowParser._menu, "read_digits": _FlowParser._read_digits,
    "branch": _FlowParser._branch, "set": _FlowParser._set, "set_language": _FlowParser._set_language,
    "enqueue": _FlowParser._enqueue, "hangup": _FlowParser._hangup, "goto": _FlowParser._goto,
    "action": _FlowParser._action, "say": _FlowParser._say, "questionnaire": _FlowParser._questionnaire,
    "followup": _FlowParser._followup,
}


# ---- graph checks, on a flow whose every reference is known to exist ----

def _check_graph(flow: Flow, problems: Problems, start_line: int) -> None:
    roots = [flow.start] + ([flow.opt_out.next] if flow.opt_out else [])
    reachable = _walk(roots, lambda node_id: flow.nodes[node_id].successors())
    for node in flow.nodes.values():
        if node.id not in reachable:
            problems.add(node.line, f"node '{node.id}'", f"is never reached from start '{flow.start}'"
                         " (route to it or delete it)")
    terminals = [node.id for node in flow.nodes.values() if node.terminal]
    if not terminals:
        problems.add(start_line, "", "the flow has no enqueue or hangup node: no call could ever end")
        return
    predecessors: dict[str, list[str]] = {node_id: [] for node_id in flow.nodes}
    for node in flow.nodes.values():
        for successor in node.successors():
            predecessors[successor].append(node.id)
    can_end = _walk(terminals, lambda node_id: predecessors[node_id])
    for node in flow.nodes.values():
        if node.id in reachable and node.id not in can_end:
            problems.add(node.line, f"node '{node.id}'", "has no path to an end (enqueue or hangup):"
                         " callers would go round in a loop")


def _walk(roots: list[str], neighbours: Callable[[str], Any]) -> set[str]:
    seen, todo = set(roots), deque(roots)
    while todo:
        for neighbour in neighbours(todo.popleft()):
            if neighbour not in seen:
                seen.add(neighbour)
                todo.append(neighbour)
    return seen

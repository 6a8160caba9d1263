"""Runs a validated `Flow` against an `IvrPort` and returns where the call goes next.

One small function per node type; each returns the id of the next node or an `Outcome`. The engine keeps no
state of its own besides the context it is given, so one flow object serves every call at once.

The engine never swallows `asyncio.CancelledError`: a caller hanging up cancels the task running the flow, and
that must reach the call's task unchanged (a spoken answer cut by a hang-up is stored first, then it goes on).
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from .flow import (
    ActionNode,
    BranchNode,
    Condition,
    EnqueueNode,
    Flow,
    FollowUpNode,
    GotoNode,
    HangupNode,
    MenuNode,
    MenuOption,
    Node,
    PlayNode,
    QuestionnaireNode,
    ReadDigitsNode,
    SayNode,
    SetLanguageNode,
    SetNode,
)
from .ports import NOT_BY_PHONE, ONE_KEY, SPOKEN, FollowUpSession, IvrPort, PhoneAnswer, PhoneQuestion
from .say import say_media

MAX_STEPS = 200
_DIGITS = re.compile(r"[0-9]*")
_MISSING = object()


@dataclass(frozen=True)
class Enqueue:
    queue: str
    priority: int = 0


@dataclass(frozen=True)
class Hangup:
    reason: str


Outcome = Enqueue | Hangup
Context = MutableMapping[str, Any]
Step = str | Outcome


async def run_flow(flow: Flow, port: IvrPort, context: Context, *, max_steps: int = MAX_STEPS,
                   presets: Mapping[str, str] | None = None) -> Outcome:
    """Run `flow` for one call. `context` holds what is known about the caller (`caller.known`,
    `patient.language`, ...) for branches, and receives the variables set by `set`, menu options and
    `read_digits`. `presets` are menu choices made before the call reached the flow (presets.py): menu id
    -> key, each taken once instead of asking. After `max_steps` node visits the call is hung up with reason
    'loop'.
    """
    if port.language not in flow.languages:
        port.set_language(flow.default_language)
    node_id, run = flow.start, _Run(context, flow, dict(presets or {}))
    for _ in range(max_steps):
        node = flow.nodes[node_id]
        port.record("ivr_node", node=node.id, type=node.kind)
        step = await _RUNNERS[type(node)](node, port, run)
        if not isinstance(step, str):
            return step
        node_id = step
    port.record("ivr_failure", node=node_id, reason="loop")
    return Hangup("loop")


@dataclass
class _Run:
    """What a node runner sees: the call's context and the flow-level rules (opt-out) it must apply."""
    context: Context
    flow: Flow
    presets: dict[str, str] = field(default_factory=dict)  # menu id -> key, taken once each

    def opted_out(self, node: Node, key: str | None, port: IvrPort) -> str | None:
        """The opt-out node when `key` is the flow's opt-out key: it works in every menu of the flow."""
        opt_out = self.flow.opt_out
        if opt_out is None or key != opt_out.key:
            return None
        port.record("ivr_choice", node=node.id, key=key, label="opt out")
        return opt_out.next


# ---- node runners ----

async def _play(node: PlayNode, port: IvrPort, run: _Run) -> Step:
    await port.play(list(node.prompts), interruptible=False)
    return node.next


async def _menu(node: MenuNode, port: IvrPort, run: _Run) -> Step:
    # Popped: a caller who comes back to this menu (a "back" option) is asked like anyone else.
    preset = run.presets.pop(node.id, None)
    if preset in node.options:
        return _choose(node, node.options[preset], port, run.context, preset=True)
    prompts = node.prompts
    for attempt in range(1, node.retries + 1):
        key = await _ask(port, prompts, node.timeout)
        if key is None:
            port.record("ivr_timeout", node=node.id, attempt=attempt)
            if node.on_timeout:
                return node.on_timeout
            prompts = node.timeout_prompts + node.prompts
        elif key in node.options:
            return _choose(node, node.options[key], port, run.context)
        elif (opt_out := run.opted_out(node, key, port)) is not None:
            return opt_out
        else:
            port.record("ivr_invalid", node=node.id, key=key, attempt=attempt)
            prompts = node.invalid_prompts + node.prompts
    port.record("ivr_failure", node=node.id, reason="retries")
    return node.on_failure


def _choose(node: MenuNode, option: MenuOption, port: IvrPort, context: Context, *,
            preset: bool = False) -> str:
    marked = {"preset": True} if preset else {}  # chosen before the call reached the flow (presets.py)
    port.record("ivr_choice", node=node.id, key=option.key, label=option.label, **marked)
    if option.language:
        port.set_language(option.language)
    context.update(option.set)
    return option.next


async def _read_digits(node: ReadDigitsNode, port: IvrPort, run: _Run) -> Step:
    prompts = node.prompts
    for attempt in range(1, node.retries + 1):
        first = await _ask(port, prompts, node.timeout)
        if first is None:
            port.record("ivr_timeout", node=node.id, attempt=attempt)
            prompts = node.timeout_prompts + node.prompts
            continue
        digits = await _collect(node, port, first)
        if _valid(node, digits):
            run.context[node.variable] = digits
            return node.next
        # The length only: what a caller types here may be a date of birth or a record number.
        port.record("ivr_invalid", node=node.id, length=len(digits), attempt=attempt)
        prompts = node.invalid_prompts + node.prompts
    port.record("ivr_failure", node=node.id, reason="retries")
    return node.on_failure


async def _collect(node: ReadDigitsNode, port: IvrPort, first: str) -> str:
    digits, key = "", first
    while key is not None and key != node.terminator:
        digits += key
        if len(digits) >= node.max_length:
            break
        key = await port.get_key(node.inter_digit_timeout)
    return digits


def _valid(node: ReadDigitsNode, digits: str) -> bool:
    if not node.min_length <= len(digits) <= node.max_length:
        return False
    return bool((node.pattern or _DIGITS).fullmatch(digits))


async def _branch(node: BranchNode, port: IvrPort, run: _Run) -> Step:
    for condition in node.conditions:
        if _holds(condition, run.context):
            return condition.next
    return node.otherwise


async def _set(node: SetNode, port: IvrPort, run: _Run) -> Step:
    run.context.update(node.values)
    return node.next


async def _set_language(node: SetLanguageNode, port: IvrPort, run: _Run) -> Step:
    port.set_language(node.language)
    return node.next


async def _enqueue(node: EnqueueNode, port: IvrPort, run: _Run) -> Step:
    if node.if_no_agent and not port.agent_available(node.queue):
        port.record("ivr_no_agent", node=node.id, queue=node.queue)
        return node.if_no_agent
    if node.prompts:
        await port.play(list(node.prompts), interruptible=False)
    return Enqueue(node.queue, node.priority)


async def _action(node: ActionNode, port: IvrPort, run: _Run) -> Step:
    result = await port.action(node.action, dict(node.args), run.context)
    port.record("ivr_action", node=node.id, action=node.action, result=result)
    return node.outcomes.get(result, node.next)


async def _say(node: SayNode, port: IvrPort, run: _Run) -> Step:
    value = lookup(run.context, node.variable)
    media = [] if value is _MISSING else say_media(value, node.say_as, port.language)
    if not media:
        port.record("ivr_say_missing", node=node.id, variable=node.variable)
        return node.next
    await port.play(media, interruptible=False)
    return node.next


async def _questionnaire(node: QuestionnaireNode, port: IvrPort, run: _Run) -> Step:
    """The protocol's questions by phone, 1 yes / 2 no; the triage session decides, as with an agent (the
    flow's registry gave the node its session starter: the IVR package does not depend on triage)."""
    session = node.start_session(node.protocol, node.ladder, port.language)
    _record_facts(port, session.facts)
    intro = node.prompts
    while (question := session.current) is not None:
        answer = await _yes_no(node, port, run, intro + (node.question_prompt(question.id),))
        if answer not in ("1", "2"):
            return answer if answer is not None else node.on_failure
        intro = ()
        _record_facts(port, session.answer(question.id, answer == "1"))
    disposition = session.decision.disposition
    run.context["triage.disposition"] = disposition
    return node.on_red_flag if disposition in node.red_flags else node.next


async def _yes_no(node: QuestionnaireNode, port: IvrPort, run: _Run, prompts: tuple[str, ...]
                  ) -> str | None:
    """'1' or '2'; the opt-out node's id if the caller pressed the opt-out key; None after the retries."""
    for attempt in range(1, node.retries + 1):
        key = await _ask(port, prompts, node.timeout)
        if key in ("1", "2"):
            return key
        if (opt_out := run.opted_out(node, key, port)) is not None:
            return opt_out
        port.record("ivr_timeout" if key is None else "ivr_invalid", node=node.id, attempt=attempt,
                    **({} if key is None else {"key": key}))
        prompts = (node.invalid_prompts if key is not None else ()) + prompts[-1:]
    port.record("ivr_failure", node=node.id, reason="retries")
    return None


def _record_facts(port: IvrPort, facts: list[Any]) -> None:
    for fact in facts:
        port.record(fact.type, **fact.data)


async def _followup(node: FollowUpNode, port: IvrPort, run: _Run) -> Step:
    """A follow-up questionnaire by phone: each shown question asked as its type says (the session renders
    and checks it, and stores each answer as it is given, so a hang-up keeps what was said); the first red
    flag escalates at once, as a triage questionnaire's does."""
    session = await port.followup(node.questionnaire.id)
    if session is None:
        port.record("ivr_failure", node=node.id, reason="followup_unavailable")
        return node.on_failure
    port.record("followup_started", node=node.id, questionnaire=session.questionnaire,
                version=session.version, response_id=session.response_id)
    intro = node.prompts
    while (question := session.current) is not None:
        step = await _followup_question(node, port, run, session, question, intro)
        intro = ()
        if step is not None:
            return step
    port.record("followup_finished", node=node.id, response_id=session.response_id, answered=session.answered)
    return node.next if session.answered else node.on_failure


async def _followup_question(node: FollowUpNode, port: IvrPort, run: _Run, session: FollowUpSession,
                             question: PhoneQuestion, intro: tuple[str, ...]) -> str | None:
    """Ask one question up to `retries` times; the node to go to (opt-out, red flag), or None to go on."""
    if question.entry == NOT_BY_PHONE:
        return await _unanswered(port, node, session, question, "not_by_phone")
    prompts = intro + question.prompts
    for attempt in range(1, node.retries + 1):
        entry = await _entry(port, node, session, question, prompts, node.timeout)
        if entry is None:
            port.record("ivr_timeout", node=node.id, question=question.code, attempt=attempt)
            prompts = question.prompts
            continue
        if question.entry != SPOKEN and (opt_out := run.opted_out(node, entry, port)) is not None:
            return opt_out
        answer = await session.answer(entry)
        if answer.accepted:
            return _answered(node, port, run, session, question, answer)
        # The question only, never the keys: they may be a date, a weight, a temperature.
        port.record("ivr_invalid", node=node.id, question=question.code, attempt=attempt)
        prompts = (answer.invalid_prompts or node.invalid_prompts) + question.prompts
    port.record("ivr_failure", node=node.id, question=question.code, reason="retries")
    return await _unanswered(port, node, session, question, "no_valid_answer")


def _answered(node: FollowUpNode, port: IvrPort, run: _Run, session: FollowUpSession,
              question: PhoneQuestion, answer: PhoneAnswer) -> str | None:
    port.record("followup_answered", node=node.id, response_id=session.response_id, question=question.code)
    if answer.escalation is None:
        return None
    port.record("followup_red_flag", node=node.id, response_id=session.response_id, question=question.code,
                disposition=answer.disposition, escalation=answer.escalation)
    port.record("triage_disposition", **answer.fact)
    # The words triage's flow nodes and campaign actions read (callback reason, outcome's disposition).
    run.context.update({"followup.escalation": answer.escalation, "triage.disposition": answer.disposition})
    return node.on_red_flag


async def _unanswered(port: IvrPort, node: FollowUpNode, session: FollowUpSession, question: PhoneQuestion,
                      reason: str) -> None:
    port.record("followup_unanswered", node=node.id, response_id=session.response_id, question=question.code,
                reason=reason)
    await session.unanswered(reason)
    return None


async def _entry(port: IvrPort, node: FollowUpNode, session: FollowUpSession, question: PhoneQuestion,
                 prompts: tuple[str, ...], timeout: float) -> str | None:
    """What the caller entered: one key, keys up to '#', or the name of their recorded answer; a first key
    the question does not take comes back alone (the opt-out key, or an invalid answer); None: nothing."""
    if question.entry == SPOKEN:
        await port.play(list(prompts), interruptible=False)
        return await _spoken(port, node, session, question)
    first = await _ask(port, prompts, timeout)
    if first is None or question.entry == ONE_KEY or first not in question.keys:
        return first
    return await _keys(port, question, first, timeout)


async def _spoken(port: IvrPort, node: FollowUpNode, session: FollowUpSession, question: PhoneQuestion
                  ) -> str | None:
    """The recording's name once the caller has spoken. A caller who hangs up while speaking has still given
    the answer (hanging up is how many end it): the recording is brought home regardless, so the answer is
    stored before the cancellation goes on to the call's task, shielded so a second one cannot cut it."""
    try:
        recorded = await port.record_spoken(question.recording, question.max_seconds)
    except asyncio.CancelledError:
        await asyncio.shield(_keep_spoken(port, node, session, question))
        raise
    return question.recording if recorded else None


async def _keep_spoken(port: IvrPort, node: FollowUpNode, session: FollowUpSession,
                       question: PhoneQuestion) -> None:
    try:
        answer = await session.answer(question.recording)
    except Exception:  # noqa: BLE001 - the hang-up must still reach the call's task; the event says why
        port.record("ivr_failure", node=node.id, question=question.code, reason="spoken_answer_not_stored")
        return
    if answer.accepted:
        port.record("followup_answered", node=node.id, response_id=session.response_id,
                    question=question.code, hung_up=True)


async def _keys(port: IvrPort, question: PhoneQuestion, first: str, timeout: float) -> str:
    """Keys until '#', `length` of them, or a pause as long as the question's timeout (what was typed
    stands: the session says whether it is a valid answer)."""
    keys, key = "", first
    while key is not None and key != "#":
        keys += key
        if question.length and len(keys) >= question.length:
            break
        key = await port.get_key(timeout)
    return keys


async def _hangup(node: HangupNode, port: IvrPort, run: _Run) -> Step:
    if node.prompts:
        await port.play(list(node.prompts), interruptible=False)
    return Hangup(node.reason)


async def _goto(node: GotoNode, port: IvrPort, run: _Run) -> Step:
    return node.next


async def _ask(port: IvrPort, prompts: tuple[str, ...], timeout: float) -> str | None:
    """A key typed ahead, else one pressed during the prompt, else one pressed before `timeout`."""
    key = await port.get_key(0)
    if key is None:
        key = await port.play(list(prompts), interruptible=True)
    if key is None:
        key = await port.get_key(timeout)
    return key


# ---- the branch matcher: four operators, no expressions ----

def lookup(context: Mapping[str, Any], name: str) -> Any:
    """`context['caller.known']`, or else `context['caller']['known']`; `_MISSING` when neither exists."""
    if name in context:
        return context[name]
    value: Any = context
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _holds(condition: Condition, context: Mapping[str, Any]) -> bool:
    value = lookup(context, condition.var)
    if condition.op == "exists":
        return (value is not _MISSING and value is not None) == condition.value
    if value is _MISSING or value is None:
        return False
    if condition.op == "equals":
        return _equal(value, condition.value)
    if condition.op == "in":
        return any(_equal(value, candidate) for candidate in condition.value)
    return isinstance(value, (str, int)) and condition.value.fullmatch(str(value)) is not None


def _equal(actual: Any, expected: Any) -> bool:
    """YAML `equals: 1` matches the digits '1' a caller typed; booleans match only booleans."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if type(actual) is not type(expected):
        return str(actual) == str(expected)
    return actual == expected


_RUNNERS: dict[type[Node], Callable[[Any, IvrPort, Any], Awaitable[Step]]] = {
    PlayNode: _play, MenuNode: _menu, ReadDigitsNode: _read_digits, BranchNode: _branch, SetNode: _set,
    SetLanguageNode: _set_language, EnqueueNode: _enqueue, HangupNode: _hangup, GotoNode: _goto,
    ActionNode: _action, SayNode: _say, QuestionnaireNode: _questionnaire, FollowUpNode: _followup,
}

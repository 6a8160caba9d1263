"""What the IVR engine needs from a call, and a key buffer that implements the type-ahead half of it."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class IvrPort(Protocol):
    """One call as the engine sees it. The calls package implements it over ARI; tests use a fake.

    Keys (DTMF '0'-'9', '*', '#') arrive at any time and go into a type-ahead buffer, including during a
    non-interruptible `play`; the engine takes them with `get_key`.
    """

    language: str

    async def play(self, prompts: list[str], *, interruptible: bool) -> str | None:
        """Play sounds in order and return when done. A prompt is a sound name, or a media URI with a
        scheme (`number:12`, from a `say` node). If `interruptible`, a key pressed during playback stops
        it and is returned (taken out of the buffer); keys already buffered before the call do not interrupt.
        """
        ...

    async def get_key(self, timeout: float) -> str | None:
        """The next buffered key, waiting up to `timeout` seconds; `timeout=0` only looks at the buffer."""
        ...

    def set_language(self, language: str) -> None:
        """Sounds played from now on are looked up in this language (the Asterisk channel language)."""
        ...

    def record(self, event: str, **data: Any) -> None:
        """An IVR event for the call's event log: 'ivr_node', 'ivr_choice', 'ivr_invalid', 'ivr_timeout',
        'ivr_failure', 'ivr_action', 'ivr_no_agent', 'ivr_say_missing', and a questionnaire's 'triage_*'.
        Never given digits a caller typed in a read_digits node (they may be patient data).
        """
        ...

    async def action(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str:
        """Run a named action of the flow's registry (e.g. `appointment.confirm`) for this call; returns
        its result, which the flow's `outcomes` route on."""
        ...

    def agent_available(self, queue: str) -> bool:
        """Whether an agent of `queue` could take the call right now (an enqueue's `if_no_agent`)."""
        ...

    async def followup(self, questionnaire: str) -> "FollowUpSession | None":
        """A response to the follow-up questionnaire's current version, started for this call (a `followup`
        node); None when this call cannot give one (no runner, the questionnaire not loaded)."""
        ...

    async def record_spoken(self, name: str, max_seconds: int) -> bool:
        """Record what the caller says, after a beep, until '#', silence or `max_seconds`, as the recording
        `name` of the call; False when the recording could not be made."""
        ...


class QuestionnaireSession(Protocol):
    """A triage protocol asked by phone (triage.services.TriageSession, started by the flow's registry): the
    engine asks `current` until it is None, gives each answer, and reads `decision.disposition`; `facts`
    and what `answer` returns are events for the call's log (`.type`, `.data`)."""

    facts: list[Any]
    current: Any
    decision: Any

    def answer(self, question_id: str, yes: bool) -> list[Any]: ...


ONE_KEY, KEYS, SPOKEN, NOT_BY_PHONE = "key", "keys", "spoken", "not_by_phone"


@dataclass(frozen=True)
class PhoneQuestion:
    """A follow-up question as a phone asks it (followup/phone.py renders each type): its prompts, and how
    its answer is entered: ONE_KEY (one of `keys`), KEYS (keys of `keys` until '#' or `length` of them; 0:
    no limit), SPOKEN (recorded as `recording`, at most `max_seconds`), NOT_BY_PHONE (not asked)."""
    code: str
    prompts: tuple[str, ...]
    entry: str
    keys: str = ""
    length: int = 0
    recording: str = ""
    max_seconds: int = 0


@dataclass(frozen=True)
class PhoneAnswer:
    """What the session made of an entry: stored or not (then `invalid_prompts` say why before asking
    again); a stored answer that raised a red flag names its triage disposition and escalation, and `fact`
    is the data of the `triage_disposition` event it writes on the call."""
    accepted: bool
    invalid_prompts: tuple[str, ...] = ()
    disposition: str | None = None
    escalation: str | None = None
    fact: Mapping[str, Any] | None = None


class FollowUpSession(Protocol):
    """A follow-up questionnaire asked by phone (followup.phone.PhoneFollowUp): the engine asks `current`
    until it is None, gives each entry to `answer`, and tells `unanswered` when it moves on without one."""

    questionnaire: str
    version: str
    response_id: int
    answered: int  # answers stored so far
    current: PhoneQuestion | None

    async def answer(self, entry: str) -> PhoneAnswer: ...

    async def unanswered(self, reason: str) -> None: ...


class KeyBuffer:
    """The type-ahead buffer, for ports: `push` from the DTMF event handler, `get` from `IvrPort.get_key`.

    `asyncio.wait_for(queue.get(), 0)` times out even when a key is waiting (the getter task has not run
    yet), so a zero timeout looks at the buffer without waiting.
    """

    def __init__(self) -> None:
        self._keys: asyncio.Queue[str] = asyncio.Queue()

    def push(self, key: str) -> None:
        self._keys.put_nowait(key)

    def clear(self) -> None:
        while not self._keys.empty():
            self._keys.get_nowait()

    def __len__(self) -> int:
        return self._keys.qsize()

    async def get(self, timeout: float) -> str | None:
        if not self._keys.empty():
            return self._keys.get_nowait()
        if timeout <= 0:
            return None
        try:
            async with asyncio.timeout(timeout):
                return await self._keys.get()
        except TimeoutError:
            return None

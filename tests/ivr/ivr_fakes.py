"""Ports for engine tests.

`ScriptedPort` runs on a virtual clock, so a test can say "the caller presses 2 at 6.0 s" and a 6-second
menu timeout costs nothing and never flakes. `RealtimePort` is what an ARI port looks like: a real
`KeyBuffer`, playback as a sleep that a key can cut short; it is used where real asyncio timing matters.
"""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.ivr import KeyBuffer


@dataclass
class Played:
    at: float
    language: str
    prompts: tuple[str, ...]
    interruptible: bool
    interrupted_by: str | None = None


@dataclass
class ScriptedPort:
    """Keys are `(seconds from the start, key)`. Each prompt lasts `prompt_seconds`."""

    presses: list[tuple[float, str]] = field(default_factory=list)
    language: str = "en"
    prompt_seconds: float = 2.0
    now: float = 0.0
    played: list[Played] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Campaign flows: what each action returns (default 'done'), the actions run, queues with a free agent.
    results: dict[str, str] = field(default_factory=dict)
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    free_queues: set[str] = field(default_factory=set)

    async def action(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        self.actions.append((name, dict(args)))
        return self.results.get(name, "done")

    def agent_available(self, queue: str) -> bool:
        return queue in self.free_queues

    def __post_init__(self) -> None:
        self._pending = deque(sorted(self.presses))

    async def play(self, prompts: list[str], *, interruptible: bool) -> str | None:
        await asyncio.sleep(0)
        start, end = self.now, self.now + self.prompt_seconds * len(prompts)
        played = Played(start, self.language, tuple(prompts), interruptible)
        self.played.append(played)
        pressed = [press for press in self._pending if start < press[0] <= end]
        if interruptible and pressed:
            self._pending.remove(pressed[0])
            self.now, played.interrupted_by = pressed[0]
            return played.interrupted_by
        self.now = end
        return None

    async def get_key(self, timeout: float) -> str | None:
        await asyncio.sleep(0)
        if self._pending and self._pending[0][0] <= self.now + timeout:
            at, key = self._pending.popleft()
            self.now = max(self.now, at)
            return key
        self.now += timeout
        return None

    def set_language(self, language: str) -> None:
        self.language = language

    def record(self, event: str, **data: Any) -> None:
        self.events.append((event, data))

    # -- for assertions --

    def prompts_played(self) -> list[str]:
        return [prompt for played in self.played for prompt in played.prompts]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == event]


class RealtimePort:
    """Keys come from `press()` (as from ARI ChannelDtmfReceived); playback sleeps `prompt_seconds` each."""

    def __init__(self, prompt_seconds: float = 0.05, language: str = "en"):
        self.language = language
        self.prompt_seconds = prompt_seconds
        self.keys = KeyBuffer()
        self.played: list[tuple[str, ...]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.waiting = asyncio.Event()
        self._pressed = asyncio.Event()

    def press(self, key: str) -> None:
        self.keys.push(key)
        self._pressed.set()

    async def play(self, prompts: list[str], *, interruptible: bool) -> str | None:
        self.played.append(tuple(prompts))
        duration = self.prompt_seconds * len(prompts)
        if not interruptible:
            await asyncio.sleep(duration)
            return None
        self._pressed.clear()  # keys buffered before the prompt do not interrupt it
        try:
            async with asyncio.timeout(duration):
                await self._pressed.wait()
        except TimeoutError:
            return None
        return await self.keys.get(0)

    async def get_key(self, timeout: float) -> str | None:
        self.waiting.set()
        try:
            return await self.keys.get(timeout)
        finally:
            self.waiting.clear()

    def set_language(self, language: str) -> None:
        self.language = language

    def record(self, event: str, **data: Any) -> None:
        self.events.append((event, data))


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th line containing `marker`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if marker in line]
    return hits[occurrence - 1]

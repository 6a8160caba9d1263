"""Where the live state of queues and agents is kept: the queues, the agents and their states, who waits.

The queue service (services.py) holds the rules (who is offered which call, which state changes are allowed)
and keeps this state only through `QueueStore`. Today the state lives in this process's memory
(`MemoryQueueStore`); a later step keeps it in PostgreSQL so that several controllers share one view of who
is free. That is why every change goes back through the store (`put_agent` after an agent's state changed),
even though in memory the objects are already the stored ones.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..eventlog import utcnow


class Offerable(Protocol):
    id: str
    language: str

    def offer(self, agent: "AgentRuntime") -> None: ...


@dataclass
class AgentRuntime:
    id: int
    number: str
    name: str
    endpoint: str
    skills: frozenset[str]
    languages: frozenset[str]
    state: str = "logged_out"
    state_since: datetime = field(default_factory=utcnow)
    idle_since: datetime = field(default_factory=utcnow)
    pause_reason: str | None = None
    call_id: str | None = None

    def public(self) -> dict:
        return {
            "id": self.id, "number": self.number, "name": self.name, "state": self.state,
            "state_since": self.state_since.isoformat(), "pause_reason": self.pause_reason,
            "call_id": self.call_id, "skills": sorted(self.skills), "languages": sorted(self.languages),
        }


@dataclass
class QueueEntry:
    call: Offerable
    queue: str
    priority: int
    seq: int
    since: datetime

    @property
    def sort_key(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


@dataclass
class QueueInfo:
    name: str
    title: str
    skill: str
    service_level_seconds: int
    moh_class: str
    post_call_survey: bool = False  # its callers are surveyed when the agent hangs up (calls/state.py)


class QueueStore(Protocol):
    """The live state of queues and agents, as the queue service reads and changes it."""

    def queues(self) -> Mapping[str, QueueInfo]: ...

    def agents(self) -> Mapping[str, AgentRuntime]: ...

    def replace(self, queues: Iterable[QueueInfo], agents: Iterable[AgentRuntime]) -> None:
        """Everything as loaded from the database at start; callers already waiting keep waiting."""

    def put_queue(self, queue: QueueInfo) -> None: ...

    def put_agent(self, agent: AgentRuntime) -> None:
        """A new desk, or one whose state or settings changed."""

    def drop_agent(self, number: str) -> None: ...

    def available_agents(self, skill: str) -> list[AgentRuntime]:
        """The agents who are available now and have `skill`."""

    def add_waiting(self, entry: QueueEntry) -> None: ...

    def remove_waiting(self, call: Offerable) -> QueueEntry | None: ...

    def waiting(self, queue: str) -> list[QueueEntry]:
        """The callers waiting in `queue`, in the order they are served."""


class MemoryQueueStore:
    """The state in this process's memory: one controller."""

    def __init__(self):
        self._queues: dict[str, QueueInfo] = {}
        self._agents: dict[str, AgentRuntime] = {}
        self._waiting: dict[str, list[QueueEntry]] = {}

    def queues(self) -> Mapping[str, QueueInfo]:
        return self._queues

    def agents(self) -> Mapping[str, AgentRuntime]:
        return self._agents

    def replace(self, queues: Iterable[QueueInfo], agents: Iterable[AgentRuntime]) -> None:
        self._queues = {q.name: q for q in queues}
        self._waiting = {name: self._waiting.get(name, []) for name in self._queues}
        self._agents = {a.number: a for a in agents}

    def put_queue(self, queue: QueueInfo) -> None:
        self._queues[queue.name] = queue
        self._waiting.setdefault(queue.name, [])

    def put_agent(self, agent: AgentRuntime) -> None:
        self._agents[agent.number] = agent

    def drop_agent(self, number: str) -> None:
        self._agents.pop(number, None)

    def available_agents(self, skill: str) -> list[AgentRuntime]:
        return [a for a in self._agents.values() if a.state == "available" and skill in a.skills]

    def add_waiting(self, entry: QueueEntry) -> None:
        entries = self._waiting[entry.queue]
        entries.append(entry)
        entries.sort(key=lambda e: e.sort_key)

    def remove_waiting(self, call: Offerable) -> QueueEntry | None:
        for entries in self._waiting.values():
            for entry in entries:
                if entry.call is call:
                    entries.remove(entry)
                    return entry
        return None

    def waiting(self, queue: str) -> list[QueueEntry]:
        return list(self._waiting.get(queue, []))

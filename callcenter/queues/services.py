"""Queues and agents: who waits, who is free, and who gets offered which call.

The rules: callers wait in priority order, then arrival order; a call is offered to the longest-idle available
agent who has the queue's skill, preferring agents who speak the caller's language. An agent who lets an offer
ring out is paused, so the next caller is not offered to an empty desk.
"""
from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Agent, Queue
from ..eventlog import EventLog, utcnow
from .exceptions import AgentNotFound, AgentNotReady, InvalidAgentTransition, QueueNotFound

log = logging.getLogger(__name__)

# Which agent state changes an agent (or the system) may ask for.
ALLOWED = {
    "logged_out": {"available", "paused"},
    "available": {"paused", "logged_out", "ringing"},
    "paused": {"available", "logged_out", "ringing"},
    "ringing": {"on_call", "available", "paused", "logged_out"},
    "on_call": {"wrapup", "logged_out", "available"},
    "wrapup": {"available", "paused", "logged_out"},
}
USER_STATES = {"available", "paused", "logged_out"}


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


class QueueService:
    def __init__(self, db: Database, events: EventLog):
        self._db = db
        self._events = events
        self.queues: dict[str, QueueInfo] = {}
        self.agents: dict[str, AgentRuntime] = {}
        self._waiting: dict[str, list[QueueEntry]] = {}
        self._seq = itertools.count(1)
        # A caller's first arrival (seq, time), kept while the call object lives: a ring-no-answer requeue
        # (front=True) puts the caller back where they were, so they neither lose their place nor jump ahead
        # of someone who arrived before them, and their wait time is not reset.
        self._arrivals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # front=True for a caller never seen (adopted after a restart): ahead of everyone waiting now.
        self._front_seq = itertools.count(-1, -1)
        # Other features' rules and observers (wired in main.py): a check returns why an agent may not take
        # calls yet (the desk: a disposition is owed), or None; a listener hears every agent state change.
        self.availability_checks: list[Callable[[AgentRuntime], str | None]] = []
        self.state_listeners: list[Callable[[AgentRuntime], None]] = []

    async def load(self) -> None:
        """Queues and agents come from the database; live agent state starts logged out after a restart."""
        queues, agents = await self._db.run(_load)
        self.queues = {q.name: q for q in queues}
        self._waiting = {name: self._waiting.get(name, []) for name in self.queues}
        self.agents = {a.number: a for a in agents}
        await self._db.run(_reset_agent_states)

    async def reload_agent(self, number: str) -> AgentRuntime | None:
        """Re-read one desk after an admin edit, without a restart: its live state (logged in, on a call) is
        kept; a desk gone from the database is forgotten. Returns the desk as it now runs, if any."""
        row = await self._db.run(_load_agent, number)
        if row is None:
            self.agents.pop(number, None)
            return None
        agent = self.agents.get(number)
        if agent is None or agent.id != row.id:  # a new desk (or one deleted and created again)
            self.agents[number] = agent = row
        agent.name, agent.endpoint = row.name, row.endpoint
        agent.skills, agent.languages = row.skills, row.languages
        self.dispatch()  # new skills may match a caller already waiting
        return agent

    async def reload_queue(self, name: str) -> QueueInfo | None:
        """Re-read one queue after an admin edit (title, skill, service level, music), keeping its callers."""
        info = await self._db.run(_load_queue, name)
        if info is None:
            return None
        self.queues[name] = info
        self._waiting.setdefault(name, [])
        self.dispatch()
        return info

    # -- callers -----------------------------------------------------------------------------------------

    def queue(self, name: str) -> QueueInfo:
        try:
            return self.queues[name]
        except KeyError:
            raise QueueNotFound(name) from None

    def enqueue(self, call: Offerable, queue: str, priority: int = 0, *, front: bool = False) -> QueueEntry:
        self.queue(queue)
        arrival = self._arrivals.get(call)
        if arrival is None or not front:
            arrival = self._arrivals[call] = (next(self._front_seq if front else self._seq), utcnow())
        entry = QueueEntry(call, queue, priority, *arrival)
        self._waiting[queue].append(entry)
        self._waiting[queue].sort(key=lambda e: e.sort_key)
        self.dispatch()
        return entry

    def remove(self, call: Offerable) -> bool:
        for entries in self._waiting.values():
            for entry in entries:
                if entry.call is call:
                    entries.remove(entry)
                    return True
        return False

    def position(self, call: Offerable) -> int | None:
        for entries in self._waiting.values():
            for index, entry in enumerate(entries, 1):
                if entry.call is call:
                    return index
        return None

    def waiting(self, queue: str) -> list[QueueEntry]:
        return list(self._waiting.get(queue, []))

    # -- agents ------------------------------------------------------------------------------------------

    def free_agents(self, queue: str) -> int:
        """How many agents of `queue` are available right now (an automated call decides whether to queue a
        patient or to create a callback). Read-only: nothing is reserved."""
        skill = self.queue(queue).skill
        return sum(1 for a in self.agents.values() if a.state == "available" and skill in a.skills)

    def agent(self, number: str) -> AgentRuntime:
        try:
            return self.agents[number]
        except KeyError:
            raise AgentNotFound(number) from None

    def agent_by_id(self, agent_id: int) -> AgentRuntime:
        return next(a for a in self.agents.values() if a.id == agent_id)

    def request_state(self, number: str, state: str, reason: str | None = None) -> AgentRuntime:
        """An agent's own request (log in, pause, go available); call-driven states are refused."""
        agent = self.agent(number)
        if state not in USER_STATES:
            raise InvalidAgentTransition(agent.state, state)
        if agent.state in ("ringing", "on_call") and state != "logged_out":
            raise InvalidAgentTransition(agent.state, state)
        if state == "available" and (why := self.not_ready(agent)):
            raise AgentNotReady(why)
        self.set_state(agent, state, reason)
        return agent

    def not_ready(self, agent: AgentRuntime) -> str | None:
        return next((why for check in self.availability_checks if (why := check(agent))), None)

    def set_state(self, agent: AgentRuntime, state: str, reason: str | None = None,
                  call_id: str | None = None) -> None:
        if state != agent.state and state not in ALLOWED[agent.state]:
            raise InvalidAgentTransition(agent.state, state)
        if agent.state == "wrapup" and state == "available" and self.not_ready(agent):
            return  # the timed end of wrap-up waits for what is owed (a disposition); the agent ends it then
        now = utcnow()
        # The end of a wrap-up is logged under the wrapped-up call, so the call's own events give its
        # wrap-up time (the KPIs' handle time) without searching the agent's history.
        wrapped = agent.call_id if agent.state == "wrapup" and state != "wrapup" else None
        if state == "available" and agent.state != "available":
            agent.idle_since = now
        agent.state, agent.state_since = state, now
        agent.pause_reason = reason if state == "paused" else None
        agent.call_id = call_id if state in ("ringing", "on_call", "wrapup") else None
        self._persist_agent(agent, now, wrapped)
        for listener in self.state_listeners:
            listener(agent)
        if state == "available":
            self.dispatch()

    def resume_call(self, agent: AgentRuntime, call_id: str) -> None:
        """The agent is still talking in a call rebuilt after a controller restart (calls/reconcile.py): back
        to on_call whatever the restart set (logged out, or available by `serve --available`). No agent_state
        event is logged: the one logged when the call connected still stands, so the KPIs' handle time runs
        from the real start of the call, not from the restart."""
        now = utcnow()
        agent.state, agent.state_since, agent.pause_reason, agent.call_id = "on_call", now, None, call_id
        self._events.write(lambda s: s.execute(update(Agent).where(Agent.id == agent.id).values(
            state="on_call", state_since=now, pause_reason=None)))
        for listener in self.state_listeners:
            listener(agent)

    def _persist_agent(self, agent: AgentRuntime, now: datetime, wrapped: str | None = None) -> None:
        values = dict(state=agent.state, state_since=now, pause_reason=agent.pause_reason)
        if agent.state == "wrapup":
            values["last_call_ended_at"] = now
        self._events.write(lambda s: s.execute(update(Agent).where(Agent.id == agent.id).values(**values)))
        self._events.event(agent.call_id or wrapped, "agent_state", agent_id=agent.id, ts=now,
                           state=agent.state, reason=agent.pause_reason)

    # -- matching ----------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Offer waiting callers to free agents until no more pairs match."""
        while (pair := self._next_pair()) is not None:
            entry, agent = pair
            self._waiting[entry.queue].remove(entry)
            self.set_state(agent, "ringing", call_id=entry.call.id)
            entry.call.offer(agent)

    def _next_pair(self) -> tuple[QueueEntry, AgentRuntime] | None:
        heads = [entries[0] for entries in self._waiting.values() if entries]
        # Across queues, the caller who has waited longest (at equal priority) goes first.
        for entry in sorted(heads, key=lambda e: (-e.priority, e.seq)):
            agent = self._best_agent(entry)
            if agent is not None:
                return entry, agent
        return None

    def _best_agent(self, entry: QueueEntry) -> AgentRuntime | None:
        skill = self.queues[entry.queue].skill
        free = [a for a in self.agents.values() if a.state == "available" and skill in a.skills]
        if not free:
            return None
        return min(free, key=lambda a: (entry.call.language not in a.languages, a.idle_since))


def _load(session: Session) -> tuple[list[QueueInfo], list[AgentRuntime]]:
    queues = [QueueInfo(q.name, q.title, q.skill or q.name, q.service_level_seconds, q.moh_class)
              for q in session.scalars(select(Queue))]
    agents = [AgentRuntime(a.id, a.number, a.name, a.endpoint, frozenset(a.skills or ()),
                           frozenset(a.languages or ()))
              for a in session.scalars(select(Agent))]
    return queues, agents


def _load_agent(session: Session, number: str) -> AgentRuntime | None:
    a = session.scalar(select(Agent).where(Agent.number == number))
    if a is None:
        return None
    return AgentRuntime(a.id, a.number, a.name, a.endpoint, frozenset(a.skills or ()),
                        frozenset(a.languages or ()))


def _load_queue(session: Session, name: str) -> QueueInfo | None:
    q = session.scalar(select(Queue).where(Queue.name == name))
    if q is None:
        return None
    return QueueInfo(q.name, q.title, q.skill or q.name, q.service_level_seconds, q.moh_class)


def _reset_agent_states(session: Session) -> None:
    session.execute(update(Agent).values(state="logged_out", state_since=utcnow(), pause_reason=None))

"""Queues and agents: who waits, who is free, and who gets offered which call.

The rules: callers wait in priority order, then arrival order; a call is offered to the longest-idle available
agent who has the queue's skill, preferring agents who speak the caller's language. An agent who lets an offer
ring out is paused, so the next caller is not offered to an empty desk.

This is the one place that chooses an agent (choose_agent): for a queued caller, a warm transfer to a queue
and a progressive campaign's patient alike. The live state it rules over is kept behind QueueStore
(store.py).
"""
from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Agent, Queue
from ..eventlog import EventLog, utcnow
from .exceptions import AgentNotFound, AgentNotReady, InvalidAgentTransition, QueueNotFound
from .store import AgentRuntime, MemoryQueueStore, Offerable, QueueEntry, QueueInfo, QueueStore

__all__ = ["AgentRuntime", "Offerable", "QueueEntry", "QueueInfo", "QueueService"]

log = logging.getLogger(__name__)
AGENTS = Agent.__table__

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


class QueueService:
    def __init__(self, db: Database, events: EventLog, store: QueueStore | None = None):
        self._db = db
        self._events = events
        self._store = store or MemoryQueueStore()
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

    @property
    def queues(self) -> Mapping[str, QueueInfo]:
        return self._store.queues()

    @property
    def agents(self) -> Mapping[str, AgentRuntime]:
        return self._store.agents()

    async def load(self) -> None:
        """Queues and agents come from the database; live agent state starts logged out after a restart."""
        queues, agents = await self._db.run(_load)
        self._store.replace(queues, agents)
        await self._db.run(_reset_agent_states)

    async def reload_agent(self, number: str) -> AgentRuntime | None:
        """Re-read one desk after an admin edit, without a restart: its live state (logged in, on a call) is
        kept; a desk gone from the database is forgotten. Returns the desk as it now runs, if any."""
        row = await self._db.run(_load_agent, number)
        if row is None:
            self._store.drop_agent(number)
            return None
        agent = self.agents.get(number)
        if agent is None or agent.id != row.id:  # a new desk (or one deleted and created again)
            agent = row
        agent.name, agent.endpoint = row.name, row.endpoint
        agent.skills, agent.languages = row.skills, row.languages
        self._store.put_agent(agent)
        self.dispatch()  # new skills may match a caller already waiting
        return agent

    async def reload_queue(self, name: str) -> QueueInfo | None:
        """Re-read one queue after an admin edit (title, skill, service level, music), keeping its callers."""
        info = await self._db.run(_load_queue, name)
        if info is None:
            return None
        self._store.put_queue(info)
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
        self._store.add_waiting(entry)
        self.dispatch()
        return entry

    def remove(self, call: Offerable) -> bool:
        return self._store.remove_waiting(call) is not None

    def position(self, call: Offerable) -> int | None:
        for queue in self.queues:
            for index, entry in enumerate(self._store.waiting(queue), 1):
                if entry.call is call:
                    return index
        return None

    def waiting(self, queue: str) -> list[QueueEntry]:
        return self._store.waiting(queue)

    # -- agents ------------------------------------------------------------------------------------------

    def free_agents(self, queue: str) -> int:
        """How many agents of `queue` are available right now (an automated call decides whether to queue a
        patient or to create a callback). Read-only: nothing is reserved."""
        return len(self._store.available_agents(self.queue(queue).skill))

    def choose_agent(self, queue: str, language: str | None = None, *,
                     exclude: AgentRuntime | None = None) -> AgentRuntime | None:
        """THE rule that picks an agent, for a queued caller, a warm transfer and a campaign's patient:
        available, with the queue's skill, speaking `language` if any free agent does, then the longest idle;
        never `exclude` (the agent already in the call). None when nobody is free. Nothing is reserved."""
        skill = self.queue(queue).skill
        free = [a for a in self._store.available_agents(skill) if exclude is None or a.id != exclude.id]
        return min(free, key=lambda a: (language not in a.languages, a.idle_since), default=None)

    def claim_agent(self, queue: str, language: str | None, call_id: str, *,
                    exclude: AgentRuntime | None = None) -> AgentRuntime | None:
        """The chosen agent (choose_agent), reserved for `call_id` at once: they ring for it from now on, so
        the queue offers them nothing else meanwhile."""
        agent = self.choose_agent(queue, language, exclude=exclude)
        if agent is not None:
            self.set_state(agent, "ringing", call_id=call_id)
        return agent

    def release_agent(self, agent: AgentRuntime, call_id: str) -> None:
        """A reservation given back before anything rang: the agent is available again and keeps their place
        in the longest-idle order."""
        if agent.state == "ringing" and agent.call_id == call_id:
            self.set_state(agent, "available", keep_place=True)

    def prefer_language(self, agent: AgentRuntime, queue: str, language: str | None,
                        call_id: str) -> AgentRuntime:
        """An agent reserved before the caller's language was known (a progressive run reserves one before
        it claims its patient): traded for a free agent of the queue who speaks it, if the reserved one does
        not."""
        if language is None or language in agent.languages:
            return agent
        better = self.choose_agent(queue, language)
        if better is None or language not in better.languages:
            return agent
        self.set_state(better, "ringing", call_id=call_id)
        self.release_agent(agent, call_id)
        return better

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
                  call_id: str | None = None, *, keep_place: bool = False) -> None:
        """`keep_place`: back to available without going to the end of the longest-idle order (a reservation
        given back before anything rang)."""
        if state != agent.state and state not in ALLOWED[agent.state]:
            raise InvalidAgentTransition(agent.state, state)
        if agent.state == "wrapup" and state == "available" and self.not_ready(agent):
            return  # the timed end of wrap-up waits for what is owed (a disposition); the agent ends it then
        now = utcnow()
        # The end of a wrap-up is logged under the wrapped-up call, so the call's own events give its
        # wrap-up time (the KPIs' handle time) without searching the agent's history.
        wrapped = agent.call_id if agent.state == "wrapup" and state != "wrapup" else None
        if state == "available" and agent.state != "available" and not keep_place:
            agent.idle_since = now
        agent.state, agent.state_since = state, now
        agent.pause_reason = reason if state == "paused" else None
        agent.call_id = call_id if state in ("ringing", "on_call", "wrapup") else None
        self._store.put_agent(agent)
        self._persist_agent(agent, now, wrapped)
        for listener in self.state_listeners:
            listener(agent)
        if state == "available":
            self.dispatch()

    def resume_call(self, agent: AgentRuntime, call_id: str, state: str = "on_call") -> None:
        """The agent is still talking in a call rebuilt after a controller restart (calls/reconcile.py), or
        their phone still rings for it (`state` ringing: a consultation's target): back to that state whatever
        the restart set (logged out, or available by `serve --available`). No agent_state event is logged: the
        one logged when the call connected still stands, so the KPIs' handle time runs from the real start of
        the call, not from the restart."""
        now = utcnow()
        agent.state, agent.state_since, agent.pause_reason, agent.call_id = state, now, None, call_id
        self._store.put_agent(agent)
        self._events.update(AGENTS, {"id": agent.id}, state=state, state_since=now, pause_reason=None)
        for listener in self.state_listeners:
            listener(agent)

    def _persist_agent(self, agent: AgentRuntime, now: datetime, wrapped: str | None = None) -> None:
        values = dict(state=agent.state, state_since=now, pause_reason=agent.pause_reason)
        if agent.state == "wrapup":
            values["last_call_ended_at"] = now
        self._events.update(AGENTS, {"id": agent.id}, **values)
        self._events.event(agent.call_id or wrapped, "agent_state", agent_id=agent.id, ts=now,
                           state=agent.state, reason=agent.pause_reason)

    # -- matching ----------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Offer waiting callers to free agents until no more pairs match."""
        while (pair := self._next_pair()) is not None:
            entry, agent = pair
            self._store.remove_waiting(entry.call)
            self.set_state(agent, "ringing", call_id=entry.call.id)
            entry.call.offer(agent)

    def _next_pair(self) -> tuple[QueueEntry, AgentRuntime] | None:
        heads = [entries[0] for queue in self.queues if (entries := self._store.waiting(queue))]
        # Across queues, the caller who has waited longest (at equal priority) goes first.
        for entry in sorted(heads, key=lambda e: (-e.priority, e.seq)):
            agent = self.choose_agent(entry.queue, entry.call.language)
            if agent is not None:
                return entry, agent
        return None


def _load(session: Session) -> tuple[list[QueueInfo], list[AgentRuntime]]:
    queues = [_queue_info(q) for q in session.scalars(select(Queue))]
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
    return _queue_info(q)


def _queue_info(q: Queue) -> QueueInfo:
    return QueueInfo(q.name, q.title, q.skill or q.name, q.service_level_seconds, q.moh_class,
                     bool(q.post_call_survey))


def _reset_agent_states(session: Session) -> None:
    session.execute(update(Agent).values(state="logged_out", state_since=utcnow(), pause_reason=None))

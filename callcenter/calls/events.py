"""The call layer's own events, posted into a call's inbox beside the ARI events (ari/events.py): a call's
task handles both in order, with the same `on_<type>` dispatch."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..ari.events import Event


@dataclass(frozen=True)
class Offer(Event):
    """The queue service picked an agent for this call."""
    agent: Any  # queues.services.AgentRuntime


@dataclass(frozen=True)
class Control(Event):
    """An agent's call control (calls/controls.py), answered through `reply` (the new state's name)."""
    action: str
    args: dict = field(default_factory=dict)
    reply: asyncio.Future | None = field(default=None, compare=False)


@dataclass(frozen=True)
class IvrDone(Event):
    """The IVR flow's task ended (its result, exception or cancellation is the task's)."""
    task: asyncio.Task = field(compare=False)


@dataclass(frozen=True)
class Lost(Event):
    """Reconciliation found the caller's channel gone while we were disconnected from Asterisk."""
    reason: str


@dataclass(frozen=True)
class HandlerFailed(Event):
    """Handling an event for this call failed outside the call's own task (a role handler, the router):
    the call puts its caller somewhere safe, as for a failure of its own."""
    failed_type: str
    failed_channel_id: str | None = None


@dataclass(frozen=True)
class AmdTimeout(Event):
    """A campaign call: AMD gave no verdict in time."""


@dataclass(frozen=True)
class AgentTimeout(Event):
    """A progressive call: the reserved agent was not in the call in time."""


@dataclass(frozen=True)
class MessageDone(Event):
    """A progressive call: the hospital's message was played to the end (or could not be)."""

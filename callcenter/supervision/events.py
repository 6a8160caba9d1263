"""A monitoring session's own events, posted into its inbox beside the ARI events of its channels."""
from __future__ import annotations

from dataclasses import dataclass

from ..ari.events import Event


@dataclass(frozen=True)
class Stop(Event):
    """The supervisor (or shutdown) ends the session."""


@dataclass(frozen=True)
class CallEnded(Event):
    """The monitored call ended."""


@dataclass(frozen=True)
class SnoopTimeout(Event):
    """The snoop on the agent's channel did not enter the app in time."""

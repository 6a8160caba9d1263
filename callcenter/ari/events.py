"""ARI events, parsed once at the boundary into small frozen objects.

The ARI client hands these to the call layer, so no state class digs through event JSON. Each class is named
after the ARI event it stands for: `event.type` is that name, and handlers stay `on_<EventName>`. The call
layer's own events (calls/events.py) share the `Event` base, so one inbox and one dispatch serve both.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .models import Channel

# How a dialed leg ended, from its Dial event's dialstatus; the one place this mapping lives. A channel's own
# hangup cause says little (a Local channel that met Busy() is destroyed with cause 0).
DIAL_OUTCOMES = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no_answer", "CHANUNAVAIL": "failed",
                 "CONGESTION": "failed"}
UNANSWERED = frozenset({"busy", "no_answer", "failed"})


@dataclass(frozen=True)
class Event:
    """What every event offers: its name (for `on_<name>` dispatch) and the channel it is about, if any."""

    @property
    def type(self) -> str:
        return type(self).__name__

    @property
    def channel_id(self) -> str | None:
        return None


# -- channels -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelEvent(Event):
    channel: Channel

    @property
    def channel_id(self) -> str:
        return self.channel.id

    @classmethod
    def from_json(cls, data: dict) -> "ChannelEvent":
        return cls(Channel.from_json(data["channel"]))


@dataclass(frozen=True)
class StasisStart(ChannelEvent):
    """A channel entered our app. `args` are the Stasis() arguments or the originate appArgs."""
    args: tuple[str, ...] = ()
    replace_channel_id: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> "StasisStart":
        replaced = data.get("replace_channel") or {}
        return cls(Channel.from_json(data["channel"]), tuple(data.get("args") or ()), replaced.get("id"))

    @property
    def role(self) -> str:
        return self.args[0] if self.args else "inbound"

    @property
    def call_id(self) -> str:
        """The call a feature's channel belongs to: `ROLE,<call id>,...` (empty for an inbound caller)."""
        return self.args[1] if len(self.args) > 1 and self.role != "inbound" else ""


@dataclass(frozen=True)
class StasisEnd(ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelStateChange(ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelDestroyed(ChannelEvent):
    cause: int = 0

    @classmethod
    def from_json(cls, data: dict) -> "ChannelDestroyed":
        return cls(Channel.from_json(data["channel"]), int(data.get("cause") or 0))


# A soft hangup's `cause` holds Asterisk's soft-hangup flags; this one (AST_SOFTHANGUP_SHUTDOWN) means
# Asterisk itself is stopping: nobody hung up.
SOFTHANGUP_SHUTDOWN = 0x04


@dataclass(frozen=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int = 0
    soft: bool = False

    @classmethod
    def from_json(cls, data: dict) -> "ChannelHangupRequest":
        return cls(Channel.from_json(data["channel"]), int(data.get("cause") or 0), bool(data.get("soft")))

    @property
    def is_shutdown(self) -> bool:
        """Sent because Asterisk is shutting down (or restarting)."""
        return self.soft and bool(self.cause & SOFTHANGUP_SHUTDOWN)


@dataclass(frozen=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "ChannelDtmfReceived":
        return cls(Channel.from_json(data["channel"]), str(data.get("digit", "")))


@dataclass(frozen=True)
class Dial(Event):
    """Progress of a leg we dialed. `peer` is the dialed channel (our originated leg)."""
    peer: Channel
    dialstatus: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "Dial":
        return cls(Channel.from_json(data["peer"]), data.get("dialstatus") or "")

    @property
    def channel_id(self) -> str:
        return self.peer.id

    @property
    def outcome(self) -> str | None:
        """answered, busy, no_answer or failed once the dial is over; None while it rings."""
        return DIAL_OUTCOMES.get(self.dialstatus)


class DialOutcomes:
    """How each leg a call (or session) dialed ended so far, as its Dial events said. A leg destroyed without
    an unanswered outcome here ended some other way (the caller of `outcome` gives the default)."""

    def __init__(self) -> None:
        self._by_leg: dict[str, str] = {}

    def note(self, event: Dial) -> None:
        if event.outcome in UNANSWERED:
            self._by_leg[event.peer.id] = event.outcome

    def outcome(self, leg_id: str, default: str | None = "no_answer") -> str | None:
        return self._by_leg.get(leg_id, default)


# -- bridges ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelEnteredBridge(ChannelEvent):
    bridge_id: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "ChannelEnteredBridge":
        return cls(Channel.from_json(data["channel"]), (data.get("bridge") or {}).get("id", ""))


@dataclass(frozen=True)
class ChannelLeftBridge(ChannelEnteredBridge):
    pass


@dataclass(frozen=True)
class BridgeDestroyed(Event):
    bridge_id: str

    @classmethod
    def from_json(cls, data: dict) -> "BridgeDestroyed":
        return cls((data.get("bridge") or {}).get("id", ""))


# -- playbacks and recordings -------------------------------------------------------------------------------


def _target(target_uri: str, kind: str) -> str | None:
    prefix = kind + ":"
    return target_uri[len(prefix):] if target_uri.startswith(prefix) else None


@dataclass(frozen=True)
class PlaybackStarted(Event):
    playback_id: str
    target_uri: str = ""
    state: str = ""  # PlaybackFinished: done, or failed (a sound that does not exist)

    @classmethod
    def from_json(cls, data: dict) -> "PlaybackStarted":
        playback = data.get("playback") or {}
        return cls(playback.get("id", ""), playback.get("target_uri", ""), playback.get("state", ""))

    @property
    def channel_id(self) -> str | None:
        return _target(self.target_uri, "channel")


@dataclass(frozen=True)
class PlaybackFinished(PlaybackStarted):
    pass


@dataclass(frozen=True)
class RecordingStarted(Event):
    name: str
    target_uri: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "RecordingStarted":
        recording = data.get("recording") or {}
        return cls(recording.get("name", ""), recording.get("target_uri", ""))

    @property
    def channel_id(self) -> str | None:
        return _target(self.target_uri, "channel")

    @property
    def bridge_id(self) -> str | None:
        return _target(self.target_uri, "bridge")


@dataclass(frozen=True)
class RecordingFinished(RecordingStarted):
    pass


@dataclass(frozen=True)
class RecordingFailed(RecordingStarted):
    pass


# -- the application ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationReplaced(Event):
    @classmethod
    def from_json(cls, data: dict) -> "ApplicationReplaced":
        return cls()


@dataclass(frozen=True)
class UnknownEvent(Event):
    """An event type we do not model (the event filter should keep them away): kept, never dispatched."""
    name: str
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def type(self) -> str:
        return self.name


PARSERS: dict[str, Callable[[dict], Event]] = {cls.__name__: cls.from_json for cls in (
    StasisStart, StasisEnd, ChannelStateChange, ChannelDestroyed, ChannelHangupRequest, ChannelDtmfReceived,
    Dial, ChannelEnteredBridge, ChannelLeftBridge, BridgeDestroyed, PlaybackStarted, PlaybackFinished,
    RecordingStarted, RecordingFinished, RecordingFailed, ApplicationReplaced,
)}


def parse_event(data: dict) -> Event:
    """One ARI event's JSON, parsed once. A malformed event raises (KeyError, ValueError, TypeError)."""
    parser = PARSERS.get(data.get("type", ""))
    return parser(data) if parser else UnknownEvent(str(data.get("type", "")), data)

"""Thin wrappers over ARI JSON, so call logic asks domain questions instead of digging through events."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    caller_name: str
    language: str
    dialplan_app: str = ""
    dialplan_app_data: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> "Channel":
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=data["id"], name=data.get("name", ""), state=data.get("state", ""),
            caller_number=caller.get("number", ""), caller_name=caller.get("name", ""),
            language=data.get("language", "en"), dialplan_app=dialplan.get("app_name", ""),
            dialplan_app_data=dialplan.get("app_data", ""), raw=data,
        )

    @property
    def is_up(self) -> bool:
        return self.state == "Up"

    def in_stasis_app(self, app: str) -> bool:
        return self.dialplan_app == "Stasis" and self.dialplan_app_data.split(",")[0] == app


@dataclass(frozen=True)
class StasisStart:
    """A channel entered our app. `args` are the Stasis() arguments or the originate appArgs."""
    channel: Channel
    args: tuple[str, ...]
    replace_channel_id: str | None

    @classmethod
    def from_event(cls, event: dict) -> "StasisStart":
        replaced = event.get("replace_channel") or {}
        return cls(Channel.from_json(event["channel"]), tuple(event.get("args") or ()), replaced.get("id"))

    @property
    def role(self) -> str:
        return self.args[0] if self.args else "inbound"


def event_channel_id(event: dict) -> str | None:
    """The channel an event is about: for Dial events the dialed channel (`peer`), our originated leg."""
    channel = event.get("channel") or event.get("peer")
    if channel:
        return channel.get("id")
    playback = event.get("playback") or event.get("recording")
    if playback:
        target = playback.get("target_uri", "")
        if target.startswith("channel:"):
            return target.split(":", 1)[1]
    return None


# ChannelHangupRequest's `cause` of a soft hangup holds Asterisk's soft-hangup flags; this one
# (AST_SOFTHANGUP_SHUTDOWN) means Asterisk itself is stopping: nobody hung up.
SOFTHANGUP_SHUTDOWN = 0x04


def is_shutdown_hangup(event: dict) -> bool:
    """A ChannelHangupRequest sent because Asterisk is shutting down (or restarting)."""
    return bool(event.get("soft")) and bool(int(event.get("cause") or 0) & SOFTHANGUP_SHUTDOWN)

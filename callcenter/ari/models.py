"""Thin wrappers over ARI JSON, so call logic asks domain questions instead of digging through events."""
from __future__ import annotations

from dataclasses import dataclass


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

    @classmethod
    def from_json(cls, data: dict) -> "Channel":
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=data["id"], name=data.get("name", ""), state=data.get("state", ""),
            caller_number=caller.get("number", ""), caller_name=caller.get("name", ""),
            language=data.get("language", "en"), dialplan_app=dialplan.get("app_name", ""),
            dialplan_app_data=dialplan.get("app_data", ""),
        )

    @classmethod
    def gone(cls, channel_id: str) -> "Channel":
        """A channel known only by id (one that vanished while we were away)."""
        return cls(id=channel_id, name="", state="", caller_number="", caller_name="", language="")

    @property
    def is_up(self) -> bool:
        return self.state == "Up"

    def in_stasis_app(self, app: str) -> bool:
        return self.dialplan_app == "Stasis" and self.dialplan_app_data.split(",")[0] == app

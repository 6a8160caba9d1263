"""Log output: plain text for a terminal, or JSON lines for a log collector ([logging] format = "json").

Each JSON line has time (UTC, ISO 8601), level, logger, message and, when the record belongs to a call,
its call_id and channel_id: from `extra={"call_id": ...}`, else from the context of the call's task, which
the call router sets once when it starts the call (`start_in_call_context`); `Database.run` copies that
context into its thread, so even database work logs under its call. Patient data never goes into a log
message (log ids), so nothing here needs to scrub it; the JSON form only adds ids.

The standard library's logging.Formatter does the work; the JSON form is a dozen lines over json.dumps, not
worth a dependency.
"""
from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)
CHANNEL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("channel_id", default=None)
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def start_in_call_context(call_id: str, channel_id: str | None, start: Callable[..., Any], *args: Any) -> Any:
    """Run `start(*args)` (which creates the call's task) in a copy of the context where the call's ids are
    set: the task inherits them, and the caller's own context stays as it was."""
    def bound() -> Any:
        CALL_ID.set(call_id)
        CHANNEL_ID.set(channel_id)
        return start(*args)
    return contextvars.copy_context().run(bound)


class CallContextFilter(logging.Filter):
    """Puts the call's ids on every record (None outside a call), unless the record names them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None:
            record.call_id = CALL_ID.get()
        if getattr(record, "channel_id", None) is None:
            record.channel_id = CHANNEL_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("call_id", "channel_id"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(kind: str) -> logging.Formatter:
    if kind not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {kind!r}")
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure(kind: str, level: str | int = logging.INFO) -> None:
    """Set the format of the root logger's handlers (one to stderr if it has none) and its level (a bad level
    name raises ValueError)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        install(handler, kind)
    root.setLevel(level)
    # WeasyPrint tells every step of every PDF it renders at INFO: noise in a server's log unless debugging.
    logging.getLogger("weasyprint.progress").setLevel(logging.DEBUG if root.level <= logging.DEBUG
                                                      else logging.WARNING)


def install(handler: logging.Handler, kind: str) -> None:
    """Give a handler the chosen format and the call ids (tests install it on their own capturing handler)."""
    handler.setFormatter(formatter(kind))
    if not any(isinstance(f, CallContextFilter) for f in handler.filters):
        handler.addFilter(CallContextFilter())

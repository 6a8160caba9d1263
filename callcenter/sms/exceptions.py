"""Errors of the SMS package."""
from __future__ import annotations

from ..yamlsource import SourceError


class TemplateError(SourceError):
    """templates.yaml is wrong: every problem as `file:line: where: what`."""


class GatewayError(Exception):
    """A send the gateway did not take. `retry`: worth trying again later (the gateway down, busy, timing
    out); else the text itself was refused (a bad number) and trying again would not help."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry

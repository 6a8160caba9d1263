"""Refusals of the campaign services; errors_middleware turns each into an HTTP answer with its status."""
from __future__ import annotations

from ..errors import ServiceError
from ..yamlsource import SourceError


class CampaignError(SourceError, ServiceError):
    """A campaign file is broken: one `file:line: what` per problem, all at once."""

    status = 400


class CampaignNotFound(ServiceError):
    status = 404

    def __init__(self, name: str):
        super().__init__(f"no campaign named {name!r}; load it with `callcenter campaign load FILE`")


class DoNotCallError(ServiceError):
    """A do-not-call entry (or a row of an import) is not acceptable; the message says which and why, `field`
    names the form input at fault (console pages)."""

    def __init__(self, message: str, status: int = 400, *, field: str = ""):
        super().__init__(message)
        self.status = status
        self.field = field


class DialerUnavailable(ServiceError):
    status = 503

    def __init__(self) -> None:
        super().__init__("campaign dialing is not available in this server (no dialer is wired)")


class AttemptNotFound(ServiceError):
    status = 404

    def __init__(self, attempt_id: int):
        super().__init__(f"no campaign attempt {attempt_id}")

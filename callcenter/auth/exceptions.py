"""Errors of the auth feature. Views and the CLI translate them; messages are safe to show to the user."""
from __future__ import annotations


class AuthError(Exception):
    pass


class SignInFailed(AuthError):
    """Wrong username or password, unknown or inactive user, or a locked account: deliberately one error, so
    the sign-in page never tells which (that would reveal who has an account)."""

    def __init__(self, reason: str):
        super().__init__("sign-in failed")
        self.reason = reason  # for the audit row only: never shown


class SignInThrottled(AuthError):
    """Too many failed sign-ins from this address (or from everywhere): try again after `retry_after` s."""

    def __init__(self, retry_after: int, *, everyone: bool = False):
        super().__init__("too many failed sign-ins")
        self.retry_after = retry_after
        self.everyone = everyone  # the overall limit, not this address's own


class WeakPassword(AuthError):
    pass


class DuplicateUser(AuthError):
    pass


class UnknownUser(AuthError):
    pass


class InvalidUserField(AuthError):
    """A bad role, username or display name."""


class PermissionTableError(Exception):
    """A route has no line in permissions.PERMISSIONS (or a line is malformed): raised at start-up."""


class InvalidApiClient(AuthError):
    """A bad API client name or scope."""


class DuplicateApiClient(AuthError):
    pass


class UnknownApiClient(AuthError):
    pass

"""Errors of the admin feature. Messages are written for the administrator and shown on the form as is."""
from __future__ import annotations

from ..errors import ServiceError


class AdminError(ServiceError):
    """A request the admin pages refuse. `field` names the form input at fault, if one is."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidInput(AdminError):
    status = 400


class Conflict(AdminError):
    """Valid input that the current state forbids (a duplicate, a desk with calls, an admin demoting self)."""

    status = 409


class NotFound(AdminError):
    status = 404

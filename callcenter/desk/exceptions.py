"""Desk errors; each carries the HTTP status its view answers with."""
from __future__ import annotations

from ..errors import ServiceError


class DeskError(ServiceError):
    status = 400


class InvalidRequest(DeskError):
    status = 400


class NotFound(DeskError):
    status = 404


class DispositionConflict(DeskError):
    status = 409


class NotInWrapup(DeskError):
    """Only a desk in wrap-up can be released from it."""
    status = 409


class NotPermitted(DeskError):
    """The user may not open this record or use this call from their desk."""
    status = 403


class TooManyViews(DeskError):
    """The user opened more records than the per-user rate allows."""
    status = 429

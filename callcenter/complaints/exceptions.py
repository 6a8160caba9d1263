"""Ticket errors; each carries the HTTP status its view answers with."""
from __future__ import annotations

from ..errors import ServiceError


class ComplaintError(ServiceError):
    status = 400


class InvalidTicket(ComplaintError):
    """A field is missing, too long or not one of the allowed values; `field` names it (never its value)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class TicketNotFound(ComplaintError):
    status = 404


class TransitionNotAllowed(ComplaintError):
    """The step does not apply in the ticket's state (resolving a closed ticket, closing an open one)."""
    status = 409


class AttachmentRefused(ComplaintError):
    """Too large, or not one of the accepted file types (checked by content, not by name)."""
    status = 413


class UnsupportedAttachment(ComplaintError):
    """The file is not a PDF or an image of an accepted kind (by its content)."""
    status = 415

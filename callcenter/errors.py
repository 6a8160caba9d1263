"""The one base of the errors a service raises to refuse a request.

Each feature's error base (QueueError, ControlError, DeskError, ...) derives from ServiceError and says
with `status` which HTTP answer it means; web.errors_middleware turns any of them into {"error": message}
(or an error page for a browser) in one place, so views just call their service.
"""
from __future__ import annotations


class ServiceError(Exception):
    status = 400


class BadRequestBody(ServiceError):
    """The request body is not the JSON object the endpoint expects."""


class Refused(ServiceError):
    """A view's own refusal with its status (e.g. 409 'no call on this desk')."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status

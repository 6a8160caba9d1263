"""Errors of the webhooks feature; messages are written for the administrator and shown as they are."""
from __future__ import annotations

from ..errors import ServiceError


class WebhookError(ServiceError):
    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidSubscription(WebhookError):
    status = 400


class Conflict(WebhookError):
    status = 409


class NotFound(WebhookError):
    status = 404

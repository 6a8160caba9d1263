"""The outbox: a webhook event is an outbox row inserted in the same transaction as the call event or audit
row it comes from (eventlog.Row.also), so a crash can neither send an event that was never logged nor lose
one that was. The delivery worker (worker.py) addresses each to the subscriptions that want it."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table

from ..db.models import AuditEvent, CallEvent, WebhookOutbox
from ..eventlog import Row
from .events import Event, from_audit, from_call_event

OUTBOX: Table = WebhookOutbox.__table__
_SOURCES = {CallEvent.__tablename__: from_call_event, AuditEvent.__tablename__: from_audit}


def companion(table: Table, values: dict[str, Any]) -> tuple[Row, ...]:
    """The EventLog's companion (main.py): the outbox row a logged row brings, if it is a webhook event."""
    source = _SOURCES.get(table.name)
    event = source(values) if source else None
    return (Row(OUTBOX, outbox_values(event, values["ts"])),) if event else ()


def outbox_values(event: Event, occurred_at) -> dict[str, Any]:
    return dict(event_id=uuid.uuid4().hex, type=event.type, occurred_at=occurred_at, data=event.data,
                clinical=event.clinical)

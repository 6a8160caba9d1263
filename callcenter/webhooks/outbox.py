"""The outbox: a webhook event is an outbox row inserted in the same transaction as the row it comes from (a
call event: eventlog.Row.also; a screen pop's audit rows: `screen_pop`), so a crash can neither send an event
that was never written nor lose one that was. The delivery worker (worker.py) addresses each to the
subscriptions that want it."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from ..db.models import CallEvent, WebhookOutbox
from ..db.types import utcnow
from ..eventlog import Row
from . import events
from .events import Event

OUTBOX: Table = WebhookOutbox.__table__


def companion(table: Table, values: dict[str, Any]) -> tuple[Row, ...]:
    """The EventLog's companion (main.py): the outbox row a call event brings, if it is a webhook event."""
    event = events.from_call_event(values) if table.name == CallEvent.__tablename__ else None
    return (Row(OUTBOX, outbox_values(event, values["ts"])),) if event else ()


def screen_pop(session: Session, call_id: str, agent_id: int, patient_ids: list[int]) -> None:
    """The screen pop's listener (screenpop/services.py, wired in main.py), in its audit rows' transaction."""
    session.execute(insert(OUTBOX), [outbox_values(events.screen_pop(call_id, agent_id, patient_ids),
                                                   utcnow())])


def complaint(session: Session, type_: str, complaint_id: int, serial: str) -> None:
    """The tickets' listener (complaints/services.py, wired in main.py), in the ticket's own transaction."""
    session.execute(insert(OUTBOX), [outbox_values(events.complaint(type_, complaint_id, serial), utcnow())])


def outbox_values(event: Event, occurred_at: datetime) -> dict[str, Any]:
    return dict(event_id=uuid.uuid4().hex, type=event.type, occurred_at=occurred_at, data=event.data,
                clinical=event.clinical)

"""The outbox row commits with the row that causes it, or neither commits (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.db.models import AuditEvent, CallEvent, WebhookOutbox
from callcenter.eventlog import EventLog, Row
from callcenter.webhooks import outbox
from callcenter.webhooks.events import Event

from ..audit_faults import AuditRefused, audit_rows_refused


async def counts(db) -> tuple[int, int]:
    def count(session):
        return (session.scalar(select(func.count()).select_from(CallEvent)),
                session.scalar(select(func.count()).select_from(WebhookOutbox)))
    return await db.run(count)


@pytest.fixture
async def events(db):
    log = EventLog(db, companion=outbox.companion)
    await log.start()
    yield log
    await log.close()


async def test_given_call_events_when_logged_then_only_webhook_events_bring_an_outbox_row(db, events):
    events.event("c1", "call_started", direction="inbound")
    events.event("c1", "ivr_choice", key="1")
    events.event("c1", "ended", outcome="abandoned", reason="caller_hangup")
    await events.flush()

    rows = await db.run(lambda s: [(r.type, r.data) for r in s.scalars(select(WebhookOutbox)
                                                                       .order_by(WebhookOutbox.id))])
    assert [t for t, _ in rows] == ["call.started", "call.ended"]
    assert rows[1][1]["outcome"] == "abandoned"


async def test_given_an_outbox_row_that_cannot_be_written_when_logged_then_its_call_event_is_not_either(db):
    def broken(table, values):  # an outbox row the database refuses (type is NOT NULL)
        return (Row(outbox.OUTBOX, {**outbox.outbox_values(_event(), values["ts"]), "type": None}),)
    log = EventLog(db, companion=broken)
    await log.start()
    log.event("c1", "call_started")
    await log.close()

    assert await counts(db) == (0, 0)
    assert log.failures == 1


async def test_given_a_session_write_when_rolled_back_then_neither_event_nor_outbox_row_remains(db):
    log = EventLog(db, companion=outbox.companion)

    def write_then_fail(session):
        log.add_event(session, "c1", "disposition", agent_id=2, code="info_given", disposition_id=1)
        raise RuntimeError("the wrap-up failed after its event")
    with pytest.raises(RuntimeError):
        await db.run(write_then_fail)
    assert await counts(db) == (0, 0)

    await db.run(lambda s: log.add_event(s, "c1", "disposition", agent_id=2, code="info_given",
                                         disposition_id=1))
    assert await counts(db) == (1, 1)


def _event() -> Event:
    return Event("call.started", {"call_id": "c1"}, {})


async def test_given_an_audit_row_in_a_read_when_committed_or_refused_then_its_outbox_row_goes_with_it(
        db, events):
    def pop_audited(session, replayed: bool):  # as the screen pop writes it: in its own transaction
        events.add_audit(session, "screen_pop", actor_agent_id=4, call_id="c1", patient_id=12,
                         detail={"candidates": 1} | ({"replayed": True} if replayed else {}))

    await db.run(pop_audited, False)
    await db.run(pop_audited, True)  # a replay after a console reload is no new webhook event
    with audit_rows_refused(db), pytest.raises(AuditRefused):
        await db.run(pop_audited, False)

    rows = await db.run(lambda s: [(r.type, r.data) for r in s.scalars(select(WebhookOutbox))])
    assert rows == [("screen_pop", {"call_id": "c1", "agent_id": 4, "patient_id": 12, "candidates": 1})]
    assert await db.run(lambda s: s.scalar(select(func.count()).select_from(AuditEvent))) == 2

"""The outbox row commits with the row that causes it, or neither commits (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from callcenter.calls.flavour import Inbound
from callcenter.calls.services import CallIvr
from callcenter.db.models import CallEvent, WebhookOutbox
from callcenter.db.queries import AuditActor
from callcenter.eventlog import EventLog, Row
from callcenter.phones import normalize
from callcenter.screenpop.notifier import AgentNotifier
from callcenter.screenpop.services import ScreenPopService
from callcenter.webhooks import outbox
from callcenter.webhooks.events import Event

from ..audit_faults import audit_rows_refused


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


def _popped_call(patient_ids: list[int]) -> SimpleNamespace:
    return SimpleNamespace(id="p" * 32, caller=normalize("+14155550150", "US"), queue_name="general",
                           language="en", ivr=CallIvr(), flavour=Inbound(), agent=None, ended=asyncio.Event(),
                           patients=[{"id": i} for i in patient_ids])


async def test_given_a_pop_when_offered_then_one_event_with_its_audit_rows_none_on_replay_or_failure(db):
    pops = ScreenPopService(db, AgentNotifier(), on_pop=outbox.screen_pop)
    agent = SimpleNamespace(id=3, number="1001")
    call = _popped_call([12, 15])

    await pops.offer(call, agent)
    call.agent, call.state = agent, SimpleNamespace(name="offering")
    await pops.replay(call, agent, AuditActor(user_id=1))  # a console reloaded: audited, no new event
    with audit_rows_refused(db):
        await pops.offer(_popped_call([12]), agent)  # rings without patients, and no event

    rows = await db.run(lambda s: [(r.type, r.data) for r in s.scalars(select(WebhookOutbox))])
    assert rows == [("screen_pop", {"call_id": "p" * 32, "agent_id": 3, "patient_ids": [12, 15],
                                    "candidates": 2})]

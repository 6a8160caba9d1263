"""Deliveries from the outbox to a real HTTP receiver (an aiohttp server on a socket of this test), on SQLite
and PostgreSQL: signed, retried after a 500 and after a dropped connection, dead after max_attempts,
re-sent, resumed after a restart, never sent by two workers."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callcenter.db.models import WebhookDelivery, WebhookOutbox
from callcenter.db.queries import AuditActor
from callcenter.db.types import utcnow
from callcenter.eventlog import EventLog
from callcenter.webhooks import outbox
from callcenter.webhooks.services import SubscriptionForm, WebhookService
from callcenter.webhooks.store import address, claim, purge
from callcenter.webhooks.worker import DeliveryWorker

from .conftest import until
from .receiver import CLOSE, SECRET


@pytest.fixture
async def events(db):
    log = EventLog(db, companion=outbox.companion)
    await log.start()
    yield log
    await log.close()


@pytest.fixture
def service(db):
    return WebhookService(db)


async def subscribe(service, receiver, events=("call.started", "call.ended"), scopes=(), name="his"):
    form = SubscriptionForm(name=name, url=receiver.url, events=list(events), scopes=list(scopes),
                            secret=SECRET)
    return await service.create(form, actor=AuditActor())


async def calls(events, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        events.event(f"call{i:04d}", "call_started", queue_name="general", direction="inbound")
    await events.flush()


async def statuses(db) -> dict[str, int]:
    def count(session):
        return dict(session.execute(select(WebhookDelivery.status, func.count())
                                    .group_by(WebhookDelivery.status)).all())
    return await db.run(count)


@pytest.fixture
async def worker(db, settings):
    workers: list[DeliveryWorker] = []

    def make(name: str = "w1", **kwargs) -> DeliveryWorker:
        w = DeliveryWorker(db, settings, name=name, **kwargs)
        workers.append(w)
        w.start()
        return w
    yield make
    for w in workers:
        await w.stop()


async def test_given_a_subscription_when_a_call_starts_then_the_receiver_gets_a_signed_event_with_ids_only(
        db, events, service, receiver, worker):
    await subscribe(service, receiver)
    worker()

    await calls(events, 1)
    await receiver.wait_for(lambda r: len(r.delivered()) == 1)

    got = receiver.delivered()[0]
    assert got.verifies()
    assert not got.verifies("another-secret-entirely")
    assert got.type == "call.started" and got.payload["type"] == "call.started"
    assert got.payload["id"] == got.event
    assert got.payload["data"] == {"call_id": "call0000", "agent_id": None, "queue": "general",
                                   "direction": "inbound"}
    await until(lambda: _eq(statuses(db), {"delivered": 1}))


async def _eq(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_given_a_receiver_answering_500_then_closing_when_delivered_then_retried_until_200(
        db, events, service, receiver, worker):
    await subscribe(service, receiver)
    receiver.answers = [500, CLOSE]
    worker()

    await calls(events, 1)
    await receiver.wait_for(lambda r: len(r.delivered()) == 1)

    assert [r.answered for r in receiver.received] == [500, CLOSE, 200]
    assert len({r.delivery for r in receiver.received}) == 1
    assert all(r.verifies() for r in receiver.received)
    await until(lambda: _eq(statuses(db), {"delivered": 1}))
    delivery = (await service.deliveries())[0]
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200


async def test_given_a_receiver_that_always_fails_when_max_attempts_spent_then_dead_and_resend_delivers(
        db, events, service, receiver, worker):
    await subscribe(service, receiver)
    receiver.default = 503
    worker()

    await calls(events, 1)
    await until(lambda: _eq(statuses(db), {"dead": 1}))
    assert len(receiver.received) == 3  # settings.max_attempts
    dead = (await service.deliveries(status="dead"))[0]
    assert dead["last_status_code"] == 503 and dead["last_error"] == "HTTP 503"

    receiver.default = 200
    await service.resend(dead["id"], actor=AuditActor())
    await receiver.wait_for(lambda r: len(r.delivered()) == 1)

    assert receiver.delivered()[0].body == receiver.received[0].body  # the same event, byte for byte
    await until(lambda: _eq(statuses(db), {"delivered": 1}))


async def test_given_two_subscriptions_when_events_happen_then_each_gets_only_its_types_and_scope(
        db, events, service, receiver, worker):
    await subscribe(service, receiver, events=["disposition"], name="ids-only")
    await subscribe(service, receiver, events=["disposition", "call.ended"], scopes=["clinical"],
                    name="clinical")
    worker()

    events.event("c1", "disposition", agent_id=7, code="info_given", disposition_id=3, callback_id=None)
    await events.flush()
    await receiver.wait_for(lambda r: len(r.delivered()) == 2)

    bodies = sorted((r.payload for r in receiver.delivered()), key=lambda p: "clinical" in p["data"])
    assert bodies[0]["data"] == {"call_id": "c1", "agent_id": 7, "queue": None, "disposition_id": 3}
    assert bodies[1]["data"]["clinical"] == {"code": "info_given"}
    assert bodies[0]["id"] == bodies[1]["id"]


async def test_given_a_backlog_when_the_worker_restarts_mid_way_then_every_event_is_delivered_once(
        db, events, service, receiver, worker):
    await subscribe(service, receiver, events=["call.started"])
    receiver.delay = 0.02
    await calls(events, 30)
    first = worker("before-restart")

    await receiver.wait_for(lambda r: len(r.delivered()) >= 8)
    await first.stop()  # finishes what it is sending, hands back the rest
    during = len(receiver.delivered())
    assert during < 30
    worker("after-restart")
    await receiver.wait_for(lambda r: len(r.delivered()) == 30)

    ids = [r.delivery for r in receiver.delivered()]
    assert len(set(ids)) == 30  # none sent twice
    assert sorted(json.loads(r.body)["data"]["call_id"] for r in receiver.delivered()) == \
        [f"call{i:04d}" for i in range(30)]
    await until(lambda: _eq(statuses(db), {"delivered": 30}))


async def test_given_a_worker_killed_while_sending_when_its_lease_ends_then_another_sends_what_it_held(
        db, events, service, receiver, settings, worker):
    settings.lease_seconds = 0.5
    await subscribe(service, receiver, events=["call.started"])
    receiver.delay = 5.0  # the killed worker's requests never get their answer
    await calls(events, 3)
    killed = DeliveryWorker(db, settings, name="killed")
    killed.start()
    await receiver.wait_for(lambda r: len(r.received) == 3)
    killed._task.cancel()  # as if the process died: no release of its claims
    await asyncio.gather(killed._task, return_exceptions=True)

    receiver.delay = 0.0
    worker("survivor")
    await receiver.wait_for(lambda r: len(r.delivered()) == 3)
    await until(lambda: _eq(statuses(db), {"delivered": 3}))


async def test_given_two_workers_on_one_backlog_when_both_run_then_no_delivery_is_sent_twice(
        db, events, service, receiver, worker):
    await subscribe(service, receiver, events=["call.started"])
    receiver.delay = 0.01
    await calls(events, 40)
    worker("one")
    worker("two")

    await receiver.wait_for(lambda r: len(r.delivered()) == 40, timeout=20)

    assert len({r.delivery for r in receiver.received}) == len(receiver.received) == 40
    await until(lambda: _eq(statuses(db), {"delivered": 40}))


async def test_given_no_subscription_when_events_are_addressed_then_the_outbox_empties(db, events, worker):
    await calls(events, 3)
    worker()

    async def empty() -> bool:
        return await db.run(lambda s: s.scalar(select(func.count()).select_from(WebhookOutbox))) == 0
    await until(empty)
    assert await statuses(db) == {}


async def test_given_old_settled_and_pending_deliveries_when_purged_then_only_old_settled_ones_go(
        db, service, receiver):
    sub = await subscribe(service, receiver)
    now = utcnow()

    def add(session):
        for status, age in (("delivered", 40), ("dead", 40), ("pending", 40), ("delivered", 1)):
            session.add(WebhookDelivery(
                subscription_id=sub["id"], event_id=f"{status}{age}", type="call.ended", body="{}",
                status=status, attempts=1, created_at=now - timedelta(days=age),
                next_attempt_at=now + timedelta(days=1)))
    await db.run(add)

    assert await db.run(purge, now - timedelta(days=30)) == 2
    left = await db.run(lambda s: sorted(s.scalars(select(WebhookDelivery.event_id))))
    assert left == ["delivered1", "pending40"]


async def test_given_a_paused_subscription_when_its_delivery_is_due_then_it_waits_until_active_again(
        db, events, service, receiver, worker):
    sub = await subscribe(service, receiver, events=["call.started"])
    await calls(events, 1)
    assert await db.run(address, 500) == 1
    paused = SubscriptionForm(name="his", url=receiver.url, events=["call.started"], secret=SECRET,
                              active=False)
    await service.update(sub["id"], paused, actor=AuditActor())

    later = utcnow() + timedelta(hours=1)
    assert await db.run(claim, "probe", later, timedelta(seconds=30), 10) == []
    await calls(events, 1, start=1)  # happens while paused: not for this subscription
    await db.run(address, 500)
    assert await statuses(db) == {"pending": 1}

    await service.update(sub["id"], replace(paused, active=True), actor=AuditActor())
    worker()
    await receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert receiver.delivered()[0].payload["data"]["call_id"] == "call0000"

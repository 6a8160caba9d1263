"""The callbacks service on a real database (SQLite and PostgreSQL): create, list most urgent first, claim
once, give back after a failed attempt, complete."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.callbacks.services import URGENT_PRIORITY, CallbackService, NewCallback
from callcenter.db.models import Agent, Callback

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
PHONE = "+15555550001"


@pytest.fixture
async def service(db):
    return CallbackService(db, clock=lambda: NOW)


async def agent_id(db, number="2001") -> int:
    def add(session):
        agent = Agent(number=number, name="Nurse Test", endpoint=f"Local/auto-{number}@agent-phones/n",
                      skills=["nurse"], languages=["en"])
        session.add(agent)
        session.flush()
        return agent.id
    return await db.run(add)


def later(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


async def test_given_scheduled_and_urgent_callbacks_when_listed_then_urgent_first_then_due_soonest(service):
    routine_soon = await service.create(NewCallback(PHONE, later(5), "results", queue_name="nurse"))
    routine_later = await service.create(NewCallback(PHONE, later(60), "results", queue_name="nurse"))
    urgent = await service.create(NewCallback(PHONE, later(30), "nurse_now", queue_name="nurse",
                                              urgent=True))
    await service.create(NewCallback(PHONE, later(1), "other queue", queue_name="appointments"))

    listed = await service.list(agent_id=None, queues=["nurse"])

    assert [cb.id for cb, _ in listed] == [urgent, routine_soon, routine_later]
    assert listed[0][0].priority == URGENT_PRIORITY and listed[1][0].priority == 0


async def test_given_one_agents_callback_when_another_agent_lists_then_it_is_not_theirs(service, db):
    mine, theirs = await agent_id(db, "2001"), await agent_id(db, "2002")
    await service.create(NewCallback(PHONE, later(5), "mine", agent_id=mine))

    assert len(await service.list(agent_id=mine, queues=[])) == 1
    assert await service.list(agent_id=theirs, queues=["nurse"]) == []


async def test_given_a_callback_when_two_claim_it_at_once_then_exactly_one_wins(service, db):
    one, two = await agent_id(db, "2001"), await agent_id(db, "2002")
    callback = await service.create(NewCallback(PHONE, NOW, "urgent", queue_name="nurse", urgent=True,
                                                autodial=True))

    won = await asyncio.gather(service.claim(callback, by_agent_id=one),
                               service.claim(callback, by_agent_id=two))

    assert sorted(won) == [False, True]
    assert await service.due_to_dial() == []  # being worked: the dialer leaves it alone


async def test_given_a_claimed_callback_when_the_attempt_fails_then_it_stays_owed_and_is_due_again(service):
    callback = await service.create(NewCallback(PHONE, NOW, "urgent", queue_name="nurse", urgent=True,
                                                autodial=True))
    assert [cb.id for cb in await service.due_to_dial()] == [callback]
    assert await service.claim(callback)

    attempts = await service.retry(callback, result="no_answer", next_at=later(2))

    row = await service.get(callback)
    assert (attempts, row.status, row.last_result, row.claimed_at) == (1, "scheduled", "no_answer", None)
    assert row.due_at == later(2) and await service.due_to_dial() == []  # not before the retry time
    assert [cb.id for cb, _ in await service.list(agent_id=None, queues=["nurse"])] == [callback]


async def test_given_a_callback_when_completed_then_it_leaves_the_list_and_cannot_be_claimed_or_closed_again(
        service):
    callback = await service.create(NewCallback(PHONE, NOW, "urgent", queue_name="nurse", urgent=True))

    assert await service.complete(callback) is True

    row = await service.get(callback)
    assert (row.status, row.completed_at, row.attempts, row.last_result) == ("done", NOW, 1, "answered")
    assert await service.list(agent_id=None, queues=["nurse"]) == []
    assert await service.claim(callback) is False
    assert await service.complete(callback, status="cancelled") is False


async def test_given_a_closing_status_that_does_not_exist_when_completed_then_it_is_refused(service):
    callback = await service.create(NewCallback(PHONE, NOW, "x"))
    with pytest.raises(ValueError):
        await service.complete(callback, status="scheduled")
    assert (await service.get(callback)).status == "scheduled"


async def test_given_a_row_written_without_the_new_columns_when_read_then_it_is_routine_and_unclaimed(
        db, service):
    await db.run(lambda s: s.add(Callback(phone_e164=PHONE, due_at=NOW, reason="old",
                                          queue_name="nurse")))
    [(row, _)] = await service.list(agent_id=None, queues=["nurse"])
    assert (row.priority, row.attempts, row.claimed_at, row.urgent) == (0, 0, None, False)


async def test_given_an_urgent_callback_not_to_dial_when_the_dialer_asks_then_it_is_left_to_a_person(service):
    await service.create(NewCallback(PHONE, NOW, "campaign red flag", queue_name="nurse", urgent=True))
    assert await service.due_to_dial() == []


async def test_given_callbacks_the_dialer_held_when_it_restarts_then_they_are_owed_again_but_a_persons_stay(
        service, db):
    nurse = await agent_id(db, "2001")
    dialed = await service.create(NewCallback(PHONE, NOW, "urgent", queue_name="nurse", urgent=True,
                                              autodial=True))
    taken = await service.create(NewCallback(PHONE, NOW, "urgent", queue_name="nurse", urgent=True,
                                             autodial=True))
    assert await service.claim(dialed) and await service.claim(taken, by_agent_id=nurse)

    assert await service.release_dialer_claims() == 1

    assert [cb.id for cb in await service.due_to_dial()] == [dialed]

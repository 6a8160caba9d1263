"""QueueService: matching callers to agents, agent states, and what it writes to the database."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from callcenter.db.models import Agent, CallEvent
from callcenter.queues.exceptions import AgentNotFound, InvalidAgentTransition, QueueNotFound
from callcenter.queues.services import AgentRuntime, QueueService
from callcenter.queues.store import MemoryQueueStore


@dataclass(eq=False)
class FakeCall:
    id: str
    language: str = "en"
    offers: list[str] = field(default_factory=list)
    log: list[str] | None = None  # shared by several calls: the order in which they were offered

    def offer(self, agent: AgentRuntime) -> None:
        self.offers.append(agent.number)
        if self.log is not None:
            self.log.append(self.id)


async def make_available(queues, *numbers: str) -> None:
    """In this order, so the first is the longest idle (timestamps are microseconds apart at least)."""
    for number in numbers:
        queues.request_state(number, "available")
        await asyncio.sleep(0.002)


def waiting_ids(queues, queue: str) -> list[str]:
    return [entry.call.id for entry in queues.waiting(queue)]


async def test_given_two_free_agents_with_the_skill_when_caller_queues_then_longest_idle_gets_the_offer(
        queues):
    await make_available(queues, "1002", "1001")
    call = FakeCall("c1")

    queues.enqueue(call, "general")

    assert call.offers == ["1002"]
    assert queues.agent("1002").state == "ringing"
    assert queues.agent("1002").call_id == "c1"
    assert queues.agent("1001").state == "available"
    assert queues.waiting("general") == []


async def test_given_longest_idle_agent_lacks_callers_language_when_queued_then_agent_speaking_it_wins(
        queues):
    await make_available(queues, "1001", "1002")  # 1001 (en only) has waited longer
    spanish = FakeCall("c-es", language="es")

    queues.enqueue(spanish, "general")

    assert spanish.offers == ["1002"]


async def test_given_no_agent_speaks_callers_language_when_queued_then_longest_idle_still_gets_it(queues):
    await make_available(queues, "1001", "1002")
    french = FakeCall("c-fr", language="fr")

    queues.enqueue(french, "general")

    assert french.offers == ["1001"]


async def test_given_callers_of_mixed_priority_when_agent_frees_up_then_priority_then_arrival_order(queues):
    offered: list[str] = []
    for call_id, priority in (("first", 0), ("urgent", 5), ("third", 0)):
        queues.enqueue(FakeCall(call_id, log=offered), "general", priority)
    assert waiting_ids(queues, "general") == ["urgent", "first", "third"]

    for _ in range(3):
        queues.request_state("1001", "logged_out")  # from ringing: hang up the phone, then back to work
        queues.request_state("1001", "available")

    assert offered == ["urgent", "first", "third"]
    assert queues.waiting("general") == []


async def test_given_callers_waiting_when_one_is_requeued_to_the_front_then_it_goes_first(queues):
    queues.enqueue(FakeCall("a"), "general")
    queues.enqueue(FakeCall("b"), "general")
    requeued = FakeCall("r")

    queues.enqueue(requeued, "general", front=True)

    assert waiting_ids(queues, "general") == ["r", "a", "b"]
    assert queues.position(requeued) == 1
    await make_available(queues, "1001")
    assert requeued.offers == ["1001"]


async def test_given_higher_priority_waiting_when_caller_requeued_to_front_then_priority_still_first(queues):
    queues.enqueue(FakeCall("urgent"), "general", 5)

    queues.enqueue(FakeCall("r"), "general", 0, front=True)

    assert waiting_ids(queues, "general") == ["urgent", "r"]


async def test_given_two_offers_ring_out_in_arrival_order_when_both_requeued_then_arrival_order_kept(queues):
    # What Offering does on ring-no-answer: pause the agent, requeue the caller with front=True ("the caller
    # keeps their place"). Callers wait in priority order, then arrival order: the earlier arrival stays
    # ahead.
    await make_available(queues, "1001", "1002")
    earlier, later = FakeCall("earlier"), FakeCall("later")
    queues.enqueue(earlier, "general")
    queues.enqueue(later, "general")
    queues.enqueue(FakeCall("new"), "general")
    for call in (earlier, later):
        queues.set_state(queues.agent(call.offers[0]), "paused", "ring-no-answer")
        queues.enqueue(call, "general", front=True)

    assert waiting_ids(queues, "general") == ["earlier", "later", "new"]


async def test_given_requeued_caller_waited_longest_when_agent_with_both_skills_frees_up_then_gets_offer(
        queues):
    # Across queues, "the caller who has waited longest (at equal priority) goes first". A ring-out requeue
    # must not reset how long the caller has waited.
    both = queues.agent("1001")
    both.skills = frozenset({"general", "nurse"})
    await make_available(queues, "1001")
    long_waiter = FakeCall("long")
    queues.enqueue(long_waiter, "general")
    queues.set_state(both, "paused", "ring-no-answer")
    await asyncio.sleep(0.002)
    newcomer = FakeCall("newcomer")
    queues.enqueue(newcomer, "nurse")
    await asyncio.sleep(0.002)
    queues.enqueue(long_waiter, "general", front=True)

    queues.request_state("1001", "available")

    assert long_waiter.offers == ["1001", "1001"]
    assert newcomer.offers == []


async def test_given_only_agent_without_the_skill_is_free_when_caller_queues_then_no_offer(queues):
    await make_available(queues, "1003")  # nurse skill only
    call = FakeCall("c1")

    queues.enqueue(call, "general")

    assert call.offers == []
    assert queues.position(call) == 1
    assert queues.agent("1003").state == "available"


async def test_given_nurse_caller_and_general_agents_free_when_nurse_frees_up_then_nurse_gets_it(queues):
    await make_available(queues, "1001", "1002")
    call = FakeCall("n1")
    queues.enqueue(call, "nurse")
    assert call.offers == []

    await make_available(queues, "1003")

    assert call.offers == ["1003"]


async def test_given_skilled_agents_paused_or_logged_out_when_caller_queues_then_no_offer_until_available(
        queues):
    queues.request_state("1001", "paused", "lunch")  # 1002 stays logged out
    call = FakeCall("c1")

    queues.enqueue(call, "general")
    assert call.offers == []

    queues.request_state("1001", "available")
    assert call.offers == ["1001"]


async def test_given_unknown_queue_when_enqueued_then_queue_not_found(queues):
    with pytest.raises(QueueNotFound):
        queues.enqueue(FakeCall("c1"), "no-such-queue")


async def test_given_waiting_caller_when_removed_then_never_offered(queues):
    call = FakeCall("c1")
    queues.enqueue(call, "general")

    assert queues.remove(call) is True
    await make_available(queues, "1001")

    assert call.offers == []
    assert queues.remove(call) is False


@pytest.mark.parametrize("state", ["ringing", "on_call", "wrapup", "sleeping"])
async def test_given_agent_when_requesting_call_driven_or_unknown_state_then_refused(queues, state):
    with pytest.raises(InvalidAgentTransition) as caught:
        queues.request_state("1001", state)

    assert caught.value.wanted == state
    assert queues.agent("1001").state == "logged_out"


async def test_given_agent_ringing_when_requesting_available_or_paused_then_refused(queues):
    await make_available(queues, "1001")
    queues.enqueue(FakeCall("c1"), "general")

    for state in ("available", "paused"):
        with pytest.raises(InvalidAgentTransition):
            queues.request_state("1001", state)

    assert queues.agent("1001").state == "ringing"


async def test_given_agent_ringing_when_logging_out_then_allowed(queues):
    await make_available(queues, "1001")
    queues.enqueue(FakeCall("c1"), "general")

    agent = queues.request_state("1001", "logged_out")

    assert agent.state == "logged_out" and agent.call_id is None


@pytest.mark.parametrize(("start", "wanted"), [("logged_out", "on_call"), ("logged_out", "wrapup"),
                                                ("available", "on_call"), ("paused", "wrapup")])
async def test_given_agent_state_when_impossible_transition_then_invalid_agent_transition(
        queues, start, wanted):
    agent = queues.agent("1001")
    if start != "logged_out":
        queues.request_state("1001", start)

    with pytest.raises(InvalidAgentTransition) as caught:
        queues.set_state(agent, wanted, call_id="c1")

    assert (caught.value.current, caught.value.wanted) == (start, wanted)
    assert agent.state == start


async def test_given_unknown_agent_when_requesting_state_then_agent_not_found(queues):
    with pytest.raises(AgentNotFound):
        queues.request_state("9999", "available")


async def test_given_agent_state_changes_when_flushed_then_written_as_events_and_to_agents_table(
        queues, events, seeded_db):
    agent_id = queues.agent("1001").id
    queues.request_state("1001", "available")
    queues.request_state("1001", "paused", "lunch")

    await events.flush()

    def read(session):
        logged = session.scalars(select(CallEvent).where(CallEvent.type == "agent_state",
                                                         CallEvent.agent_id == agent_id)
                                 .order_by(CallEvent.id)).all()
        row = session.get(Agent, agent_id)
        return [(e.call_id, e.data) for e in logged], (row.state, row.pause_reason)

    logged, row = await seeded_db.run(read)
    assert logged == [(None, {"state": "available", "reason": None}),
                      (None, {"state": "paused", "reason": "lunch"})]
    assert row == ("paused", "lunch")


async def test_given_call_offered_and_ended_when_flushed_then_events_carry_call_id_and_wrapup_time(
        queues, events, seeded_db):
    await make_available(queues, "1001")
    agent = queues.agent("1001")
    queues.enqueue(FakeCall("c1"), "general")
    queues.set_state(agent, "on_call", call_id="c1")
    queues.set_state(agent, "wrapup", call_id="c1")

    await events.flush()

    def read(session):
        logged = session.scalars(select(CallEvent).where(CallEvent.call_id == "c1").order_by(CallEvent.id))
        return [e.data["state"] for e in logged], session.get(Agent, agent.id)

    states, row = await seeded_db.run(read)
    assert states == ["ringing", "on_call", "wrapup"]
    assert row.state == "wrapup" and row.last_call_ended_at is not None


async def test_given_agents_in_database_when_loaded_then_all_start_logged_out(seeded_db, events, queues):
    queues.request_state("1001", "available")
    await events.flush()
    restarted = QueueService(seeded_db, events)

    await restarted.load()

    assert {a.state for a in restarted.agents.values()} == {"logged_out"}
    states = await seeded_db.run(lambda s: set(s.scalars(select(Agent.state))))
    assert states == {"logged_out"}
    assert restarted.agent("1002").skills == frozenset({"general"})
    assert restarted.agent("1002").languages == frozenset({"en", "es"})


# -- the one choice of an agent (choose_agent / claim_agent): inbound, warm transfer and progressive use it


async def test_given_longest_idle_agent_lacks_the_language_when_choosing_then_the_agent_speaking_it(queues):
    await make_available(queues, "1001", "1002")  # 1001 (en only) has waited longer

    assert queues.choose_agent("general", "es").number == "1002"
    assert queues.choose_agent("general", "en").number == "1001"
    assert queues.choose_agent("general").number == "1001", "no language known: the longest idle"


async def test_given_nobody_free_speaks_the_language_when_choosing_then_the_longest_idle(queues):
    await make_available(queues, "1002", "1001")

    assert queues.choose_agent("general", "fr").number == "1002"


async def test_given_the_agent_already_in_the_call_when_choosing_then_never_them(queues):
    await make_available(queues, "1002", "1001")
    current = queues.agent("1002")

    assert queues.choose_agent("general", "es", exclude=current).number == "1001"
    queues.request_state("1001", "paused")
    assert queues.choose_agent("general", "es", exclude=current) is None


async def test_given_free_agents_without_the_skill_or_not_available_when_choosing_then_none(queues):
    await make_available(queues, "1003")  # the nurse: no 'general' skill
    queues.request_state("1001", "paused")

    assert queues.choose_agent("general", "en") is None
    assert queues.free_agents("general") == 0
    with pytest.raises(QueueNotFound):
        queues.choose_agent("no-such-queue")


async def test_given_a_free_agent_when_claimed_then_ringing_for_the_call_and_offered_no_caller(queues):
    await make_available(queues, "1002")

    agent = queues.claim_agent("general", "es", "call-x")
    caller = FakeCall("c1")
    queues.enqueue(caller, "general")

    assert (agent.number, agent.state, agent.call_id) == ("1002", "ringing", "call-x")
    assert caller.offers == [] and waiting_ids(queues, "general") == ["c1"]


async def test_given_a_claim_given_back_when_released_then_available_and_still_longest_idle(queues):
    await make_available(queues, "1001", "1002")  # 1001 has waited longer
    agent = queues.claim_agent("general", None, "call-x")
    assert agent.number == "1001"

    queues.release_agent(agent, "call-x")

    assert agent.state == "available" and agent.call_id is None
    assert queues.choose_agent("general").number == "1001", "they kept their place"


async def test_given_an_agent_reserved_before_the_language_was_known_when_a_speaker_is_free_then_traded(
        queues):
    await make_available(queues, "1001", "1002")  # 1001 (en only) has waited longer
    first = queues.claim_agent("general", None, "call-x")

    chosen = queues.prefer_language(first, "general", "es", "call-x")

    assert (chosen.number, chosen.state, chosen.call_id) == ("1002", "ringing", "call-x")
    assert first.state == "available" and queues.choose_agent("general").number == "1001"
    assert queues.prefer_language(chosen, "general", "en", "call-x") is chosen, "1002 speaks en too"


async def test_given_queue_state_in_a_store_when_two_services_share_it_then_both_see_one_agent_state(
        seeded_db, events):
    store = MemoryQueueStore()
    first, second = QueueService(seeded_db, events, store), QueueService(seeded_db, events, store)
    await first.load()

    first.request_state("1002", "available")
    claimed = second.claim_agent("general", "es", "call-x")

    assert claimed.number == "1002"
    assert first.agent("1002").state == "ringing" and first.choose_agent("general", "es") is None

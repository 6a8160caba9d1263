"""The governing disposition of a call (issue 13): the most urgent disposition reached governs until it is
escalated as the ladder requires or a nurse lowers it with a written reason; a later, milder protocol result
never lowers it. Pure: call events built from real sessions of the shipped protocols."""
from __future__ import annotations

import itertools
from datetime import timedelta
from types import SimpleNamespace

import pytest

from callcenter.eventlog import utcnow
from callcenter.triage.escalation import governing, pending
from callcenter.triage.schema import load_ladder, load_protocols
from callcenter.triage.services import TriageSession

LADDER = load_ladder()
PROTOCOLS = load_protocols(ladder=LADDER)
ALL = sorted(PROTOCOLS)


class Call:
    """A call's event log in time order, as escalation.governing reads it."""

    def __init__(self):
        self.events: list[SimpleNamespace] = []
        self.clock = utcnow()

    def add(self, type_: str, **data) -> None:
        self.clock += timedelta(seconds=1)
        self.events.append(SimpleNamespace(type=type_, ts=self.clock, agent_id=7, data=data))

    def run(self, protocol_id: str, first_yes: int | None) -> str:
        """Run a protocol to its end: 'yes' at question `first_yes` (0-based), or 'no' to all (None)."""
        session = TriageSession.start(PROTOCOLS[protocol_id], LADDER, "en", agent_id=7)
        for index, question in enumerate(PROTOCOLS[protocol_id].questions):
            if session.current is None:
                break
            session.answer(question.id, index == first_yes, agent_id=7)
        for fact in session.facts:
            self.add(fact.type, **fact.data)
        return session.decision.disposition


def outcomes(protocol_id: str) -> list[int | None]:
    return [*range(len(PROTOCOLS[protocol_id].questions)), None]


def rank_of(call: Call) -> int:
    return LADDER[governing(call.events).disposition["disposition"]].rank


@pytest.mark.parametrize("first,second", list(itertools.product(ALL, repeat=2)))
def test_given_two_protocols_in_any_order_and_any_answers_when_run_then_governing_never_milder(first, second):
    for a, b, escalated in itertools.product(outcomes(first), outcomes(second), (False, True)):
        call = Call()
        reached = call.run(first, a)
        before = rank_of(call)
        if escalated and LADDER[reached].satisfied_by:
            call.add("escalation_performed", kind=LADDER[reached].satisfied_by[0])
        later = call.run(second, b)
        gov = governing(call.events)
        assert rank_of(call) == min(before, LADDER[later].rank), (a, b, escalated)
        if LADDER[later].rank > before:
            assert gov.milder_later and gov.milder_later[-1]["disposition"] == later
        # Owed while the most urgent one reached requires escalation and nothing that counts was done.
        most_urgent = LADDER[gov.disposition["disposition"]]
        done_for_it = escalated and LADDER[later].rank >= before
        assert gov.owed == (most_urgent.escalation_required and not done_for_it), (a, b, escalated)


def test_given_go_to_ed_when_a_second_protocol_answers_all_no_then_ed_still_governs_and_is_owed():
    call = Call()
    assert call.run("chest_pain", 3) == "emergency_department_now"
    assert call.run("headache", None) == "home_care"
    assert pending(call.events)["disposition"] == "emergency_department_now"
    assert [d["disposition"] for d in governing(call.events).milder_later] == ["home_care"]


def test_given_a_nurse_override_when_a_milder_protocol_follows_then_the_milder_result_governs():
    call = Call()
    call.run("chest_pain", 3)
    call.add("escalation_overridden", reason="known musculoskeletal strain, seen today")
    assert pending(call.events) is None
    call.run("headache", None)
    assert governing(call.events).disposition["disposition"] == "home_care"
    call.run("surgical_wound", 0)
    assert pending(call.events) is not None, "a new red flag after the override is owed again"


def test_given_an_escalated_ed_when_a_more_urgent_result_follows_then_it_is_owed_again():
    call = Call()
    call.run("chest_pain", 3)
    call.add("escalation_performed", kind="instruction_read")
    assert pending(call.events) is None
    assert call.run("headache", 0) == "call_emergency_services_now"
    assert pending(call.events)["disposition"] == "call_emergency_services_now"


def test_given_call_emergency_services_now_when_warm_transferred_to_a_nurse_then_still_owed():
    call = Call()
    assert call.run("chest_pain", 0) == "call_emergency_services_now"
    call.add("escalation_started", kind="nurse_transfer")
    call.add("transfer_completed")
    call.add("escalation_performed", kind="nurse_transfer")
    assert pending(call.events)["disposition"] == "call_emergency_services_now"


def test_given_nurse_now_when_the_instruction_is_read_then_still_owed_until_the_nurse_takes_the_call():
    call = Call()
    assert call.run("chest_pain", 4) == "nurse_now"
    call.add("escalation_performed", kind="instruction_read")
    assert pending(call.events) is not None
    call.add("escalation_started", kind="nurse_transfer")
    call.add("transfer_completed")
    gov = governing(call.events)
    assert not gov.owed and gov.satisfied_kind == "nurse_transfer"
    assert gov.satisfied.type == "transfer_completed"


def test_given_the_ladder_then_each_red_flag_names_what_satisfies_it_and_the_others_nothing():
    counts = {d.id: d.satisfied_by for d in LADDER.dispositions.values()}
    assert counts["call_emergency_services_now"] == ("emergency_conference", "instruction_read")
    assert "nurse_transfer" not in counts["call_emergency_services_now"]
    assert counts["nurse_now"] == ("nurse_transfer", "emergency_conference", "urgent_callback")
    assert "urgent_callback" not in counts["call_emergency_services_now"], "a nurse callback is no ambulance"
    assert all(bool(d.satisfied_by) == d.escalation_required for d in LADDER.dispositions.values())

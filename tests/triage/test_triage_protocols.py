"""Properties of every shipped protocol: run each one through the session model, question by question."""
from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.ivr import Enqueue, load_catalog, run_flow
from callcenter.selfservice.actions import load_inbound_flow
from callcenter.triage.schema import (
    PROTOCOLS_DIR,
    REQUIRED_LANGUAGES,
    load_ladder,
    load_protocols,
    load_suggestions,
)
from callcenter.triage.services import NO_TO_ALL, TriageSession
from callcenter.triage.suggestions import Suggester

from ..ivr.ivr_fakes import ScriptedPort

ROOT = Path(__file__).resolve().parents[2]
LADDER = load_ladder()
PROTOCOLS = load_protocols(ladder=LADDER)
ALL = sorted(PROTOCOLS.values(), key=lambda p: p.id)
ESCALATIONS = {d.id for d in LADDER.dispositions.values() if d.escalation_required}

REQUIRED = {"chest_pain", "breathing_difficulty", "stroke_signs", "severe_bleeding", "suicidal_thoughts",
            "allergic_reaction", "infant_fever", "abdominal_pain", "headache", "surgical_wound",
            "medication_side_effects", "pregnancy_bleeding"}


def texts_of(protocol):
    yield "title", protocol.title
    yield "call_back_if_worse", protocol.call_back_if_worse
    for q in protocol.questions:
        yield f"{q.id}.text", q.text
        yield f"{q.id}.advice", q.advice
    yield "if_no_to_all.advice", protocol.if_no_to_all.advice


def test_given_the_shipped_protocols_when_loaded_then_the_twelve_hotline_complaints_are_covered():
    assert REQUIRED <= set(PROTOCOLS)
    assert len(list(PROTOCOLS_DIR.glob("*.yaml"))) == len(PROTOCOLS)


def test_given_the_ladder_when_loaded_then_it_runs_from_emergency_services_to_home_care():
    assert list(LADDER.dispositions) == [
        "call_emergency_services_now", "emergency_department_now", "nurse_now", "see_doctor_today",
        "within_24_hours", "within_3_days", "within_2_weeks", "home_care"]
    assert ESCALATIONS == {"call_emergency_services_now", "emergency_department_now", "nurse_now"}
    assert LADDER["nurse_now"].action == "nurse_transfer"
    for rung in LADDER.dispositions.values():
        assert all(rung.label[lang] and rung.instruction[lang] for lang in REQUIRED_LANGUAGES)


@pytest.mark.parametrize("protocol", ALL, ids=lambda p: p.id)
def test_given_a_shipped_protocol_when_the_kth_question_is_the_first_yes_then_it_decides(protocol):
    for k, question in enumerate(protocol.questions):
        session = TriageSession.start(protocol, LADDER, "en", agent_id=7)
        for earlier in protocol.questions[:k]:
            session.answer(earlier.id, False, agent_id=7)
        session.answer(question.id, True, agent_id=7)
        assert session.current is None
        assert (session.decision.disposition, session.decision.decided_by) == (question.if_yes, question.id)
        assert [s.question.id for s in session.steps] == [q.id for q in protocol.questions[:k + 1]], \
            "no question after the first yes is shown"


@pytest.mark.parametrize("protocol", ALL, ids=lambda p: p.id)
def test_given_a_shipped_protocol_when_every_answer_is_no_then_the_no_to_all_disposition(protocol):
    session = TriageSession.start(protocol, LADDER, "es")
    for question in protocol.questions:
        session.answer(question.id, False)
    assert session.decision.disposition == protocol.if_no_to_all.disposition
    assert session.decision.decided_by == NO_TO_ALL


@pytest.mark.parametrize("protocol", ALL, ids=lambda p: p.id)
def test_given_a_shipped_protocol_when_read_in_order_then_acuity_never_rises(protocol):
    ranks = [LADDER[q.if_yes].rank for q in protocol.questions]
    ranks.append(LADDER[protocol.if_no_to_all.disposition].rank)
    assert ranks == sorted(ranks), f"{protocol.id}: {ranks}"
    assert protocol.questions[0].if_yes in ESCALATIONS, "the first question is a red flag"


@pytest.mark.parametrize("protocol", ALL, ids=lambda p: p.id)
def test_given_a_shipped_protocol_then_every_text_has_english_and_spanish_and_review_marking(protocol):
    for where, texts in texts_of(protocol):
        for lang in REQUIRED_LANGUAGES:
            assert texts.get(lang, "").strip(), f"{protocol.id}: {where} has no {lang}"
        assert texts["en"] != texts["es"] or where == "title", f"{protocol.id}: {where} is not translated"
    assert protocol.review_status == "example content, requires clinical review"
    assert protocol.source and all(protocol.source)
    assert "EXAMPLE CONTENT" in Path(protocol.path).read_text(encoding="utf-8").splitlines()[0]


@pytest.mark.parametrize("protocol", ALL, ids=lambda p: p.id)
def test_given_a_shipped_protocol_when_decided_either_way_then_the_panel_gets_advice_and_call_back(protocol):
    for language in REQUIRED_LANGUAGES:
        outcomes = [[q.id] for q in protocol.questions] + [[]]
        for yes_at in outcomes:
            session = TriageSession.start(protocol, LADDER, language)
            while session.current is not None:
                session.answer(session.current.id, session.current.id in yes_at)
            shown = session.view()["disposition"]
            assert shown["advice"] and shown["instruction"] and shown["label"]
            assert shown["call_back_if_worse"] == protocol.call_back_if_worse[language]


def ids(suggester: Suggester, *args, **kwargs) -> list[str]:
    return [s.protocol for s in suggester.suggest(*args, **kwargs)]


def test_given_the_shipped_suggestions_when_loaded_then_they_name_only_shipped_protocols():
    suggestions = Suggester(load_suggestions(protocol_ids=set(PROTOCOLS)))
    assert ids(suggestions, [{"node": "language", "key": "9"}])[0] == "chest_pain"
    assert ids(suggestions, reason="My baby has a fever")[:1] == ["infant_fever"]
    assert ids(suggestions, reason="Tengo dolor de pecho y falta de aire") == ["chest_pain",
                                                                               "breathing_difficulty"]
    assert ids(suggestions, reason="a headache") == ["headache"]
    assert "headache" not in ids(suggestions, reason="going ahead")


async def test_given_the_hotline_when_the_caller_presses_9_at_the_first_menu_then_urgent_nurse_line_at_top():
    catalog = load_catalog(ROOT / "ivr_flows" / "prompts.yaml")
    flow = load_inbound_flow(ROOT / "ivr_flows" / "hotline.yaml", catalog=catalog)
    port = ScriptedPort([(1.0, "9")])
    outcome = await run_flow(flow, port, {})
    assert outcome == Enqueue("emergency-nurse", 100)
    assert port.played[0].prompts[0] == "callcenter/emergency-key-en"
    assert ("callcenter/emergency-instruction-en", "callcenter/emergency-instruction-es") in \
        [p.prompts for p in port.played]
    assert not port.played[-1].interruptible, "the instruction is heard to the end"

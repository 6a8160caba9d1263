"""Protocol suggestions from what the caller says (issue 13, "Protocol suggestions"): everyday wording in
English and Spanish, every protocol reachable from every queue, the desk's reason field through the API."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.db.models import CallEvent
from callcenter.demo import QUEUES
from callcenter.triage.exceptions import TriageDataError
from callcenter.triage.schema import load_protocols, load_suggestions
from callcenter.triage.suggestions import Suggester, stems

# nurse_client: the desk API with a stand-in call on a nurse's desk (each test using it says noqa: F811)
from .test_triage_http import CALL_ID, NURSE, nurse_client  # noqa: F401

PROTOCOLS = load_protocols()
SUGGESTER = Suggester(load_suggestions(protocol_ids=set(PROTOCOLS)))
HOTLINE_QUEUES = ("emergency-nurse", "appointments", "results", "refills", "nurse", "complaints", "general")

# What callers really say, as an agent would type it (language of the call) -> the protocol to offer first.
EVERYDAY = [
    ("en", "I want to end my life", "suicidal_thoughts"),
    ("en", "I want to kill myself", "suicidal_thoughts"),
    ("en", "her son says he wants to kill himself", "suicidal_thoughts"),
    ("en", "she says she doesn't want to live anymore", "suicidal_thoughts"),
    ("en", "he took too many of his pills on purpose", "suicidal_thoughts"),
    ("en", "thinking about suicide", "suicidal_thoughts"),
    ("en", "my baby is hot", "infant_fever"),
    ("en", "My baby has a fever", "infant_fever"),
    ("en", "my 6 week old is burning up", "infant_fever"),
    ("en", "newborn not feeding, feels warm", "infant_fever"),
    ("en", "crushing pain in my chest", "chest_pain"),
    ("en", "I think I'm having a heart attack", "chest_pain"),
    ("en", "I can't breathe properly", "breathing_difficulty"),
    ("en", "her face is drooping and her speech is slurred", "stroke_signs"),
    ("en", "cut my hand and it won't stop bleeding", "severe_bleeding"),
    ("en", "stung by a bee and my lips are swollen", "allergic_reaction"),
    ("en", "really bad tummy ache", "abdominal_pain"),
    ("en", "worst headache of my life", "headache"),
    ("en", "my incision from the surgery is red", "surgical_wound"),
    ("en", "side effects from the new medication", "medication_side_effects"),
    ("en", "I'm 10 weeks pregnant and spotting", "pregnancy_bleeding"),
    ("es", "quiero quitarme la vida", "suicidal_thoughts"),
    ("es", "me quiero morir", "suicidal_thoughts"),
    ("es", "Ya no quiero vivir", "suicidal_thoughts"),
    ("es", "pienso en matarme", "suicidal_thoughts"),
    ("es", "mi hija dice que se quiere quitar la vida", "suicidal_thoughts"),
    ("es", "mi bebé tiene fiebre", "infant_fever"),
    ("es", "mi bebe esta muy caliente", "infant_fever"),
    ("es", "MI BEBÉ TIENE CALENTURA", "infant_fever"),
    ("es", "recién nacido con temperatura alta", "infant_fever"),
    ("es", "tengo un dolor fuerte en el pecho", "chest_pain"),
    ("es", "no puedo respirar bien", "breathing_difficulty"),
    ("es", "tiene la cara caída y no puede hablar", "stroke_signs"),
    ("es", "se cortó y está sangrando mucho", "severe_bleeding"),
    ("es", "le picó una abeja y tiene la lengua hinchada", "allergic_reaction"),
    ("es", "me duele mucho el estómago", "abdominal_pain"),
    ("es", "me duele la cabeza desde ayer", "headache"),
    ("es", "la herida de la operación está roja", "surgical_wound"),
    ("es", "efectos secundarios de la pastilla nueva", "medication_side_effects"),
    ("es", "estoy embarazada y tengo sangrado", "pregnancy_bleeding"),
]


@pytest.mark.parametrize(("language", "said", "expected"), EVERYDAY)
def test_given_everyday_wording_when_suggesting_then_the_protocol_comes_first(language, said, expected):
    suggested = SUGGESTER.suggest(reason=said, language=language)
    assert suggested and suggested[0].protocol == expected, [s.protocol for s in suggested]
    assert suggested[0].because == "said" and suggested[0].phrase


@pytest.mark.parametrize("said", ["I want to end my life", "quiero quitarme la vida"])
def test_given_the_other_language_typed_when_suggesting_then_it_is_still_found(said):
    """An agent may write an English note on a Spanish call, and the other way round."""
    for language in ("en", "es"):
        assert SUGGESTER.suggest(reason=said, language=language)[0].protocol == "suicidal_thoughts"


@pytest.mark.parametrize("said", ["going ahead with my appointment", "I need my blood test results",
                                  "quiero cambiar mi cita", "the baby's checkup next week"])
def test_given_words_about_something_else_when_suggesting_then_no_protocol_from_the_words(said):
    assert SUGGESTER.from_text(said, "en") == [] and SUGGESTER.from_text(said, "es") == []


def test_given_text_when_normalised_then_case_accents_contractions_and_endings_fold():
    assert stems("Mi BEBÉ", "es") == stems("mi bebe", "es")
    assert stems("doesn't stop bleeding", "en") == stems("does not stop bleed", "en")


@pytest.mark.parametrize("queue", HOTLINE_QUEUES)
def test_given_any_queue_and_no_words_when_suggesting_then_something_is_offered(queue):
    """The appointments and general queues used to get no suggestion at all."""
    suggested = [s.protocol for s in SUGGESTER.suggest(queue=queue, language="en")]
    assert suggested and set(suggested) <= set(PROTOCOLS)


@pytest.mark.parametrize("queue", ["appointments", "general"])
def test_given_a_routine_queue_when_the_caller_speaks_of_suicide_then_the_words_come_first(queue):
    suggested = [s.protocol for s in SUGGESTER.suggest(queue=queue, reason="wants to end his life")]
    assert suggested == ["suicidal_thoughts"]


def test_given_the_hotline_when_its_queues_are_read_then_the_test_knows_them_all():
    flow = (Path(__file__).resolve().parents[2] / "ivr_flows" / "hotline.yaml").read_text()
    assert {q[0] for q in QUEUES} <= set(HOTLINE_QUEUES)
    assert all(f"queue: {q}" in flow for q in HOTLINE_QUEUES)


def test_given_the_shipped_data_when_loaded_then_every_protocol_has_phrases_in_both_languages():
    data = load_suggestions(protocol_ids=set(PROTOCOLS))
    assert set(data.phrases) == set(PROTOCOLS)
    assert all(set(by_lang) == {"en", "es"} for by_lang in data.phrases.values())
    assert data.review_status == "example content, requires clinical review" and data.version and data.source


def test_given_a_protocol_without_phrases_when_loaded_then_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\nsource: x\nreview_status: example content, requires clinical review\n"
                    "languages: [en, es]\nphrases:\n  chest_pain: {en: [chest], es: [pecho]}\n")
    with pytest.raises(TriageDataError) as caught:
        load_suggestions(path, protocol_ids={"chest_pain", "suicidal_thoughts"})
    assert "no phrases for protocol(s) suicidal_thoughts" in caught.value.problems[0]


# -- through the desk's API ------------------------------------------------------------------------------

@pytest.mark.parametrize("queue", HOTLINE_QUEUES)
async def test_given_a_call_from_any_queue_when_each_protocol_is_started_then_every_one_runs(
        nurse_client, queue):  # noqa: F811
    services = nurse_client.services
    services.router.find(CALL_ID).queue_name = queue
    listed = await (await nurse_client.get("/api/triage/protocols", headers=nurse_client.headers)).json()
    assert {p["id"] for p in listed["protocols"]} == set(PROTOCOLS)
    for protocol in PROTOCOLS:
        resp = await nurse_client.post(f"/api/agents/{NURSE.desk}/triage", json={"protocol": protocol},
                                       headers=nurse_client.headers)
        state = await resp.json()
        assert resp.status == 200 and state["session"]["protocol"]["id"] == protocol, state
        services.triage.forget(CALL_ID)  # the next protocol on a fresh session


async def test_given_a_reason_typed_on_the_desk_when_posted_then_suggestions_follow_it_and_it_stays(
        nurse_client, caplog):  # noqa: F811
    base = f"/api/agents/{NURSE.desk}/triage"
    caplog.set_level(logging.DEBUG)
    resp = await nurse_client.post(f"{base}/reason", json={"reason": "mi bebé tiene fiebre"},
                                   headers=nurse_client.headers)
    state = await resp.json()
    assert resp.status == 200, state
    assert state["suggestions"][0] == "infant_fever"
    assert state["suggested"][0] == {"protocol": "infant_fever", "because": "said", "phrase": "bebé fiebre"}
    # the queue's and IVR's suggestions follow the caller's words
    assert "abdominal_pain" in state["suggestions"][1:]
    again = await (await nurse_client.get(base, headers=nurse_client.headers)).json()
    assert again["reason"] == "mi bebé tiene fiebre" and again["suggestions"] == state["suggestions"]
    # the session records what was offered when the protocol was started
    await nurse_client.post(base, json={"protocol": "infant_fever"}, headers=nurse_client.headers)
    await nurse_client.services.events.flush()
    started = await nurse_client.services.db.run(lambda session: session.scalar(
        select(CallEvent.data).where(CallEvent.call_id == CALL_ID, CallEvent.type == "triage_started")))
    assert started["suggested"] == state["suggestions"] and "fiebre" not in str(started)
    assert "fiebre" not in caplog.text, "the caller's words are never logged"


async def test_given_a_reason_that_is_not_text_when_posted_then_refused(nurse_client):  # noqa: F811
    for body in ({"reason": 3}, {"reason": "x" * 501}, {}):
        resp = await nurse_client.post(f"/api/agents/{NURSE.desk}/triage/reason", json=body,
                                       headers=nurse_client.headers)
        assert resp.status == 400

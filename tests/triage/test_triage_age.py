"""Questions that depend on the patient's age (issue 13): an age-dependent protocol (infant fever, headache)
asks the age first, or takes it from the record of the patient the agent confirmed, computed at the call date
in the hospital's time zone; a question for other ages is not asked; a protocol written for other ages is
flagged."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from callcenter.db.models import AuditEvent, CallEvent
from callcenter.db.queries import age_in_months
from callcenter.triage.exceptions import InvalidAge, OutOfOrder, TriageDataError
from callcenter.triage.schema import PROTOCOLS_DIR, load_ladder, load_protocol, load_protocols
from callcenter.triage.services import TriageService, TriageSession, months_of

from ..audit_faults import audit_rows_refused
from .test_triage_http import CALL_ID, NURSE, nurse_client  # noqa: F401  (the fixture; tests say F811)
from .test_triage_sessions import service  # noqa: F401  (the fixture; tests say F811)

LADDER = load_ladder()
PROTOCOLS = load_protocols(ladder=LADDER)


def asked(session: TriageSession) -> list[str]:
    """Answer 'no' to everything; the questions shown."""
    while session.current is not None:
        session.answer(session.current.id, False)
    return [step.question.id for step in session.steps]


@pytest.mark.parametrize(("born", "today", "months"), [
    (date(2026, 9, 5), date(2026, 12, 4), 2),    # the day before: still under 3 months
    (date(2026, 9, 5), date(2026, 12, 5), 3),    # the calendar moved on: 3 months
    (date(2026, 1, 31), date(2026, 2, 28), 0),   # no 31 February: the month is not complete
    (date(2026, 1, 31), date(2026, 3, 1), 1),
    (date(1976, 12, 5), date(2026, 12, 4), 49 * 12 + 11),
    (date(1976, 12, 5), date(2026, 12, 5), 50 * 12),
    (date(2024, 2, 29), date(2025, 2, 28), 11),
])
def test_given_a_date_of_birth_when_the_age_is_computed_then_whole_calendar_months(born, today, months):
    assert age_in_months(born, today) == months


@pytest.mark.parametrize(("value", "unit", "months"), [
    (6, "weeks", 1), (12, "weeks", 2), (13, "weeks", 2), (14, "weeks", 3), (89, "days", 2), (2, "months", 2),
    (54, "years", 648)])
def test_given_an_age_as_a_caller_says_it_when_converted_then_whole_months_rounded_down(value, unit, months):
    assert months_of(value, unit) == months


@pytest.mark.parametrize(("value", "unit"), [(-1, "years"), (3, "decades"), ("6", "weeks"), (True, "years")])
def test_given_a_bad_age_when_converted_then_refused(value, unit):
    with pytest.raises(InvalidAge):
        months_of(value, unit)


@pytest.mark.parametrize(("months", "temples_asked"), [(49 * 12 + 11, False), (50 * 12, True), (None, True)])
def test_given_the_age_when_headache_is_run_then_the_temple_question_only_from_50(months, temples_asked):
    session = TriageSession.start(PROTOCOLS["headache"], LADDER, "en", age_months=months)
    shown = asked(session)
    assert ("temples_or_jaw" in shown) is temples_asked
    assert shown[:2] == ["thunderclap", "neurological_signs"]
    assert session.decision.disposition == "home_care"


@pytest.mark.parametrize(("months", "outside"), [(1, False), (2, False), (3, True), (48, True)])
def test_given_the_age_when_infant_fever_starts_then_other_ages_are_flagged_not_refused(months, outside):
    session = TriageSession.start(PROTOCOLS["infant_fever"], LADDER, "en", age_months=months)
    age = session.view()["age"]
    assert (age["months"], age["source"], age["outside"]) == (months, "record", outside)
    assert age["protocol_ages"] == "under 3 months"
    assert session.current.id == "unresponsive_or_fit", "every question is still asked"


def test_given_a_protocol_without_age_when_started_then_no_age_step(service):  # noqa: F811
    session = service.start("call-1", "chest_pain", "en", age_months=30 * 12)
    assert session.view()["age"] is None and session.view()["state"] == "asking"
    assert "triage_age" not in [r.type for r in service.events.rows]


def test_given_no_record_when_the_desk_starts_headache_then_the_age_is_asked_first(service):  # noqa: F811
    session = service.start("call-1", "headache", "es")
    view = session.view()
    assert view["state"] == "age" and view["current"] is None
    assert view["age"]["question"] == "¿Qué edad tiene la persona con dolor de cabeza?"
    with pytest.raises(OutOfOrder):
        service.answer("call-1", "thunderclap", False)
    service.give_age("call-1", months_of(62, "years"), agent_id=2)
    assert session.current.id == "thunderclap"
    with pytest.raises(OutOfOrder):
        service.give_age("call-1", 5)
    age_event = next(r for r in service.events.rows if r.type == "triage_age")
    assert age_event.data | {"version": 0} == {"protocol": "headache", "version": 0, "age_months": 744,
                                               "source": "asked"}
    while session.current is not None:  # through the service: every answer recorded
        service.answer("call-1", session.current.id, False)
    assert "temples_or_jaw" in [step.question.id for step in session.steps]

    service.forget("call-1")
    replayed = service.resume("call-1", service.events.rows)
    assert replayed.view() == session.view() and replayed.age == session.age


def test_given_the_age_asked_when_a_reload_replays_the_record_before_it_then_still_asking(service):  # noqa: F811
    service.start("call-1", "infant_fever", "en")
    service.forget("call-1")
    replayed = service.resume("call-1", service.events.rows)
    assert replayed.awaiting_age and replayed.view()["state"] == "age"


# -- through the desk's API: the record of the confirmed patient --------------------------------------------

async def confirm_identity(client, patient_id: int) -> None:
    client.services.events.event(CALL_ID, "identity_confirmed", agent_id=None, patient_id=patient_id)
    await client.services.events.flush()


@pytest.mark.parametrize(("now", "temples_asked"), [
    # born 2 January 1970; the hospital is in Los Angeles: 03:00 UTC on 2 January is still 1 January there
    (datetime(2020, 1, 2, 3, 0, tzinfo=UTC), False),
    (datetime(2020, 1, 2, 9, 0, tzinfo=UTC), True),
])
async def test_given_a_confirmed_patient_when_headache_starts_then_age_from_the_record_at_the_call_date(
        nurse_client, now, temples_asked):  # noqa: F811
    services = nurse_client.services
    services.cfg.site.time_zone = "America/Los_Angeles"
    services.triage.clock = lambda: now
    await confirm_identity(nurse_client, nurse_client.patient_ids[0])
    base = f"/api/agents/{NURSE.desk}/triage"

    state = await (await nurse_client.post(base, json={"protocol": "headache"},
                                           headers=nurse_client.headers)).json()

    assert state["session"]["state"] == "asking", "no age step: the record gave it"
    assert state["session"]["age"]["source"] == "record"
    assert state["session"]["age"]["months"] == (600 if temples_asked else 599)
    shown = []
    while state["session"]["current"]:
        shown.append(state["session"]["current"]["id"])
        state = await (await nurse_client.post(f"{base}/answer", headers=nurse_client.headers, json={
            "question": shown[-1], "answer": "no"})).json()
    assert ("temples_or_jaw" in shown) is temples_asked
    await services.events.flush()
    audits = await services.db.run(lambda s: s.scalars(select(AuditEvent).where(
        AuditEvent.action == "triage_patient_age")).all())
    assert [(a.patient_id, a.call_id) for a in audits] == [(nurse_client.patient_ids[0], CALL_ID)]
    assert "1970" not in str([a.detail for a in audits]), "the date of birth is read, not copied"


async def test_given_audit_rows_refused_when_an_age_dependent_triage_starts_then_error_and_no_age_read(
        nurse_client):  # noqa: F811
    services = nurse_client.services
    await confirm_identity(nurse_client, nurse_client.patient_ids[0])
    base = f"/api/agents/{NURSE.desk}/triage"

    with audit_rows_refused(services.db):
        refused = await nurse_client.post(base, json={"protocol": "headache"}, headers=nurse_client.headers)

    assert refused.status == 500 and "months" not in await refused.text()
    assert CALL_ID not in services.triage.sessions, "no triage started on an age that left no audit row"
    state = await (await nurse_client.post(base, json={"protocol": "headache"},
                                           headers=nurse_client.headers)).json()
    assert state["session"]["age"]["source"] == "record"
    audits = await services.db.run(lambda s: s.scalars(select(AuditEvent).where(
        AuditEvent.action == "triage_patient_age")).all())
    assert [(a.actor_agent_id, a.actor_user_id is not None) for a in audits] == [
        (services.queues.agent(NURSE.desk).id, True)]


async def test_given_no_confirmed_patient_when_infant_fever_starts_then_asked_and_the_record_is_not_read(
        nurse_client):  # noqa: F811
    base = f"/api/agents/{NURSE.desk}/triage"
    state = await (await nurse_client.post(base, json={"protocol": "infant_fever"},
                                           headers=nurse_client.headers)).json()
    assert state["session"]["state"] == "age"
    resp = await nurse_client.post(f"{base}/age", json={"value": "six", "unit": "weeks"},
                                   headers=nurse_client.headers)
    assert resp.status == 400
    state = await (await nurse_client.post(f"{base}/age", json={"value": 6, "unit": "weeks"},
                                           headers=nurse_client.headers)).json()
    assert state["session"]["age"] | {"question": None} == {
        "question": None, "months": 1, "source": "asked", "protocol_ages": "under 3 months", "outside": False}
    assert state["session"]["current"]["id"] == "unresponsive_or_fit"
    await nurse_client.services.events.flush()
    rows = await nurse_client.services.db.run(lambda s: s.scalars(select(AuditEvent.action)).all())
    assert "triage_patient_age" not in rows
    events = await nurse_client.services.db.run(lambda s: s.scalars(
        select(CallEvent.type).where(CallEvent.call_id == CALL_ID)).all())
    assert events.count("triage_age") == 1


def test_given_the_service_when_built_from_files_then_age_dependent_protocols_are_infant_fever_and_headache():
    assert sorted(p.id for p in PROTOCOLS.values() if p.age_dependent) == ["headache", "infant_fever"]
    assert TriageService  # the service that asks (see above)


def test_given_ages_without_an_age_question_or_with_bad_ages_when_loaded_then_file_and_line_errors(tmp_path):
    text = (PROTOCOLS_DIR / "headache.yaml").read_text()
    no_question = tmp_path / "no_question.yaml"
    kept = [line for line in text.splitlines() if not line.startswith("age_question")]
    no_question.write_text("\n".join(kept))
    with pytest.raises(TriageDataError) as caught:
        load_protocol(no_question, LADDER)
    assert "age_question: required" in caught.value.problems[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("ages: {from_years: 50}", "ages: {from_years: 50, under_years: 40}"))
    with pytest.raises(TriageDataError) as caught:
        load_protocol(bad, LADDER)
    assert "'under' age must be above the 'from' age" in caught.value.problems[0]
    assert str(bad) in caught.value.problems[0]

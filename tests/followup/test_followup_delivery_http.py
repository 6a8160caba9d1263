"""The follow-up questionnaire over HTTP (no Asterisk; SQLite and PostgreSQL): the agent-guided form on a call
placed on the agent's desk by hand, and the paper sheet (PDF read back, typed-in answers)."""
from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from callcenter.calls.flavour import Inbound
from callcenter.calls.services import CallIvr
from callcenter.db.models import (
    AuditEvent,
    CarePlan,
    CarePlanFollowUp,
    FollowUpAnswer,
    FollowUpResponse,
    Patient,
    User,
)
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.main import build, init_app

from ..browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in

AGENT = ROLE_USERS["agent"]
CALL_ID = "f" * 32
WOUND = "post_surgery_wound_check"


async def load_shipped(services) -> None:
    bank = load_bank()
    items = [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()]
    await services.questionnaires.load(bank, items)


def add_patient(session) -> int:
    patient = Patient(mrn="MRN-FU1", given_name="Olga", family_name="Petrova", date_of_birth=date(1951, 3, 9),
                      sex="F")
    session.add(patient)
    session.flush()
    return patient.id


@pytest.fixture
async def client(tmp_path, database_url, aiohttp_client, openapi_conformance):
    seed_role_users(database_url)
    services = build(console_config(tmp_path, database_url))
    app = init_app(services.cfg, services, ari=False)
    openapi_conformance.watch(app)
    client = await aiohttp_client(app)
    token = await sign_in(client, AGENT.username)
    await load_shipped(services)
    patient_id = await services.db.run(add_patient)
    call = SimpleNamespace(id=CALL_ID, ivr=CallIvr(), queue_name="general", language="en",
                           patients=[{"id": patient_id}], task=None, start=lambda initial: None,
                           channel=SimpleNamespace(id="caller-1"), flavour=Inbound())
    services.router.start_call(call)  # a stand-in call: start() has nothing to run here
    agent = services.queues.agent(AGENT.desk)
    agent.state, agent.call_id = "on_call", CALL_ID
    client.headers = {"Origin": origin(client), "X-CSRF-Token": token}
    client.services, client.patient_id = services, patient_id
    return client


async def post(client, path: str, body: dict):
    response = await client.post(path, json=body, headers=client.headers)
    return response.status, await response.json()


def item(view: dict, code: str) -> dict:
    return next(i for i in view["response"]["items"] if i["code"] == code)


async def test_given_a_call_on_the_desk_when_the_agent_fills_the_form_then_skip_logic_errors_and_red_flag(
        client):
    base = f"/api/agents/{AGENT.desk}/followup"
    state = await (await client.get(base, headers=client.headers)).json()
    assert state == {"call_id": CALL_ID, "response": None, "suggested": None}

    status, state = await post(client, base, {"questionnaire": WOUND})
    assert status == 200, state
    assert state["response"]["patient_id"] == client.patient_id, "the call's one candidate"
    assert not item(state, "body_temperature")["shown"]
    assert (await post(client, base, {"questionnaire": WOUND}))[0] == 409, "one form per call"

    for code, value in (("wound_redness", True), ("fever_since_discharge", "yes")):
        status, state = await post(client, f"{base}/answer", {"question": code, "value": value})
        assert status == 200, state
    assert item(state, "body_temperature")["shown"], "both conditions of its show_if hold now"
    status, refused = await post(client, f"{base}/answer", {"question": "body_temperature", "value": "45"})
    assert status == 400 and refused["error"] == "body_temperature: 45 is out of range 34..43 °C"
    status, state = await post(client, f"{base}/answer", {"question": "wound_opening", "value": True})
    assert state["red_flags"] == [{"disposition": "nurse_now", "escalation": "nurse_transfer"}]
    assert item(state, "wound_opening")["red_flag"] == state["red_flags"][0]

    # The red flag governs the call as triage's would: the triage panel offers its escalation.
    triage = await (await client.get(f"/api/agents/{AGENT.desk}/triage", headers=client.headers)).json()
    governing = triage["governing"]
    assert (governing["id"], governing["protocol"], governing["owed"]) == (
        "nurse_now", f"followup:{WOUND}", True)
    assert "nurse_transfer" in governing["satisfied_by"]

    answers, user_id = await client.services.db.run(_answers_and_agent)
    assert [(a.question_code, a.value, a.channel, a.answered_by, a.agent_user_id, a.call_id)
            for a in answers] == [
        ("wound_redness", {"value": True}, "console", "agent", user_id, CALL_ID),
        ("fever_since_discharge", {"value": True}, "console", "agent", user_id, CALL_ID),
        ("wound_opening", {"value": True}, "console", "agent", user_id, CALL_ID)]


def _answers_and_agent(session):
    answers = list(session.scalars(select(FollowUpAnswer).order_by(FollowUpAnswer.id)))
    return answers, session.scalar(select(User.id).where(User.username == AGENT.username))


async def test_given_a_form_on_the_call_when_the_page_reloads_then_the_answers_come_back(client):
    base = f"/api/agents/{AGENT.desk}/followup"
    await post(client, base, {"questionnaire": WOUND})
    await post(client, f"{base}/answer", {"question": "wound_redness", "value": False})

    state = await (await client.get(base, headers=client.headers)).json()
    assert item(state, "wound_redness")["answer"] is False
    assert state["response"]["next"] == "wound_discharge"


async def test_given_two_start_requests_at_once_when_both_arrive_then_one_response_and_the_other_409(
        client, monkeypatch):
    base = f"/api/agents/{AGENT.desk}/followup"
    both_checked, checks = asyncio.Barrier(2), []
    check = client.services.questionnaires.response_of_call

    async def checked_together(*args):
        """Both requests find no form before either starts one: the race the unique index closes."""
        found = await check(*args)
        checks.append(found)
        if len(checks) <= 2:  # the two requests' checks; the answers' own reads go on
            async with asyncio.timeout(10):
                await both_checked.wait()
        return found
    monkeypatch.setattr(client.services.questionnaires, "response_of_call", checked_together)

    results = await asyncio.gather(post(client, base, {"questionnaire": WOUND}),
                                   post(client, base, {"questionnaire": "copd"}))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    refused = next(body for status, body in results if status == 409)
    assert refused == {"error": "a questionnaire is already being filled on this call"}
    started = next(body for status, body in results if status == 200)
    rows = await client.services.db.run(lambda s: [(r.id, r.channel) for r in s.scalars(
        select(FollowUpResponse).where(FollowUpResponse.call_id == CALL_ID))])
    assert rows == [(started["response"]["response_id"], "console")]


async def test_given_the_caller_hung_up_mid_form_when_an_answer_comes_then_refused_answers_kept(client):
    base = f"/api/agents/{AGENT.desk}/followup"
    await post(client, base, {"questionnaire": WOUND})
    await post(client, f"{base}/answer", {"question": "wound_redness", "value": False})
    client.services.router.find(CALL_ID).state = SimpleNamespace(name="ended")  # the call is ending

    status, body = await post(client, f"{base}/answer", {"question": "wound_discharge", "value": "none"})
    assert (status, body) == (409, {"error": "no call on this desk"})
    answers, _ = await client.services.db.run(_answers_and_agent)
    assert [a.question_code for a in answers] == ["wound_redness"]


async def test_given_a_call_dialed_for_a_care_plan_follow_up_when_the_form_opens_then_its_questionnaire_set(
        client):
    await client.services.db.run(_plan_followup_called, client.patient_id)
    state = await (await client.get(f"/api/agents/{AGENT.desk}/followup", headers=client.headers)).json()
    assert state["suggested"] == "hypertension"


def _plan_followup_called(session, patient_id: int) -> None:
    nurse = session.scalar(select(User.id).where(User.username == ROLE_USERS["nurse"].username))
    plan = CarePlan(patient_id=patient_id, condition="hypertension", department="cardiology",
                    starts_on=date(2026, 12, 1), schedule="FREQ=DAILY;INTERVAL=14",
                    questionnaire_code="hypertension", channel="agent", nurse_user_id=nurse)
    session.add(plan)
    session.flush()
    session.add(CarePlanFollowUp(plan_id=plan.id, patient_id=patient_id, due_on=date(2026, 12, 4),
                                 due_at=datetime(2026, 12, 4, 9, tzinfo=UTC), last_call_id=CALL_ID))


async def test_given_another_desk_when_its_form_is_asked_then_forbidden(client):
    response = await client.get("/api/agents/9002/followup", headers=client.headers)
    assert response.status == 403


async def test_given_no_call_on_the_desk_when_the_form_is_asked_then_409(client):
    client.services.queues.agent(AGENT.desk).call_id = None
    response = await client.get(f"/api/agents/{AGENT.desk}/followup", headers=client.headers)
    assert response.status == 409


async def test_given_a_paper_sheet_when_rendered_then_header_and_every_question_read_back_and_audited(
        client):
    status, made = await post(client, "/api/followup/paper", {"questionnaire": WOUND, "mrn": "MRN-FU1"})
    assert status == 201, made
    response = await client.get(f"/followup/responses/{made['response_id']}/sheet.pdf",
                                headers=client.headers)
    assert response.status == 200 and response.content_type == "application/pdf"
    text = " ".join(" ".join(page.extract_text().split())
                    for page in PdfReader(io.BytesIO(await response.read())).pages)
    for expected in ("Olga Petrova", "MRN-FU1", "1951-03-09", f"sheet no. {made['response_id']}",
                     "requires clinical review"):
        assert expected in text
    view = await (await client.get(f"/api/followup/responses/{made['response_id']}",
                                   headers=client.headers)).json()
    for question in view["items"]:
        assert " ".join(question["text"].split()) in text, question["code"]
    audits = await client.services.db.run(lambda s: [(a.action, a.patient_id) for a in s.scalars(
        select(AuditEvent).where(AuditEvent.action == "followup_paper_sheet"))])
    assert audits == [("followup_paper_sheet", client.patient_id)]


async def test_given_a_paper_sheet_when_answers_are_typed_in_then_channel_paper_and_who_typed(client):
    _, made = await post(client, "/api/followup/paper", {"questionnaire": WOUND, "mrn": "MRN-FU1"})
    base = f"/api/followup/responses/{made['response_id']}"
    status, view = await post(client, f"{base}/answers", {"question": "pain_score", "value": "11"})
    assert status == 400 and "out of range 0..10" in view["error"]
    status, view = await post(client, f"{base}/answers", {"question": "pain_score", "value": "4"})
    assert status == 200, view
    assert next(i for i in view["items"] if i["code"] == "pain_score")["answer"] == 4
    answers, user_id = await client.services.db.run(_answers_and_agent)
    assert [(a.channel, a.answered_by, a.agent_user_id, a.call_id) for a in answers] == [
        ("paper", "agent", user_id, None)]
    assert (await post(client, "/api/followup/paper", {"questionnaire": WOUND, "mrn": "nobody"}))[0] == 404


async def test_given_a_console_response_when_asked_as_a_paper_sheet_then_not_found(client):
    await post(client, f"/api/agents/{AGENT.desk}/followup", {"questionnaire": WOUND})
    response_id = await client.services.questionnaires.response_of_call(CALL_ID)
    response = await client.get(f"/followup/responses/{response_id}/sheet.pdf", headers=client.headers)
    assert response.status == 404

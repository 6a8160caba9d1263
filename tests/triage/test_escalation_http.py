"""The wrap-up rule of red-flag triage, the nurse override and the call's triage record export, in the real
application (no Asterisk): a call put on the agent's desk by hand, with its row in the database."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from callcenter.calls.flavour import Inbound
from callcenter.calls.services import CallIvr
from callcenter.db.models import AuditEvent, CallEvent
from callcenter.db.models import Call as CallRow
from callcenter.eventlog import utcnow
from callcenter.main import build, init_app

from ..browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in

AGENT, NURSE, SUPERVISOR = ROLE_USERS["agent"], ROLE_USERS["nurse"], ROLE_USERS["supervisor"]
CALL_ID = "e" * 32
TRIAGE = f"/api/agents/{AGENT.desk}/triage"
DISPOSITION = {"call_id": CALL_ID, "code": "referred_emergency", "notes": "chest pain, red flag"}


@pytest.fixture
async def app(tmp_path, database_url, aiohttp_server):
    seed_role_users(database_url)
    services = build(console_config(tmp_path, database_url))
    server = await aiohttp_server(init_app(services.cfg, services, ari=False))
    agent = services.queues.agent(AGENT.desk)
    started = utcnow() - timedelta(seconds=90)
    await services.db.run(lambda s: s.add(CallRow(id=CALL_ID, started_at=started, agent_id=agent.id,
                                                  queue_name="general", status="connected")))
    # A stand-in call, known to the router as a started call is (start() has nothing to run here).
    services.router.start_call(SimpleNamespace(id=CALL_ID, ivr=CallIvr(), queue_name="general", language="en",
                                               patients=[], task=None,
                                               times=SimpleNamespace(started_at=started),
                                               channel=SimpleNamespace(id="caller-1"), flavour=Inbound(),
                                               start=lambda initial: None))
    agent.state, agent.call_id = "on_call", CALL_ID
    server.services = services
    return server


async def client_as(aiohttp_client, server, user):
    client = await aiohttp_client(server)
    token = await sign_in(client, user.username)
    client.headers = {"Origin": origin(client), "X-CSRF-Token": token}
    return client


async def red_flag(client) -> None:
    await client.post(TRIAGE, json={"protocol": "chest_pain"}, headers=client.headers)
    resp = await client.post(f"{TRIAGE}/answer", json={"question": "unresponsive", "answer": "no"},
                             headers=client.headers)
    resp = await client.post(f"{TRIAGE}/answer", json={"question": "heart_attack_signs", "answer": "yes"},
                             headers=client.headers)
    assert (await resp.json())["session"]["disposition"]["escalation_required"] is True


async def save(client):
    url = f"/api/agents/{AGENT.desk}/disposition"
    return await client.post(url, json=DISPOSITION, headers=client.headers)


async def events(server, type_: str) -> list[CallEvent]:
    await server.services.events.flush()
    return await server.services.db.run(lambda s: s.scalars(
        select(CallEvent).where(CallEvent.call_id == CALL_ID, CallEvent.type == type_)).all())


async def test_given_a_red_flag_when_the_agent_wraps_up_then_409_until_the_instruction_is_read(app,
                                                                                            aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    await red_flag(agent)
    refused = await save(agent)
    assert refused.status == 409 and "requires an escalation" in (await refused.json())["error"]

    resp = await agent.post(f"{TRIAGE}/escalate", json={"kind": "instruction_read"}, headers=agent.headers)
    assert resp.status == 200 and (await resp.json())["performed"] is True
    resp = await save(agent)
    assert resp.status == 201, await resp.text()
    [performed] = await events(app, "escalation_performed")
    assert performed.data["kind"] == "instruction_read" and performed.data["protocol"] == "chest_pain"
    assert 89 <= performed.data["seconds_from_call_start"] < 200


async def test_given_a_red_flag_when_a_nurse_overrides_with_a_reason_then_wrap_up_is_allowed_and_audited(
        app, aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    nurse = await client_as(aiohttp_client, app, NURSE)
    await red_flag(agent)
    url = f"/api/calls/{CALL_ID}/triage/override"
    by_agent = await agent.post(url, json={"reason": "agent wants to skip it"}, headers=agent.headers)
    assert by_agent.status == 403
    assert (await nurse.post(url, json={"reason": "short"}, headers=nurse.headers)).status == 409
    assert (await save(agent)).status == 409

    reason = "Spoke with the caller: pain is a known musculoskeletal strain, seen today"
    resp = await nurse.post(url, json={"reason": reason}, headers=nurse.headers)
    assert resp.status == 200, await resp.text()
    assert (await save(agent)).status == 201
    [override] = await events(app, "escalation_overridden")
    assert override.data["reason"] == reason and override.data["role"] == "nurse"
    audits = await app.services.db.run(lambda s: s.scalars(
        select(AuditEvent).where(AuditEvent.action == "triage_escalation_override")).all())
    assert [(a.call_id, a.reason) for a in audits] == [(CALL_ID, reason)]
    again = await nurse.post(url, json={"reason": reason}, headers=nurse.headers)
    assert again.status == 409, "nothing waits any more"


async def test_given_a_triaged_call_when_exported_then_json_and_csv_hold_every_question_and_answer(
        app, aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    await red_flag(agent)
    await agent.post(f"{TRIAGE}/escalate", json={"kind": "instruction_read"}, headers=agent.headers)
    supervisor = await client_as(aiohttp_client, app, SUPERVISOR)

    rec = await (await supervisor.get(f"/calls/{CALL_ID}/triage.json")).json()
    assert rec["protocols"][0]["id"] == "chest_pain" and rec["protocols"][0]["version"]
    shown = [e["question"] for e in rec["events"] if e["type"] == "triage_question_shown"]
    answers = [(e["question"], e["answer"]) for e in rec["events"] if e["type"] == "triage_answered"]
    assert shown == ["unresponsive", "heart_attack_signs"]
    assert answers == [("unresponsive", "no"), ("heart_attack_signs", "yes")]
    agent_id = app.services.queues.agent(AGENT.desk).id
    assert all(e["agent_id"] == agent_id and e["at"] for e in rec["events"])
    escalation = rec["escalation"]
    assert escalation["kind"] == "instruction_read" and escalation["seconds_from_call_start"] >= 89
    assert rec["escalation_pending"] is None

    resp = await supervisor.get(f"/calls/{CALL_ID}/triage.csv")
    assert resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["type"] for r in rows][:3] == ["triage_started", "triage_question_shown", "triage_answered"]
    assert {r["call_id"] for r in rows} == {CALL_ID}
    assert any(r["type"] == "escalation_performed" and r["kind"] == "instruction_read" for r in rows)

    page = await agent.get(f"/calls/{CALL_ID}", headers={"Accept": "text/html"})
    html = await page.text()
    assert page.status == 200 and "chest_pain" in html and "instruction_read" in html, "the agent who took it"
    nurse = await client_as(aiohttp_client, app, NURSE)
    assert (await nurse.get(f"/calls/{CALL_ID}/triage.json")).status == 403, "not the nurse's call"


async def run_protocol(client, protocol: str, yes_at: str | None = None) -> dict:
    """Run a protocol on the desk's call: 'no' to every question until `yes_at` (or to all)."""
    state = await (await client.post(TRIAGE, json={"protocol": protocol}, headers=client.headers)).json()
    if state["session"]["state"] == "age":  # an age-dependent protocol asks the age first (issue 13)
        state = await (await client.post(f"{TRIAGE}/age", json={"value": 40, "unit": "years"},
                                          headers=client.headers)).json()
    while state["session"]["current"]:
        question = state["session"]["current"]["id"]
        resp = await client.post(f"{TRIAGE}/answer", headers=client.headers,
                                 json={"question": question, "answer": "yes" if question == yes_at else "no"})
        state = await resp.json()
    return state


async def test_given_go_to_ed_when_a_second_protocol_says_home_care_then_wrap_up_refused_and_page_warns(
        app, aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    first = await run_protocol(agent, "chest_pain", yes_at="breathless_or_blood")
    assert first["session"]["disposition"]["id"] == "emergency_department_now"
    later = await run_protocol(agent, "headache")
    assert later["session"]["disposition"]["id"] == "home_care"
    assert later["governing"]["id"] == "emergency_department_now" and later["governing"]["owed"] is True

    refused = await save(agent)
    assert refused.status == 409 and "emergency_department_now" in (await refused.json())["error"]
    page = await (await agent.get(f"/calls/{CALL_ID}", headers={"Accept": "text/html"})).text()
    assert 'id="rec-escalation-owed"' in page and "milder disposition" in page and "home_care" in page

    resp = await agent.post(f"{TRIAGE}/escalate", json={"kind": "instruction_read"}, headers=agent.headers)
    assert resp.status == 200, await resp.text()
    [performed] = await events(app, "escalation_performed")
    assert performed.data["disposition"] == "emergency_department_now", "the governing one was escalated"
    assert (await save(agent)).status == 201


async def test_given_nurse_now_when_the_instruction_is_read_then_refused_and_the_panel_offers_what_counts(
        app, aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    state = await run_protocol(agent, "chest_pain", yes_at="recent_pain_gone")
    assert state["governing"]["id"] == "nurse_now"
    assert state["governing"]["satisfied_by"] == ["nurse_transfer", "emergency_conference", "urgent_callback"]
    assert state["session"]["disposition"]["satisfied_by"] == ["nurse_transfer", "emergency_conference",
                                                               "urgent_callback"]

    resp = await agent.post(f"{TRIAGE}/escalate", json={"kind": "instruction_read"}, headers=agent.headers)
    assert resp.status == 409 and "does not satisfy" in (await resp.json())["error"]
    assert await events(app, "escalation_performed") == []
    assert (await save(agent)).status == 409

    no_nurse = await agent.post(f"{TRIAGE}/escalate", json={"kind": "nurse_transfer"}, headers=agent.headers)
    error = (await no_nurse.json())["error"]
    assert no_nurse.status == 409 and "instruction" not in error
    # In words, never the ladder's ids (defect 4): the actions that work with no nurse free.
    assert "conferencing the emergency number" in error and "urgent nurse callback" in error
    assert "emergency_conference" not in error and "urgent_callback" not in error


async def test_given_a_call_emergency_services_now_when_a_warm_transfer_to_a_nurse_is_asked_then_refused(
        app, aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    state = await run_protocol(agent, "chest_pain", yes_at="unresponsive")
    assert state["governing"]["satisfied_by"] == ["emergency_conference", "instruction_read"]
    resp = await agent.post(f"{TRIAGE}/escalate", json={"kind": "nurse_transfer"}, headers=agent.headers)
    assert resp.status == 409 and "does not satisfy" in (await resp.json())["error"]
    assert await events(app, "escalation_started") == []


async def test_given_an_escalated_ed_then_an_emergency_when_escalated_again_then_the_record_times_the_second(
        app, aiohttp_client):
    agent = await client_as(aiohttp_client, app, AGENT)
    await run_protocol(agent, "chest_pain", yes_at="breathless_or_blood")
    await agent.post(f"{TRIAGE}/escalate", json={"kind": "instruction_read"}, headers=agent.headers)
    state = await run_protocol(agent, "headache", yes_at="thunderclap")
    assert state["governing"]["id"] == "call_emergency_services_now" and state["governing"]["owed"] is True
    assert (await save(agent)).status == 409, "the more urgent result is owed again"
    await agent.post(f"{TRIAGE}/escalate", json={"kind": "instruction_read"}, headers=agent.headers)

    first, second = await events(app, "escalation_performed")
    rec = await (await agent.get(f"/calls/{CALL_ID}/triage.json")).json()
    assert rec["governing"]["disposition"] == "call_emergency_services_now"
    assert rec["escalation"]["at"] == second.ts.isoformat() != first.ts.isoformat()
    assert (await save(agent)).status == 201

"""An escalation owed when the caller hangs up (issue 13, defect 3) and the actions offered with no nurse free
(defect 4), in the real application without Asterisk: a call put on the agent's desk by hand, its row in the
database, and the caller's hang-up played by forgetting the live call and putting the desk in wrap-up, as the
call core does. Real calls: tests/integration/test_urgent_callback.py."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from callcenter.calls.flavour import Inbound
from callcenter.calls.services import CallIvr
from callcenter.db.database import Database
from callcenter.db.models import AuditEvent, Callback, CallEvent, Queue
from callcenter.db.models import Call as CallRow
from callcenter.eventlog import utcnow
from callcenter.main import build, init_app

from ..browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in

AGENT = ROLE_USERS["agent"]
CALL_ID = "f" * 32
CALLER = "+14155550177"
TRIAGE = f"/api/agents/{AGENT.desk}/triage"
QUEUES = ("general", "appointments", "results", "refills", "complaints", "emergency-nurse", "nurse")
DISPOSITION = {"call_id": CALL_ID, "code": "referred_emergency", "notes": "red flag, caller hung up"}


@pytest.fixture
async def app(tmp_path, database_url, aiohttp_server):
    seed_role_users(database_url)
    db = Database(database_url)
    with db.session() as session:  # the queues scripts.yaml names; nobody serves the nurse lines
        session.add_all(Queue(name=name, title=name, skill=name) for name in QUEUES)
    db.close()
    services = build(console_config(tmp_path, database_url))
    server = await aiohttp_server(init_app(services.cfg, services, ari=False))
    agent = services.queues.agent(AGENT.desk)
    started = utcnow() - timedelta(seconds=90)
    await services.db.run(lambda s: s.add(CallRow(id=CALL_ID, started_at=started, agent_id=agent.id,
                                                  queue_name="general", status="connected",
                                                  caller_e164=CALLER, caller_raw=CALLER)))
    services.router.start_call(SimpleNamespace(id=CALL_ID, ivr=CallIvr(), queue_name="general", language="en",
                                               patients=[], task=None,
                                               times=SimpleNamespace(started_at=started),
                                               channel=SimpleNamespace(id="caller-1"), flavour=Inbound(),
                                               start=lambda initial: None))
    agent.state, agent.call_id = "on_call", CALL_ID
    server.services = services
    return server


async def agent_client(aiohttp_client, server):
    client = await aiohttp_client(server)
    token = await sign_in(client, AGENT.username)
    client.headers = {"Origin": origin(client), "X-CSRF-Token": token}
    return client


async def run_protocol(client, protocol: str, yes_at: str) -> dict:
    state = await (await client.post(TRIAGE, json={"protocol": protocol}, headers=client.headers)).json()
    while state["session"]["current"]:
        question = state["session"]["current"]["id"]
        resp = await client.post(f"{TRIAGE}/answer", headers=client.headers,
                                 json={"question": question, "answer": "yes" if question == yes_at else "no"})
        state = await resp.json()
    return state


def caller_hangs_up(server) -> None:
    """What the call core does when the caller hangs up: the call is forgotten, the desk is in wrap-up."""
    services = server.services
    services.router.forget(services.router.find(CALL_ID))
    services.queues.agent(AGENT.desk).state = "wrapup"


async def escalate(client, **body):
    return await client.post(f"{TRIAGE}/escalate", json=body, headers=client.headers)


async def save(client):
    url = f"/api/agents/{AGENT.desk}/disposition"
    return await client.post(url, json=DISPOSITION, headers=client.headers)


async def rows(server, model, *where):
    await server.services.events.flush()
    return await server.services.db.run(lambda s: s.scalars(select(model).where(*where)).all())


async def test_given_an_emergency_owed_when_the_caller_hangs_up_then_the_panel_offers_the_task_choices(
        app, aiohttp_client):
    agent = await agent_client(aiohttp_client, app)
    await run_protocol(agent, "chest_pain", yes_at="unresponsive")
    caller_hangs_up(app)

    resp = await agent.get(TRIAGE, headers=agent.headers)

    assert resp.status == 200, "the panel of an ended call still answers (it said: no call on this desk)"
    state = await resp.json()
    gov = state["governing"]
    assert state["call_id"] == CALL_ID and state["call_ended"] is True
    assert gov["id"] == "call_emergency_services_now" and gov["owed"] is True and gov["task"] is None
    assert [o["kind"] for o in gov["offer"]] == ["urgent_callback", "other_means"]
    assert all("_" not in o["label"] for o in gov["offer"]), "words, not ids"
    assert (await save(agent)).status == 409, "still owed: no wrap-up yet"


async def test_given_an_emergency_owed_after_hangup_when_an_urgent_callback_is_made_then_wrap_up_can_finish(
        app, aiohttp_client):
    agent = await agent_client(aiohttp_client, app)
    await run_protocol(agent, "chest_pain", yes_at="unresponsive")
    caller_hangs_up(app)
    refused = await escalate(agent, kind="emergency_conference")
    assert refused.status == 409 and "hung up" in (await refused.json())["error"]

    resp = await escalate(agent, kind="urgent_callback")

    assert resp.status == 200, await resp.text()
    done = await resp.json()
    [callback] = await rows(app, Callback)
    assert (callback.id, callback.urgent, callback.autodial, callback.priority) == (done["callback_id"], True,
                                                                                    True, 100)
    assert (callback.queue_name, callback.phone_e164, callback.origin_call_id) == ("emergency-nurse", CALLER,
                                                                                       CALL_ID)
    assert callback.due_at <= utcnow() and callback.status == "scheduled"
    [task] = await rows(app, CallEvent, CallEvent.type == "escalation_task_created")
    assert task.call_id == CALL_ID and task.data["callback_id"] == callback.id
    state = await (await agent.get(TRIAGE, headers=agent.headers)).json()
    assert state["governing"]["owed"] is True, "owed until a nurse reaches the patient"
    assert state["governing"]["task"]["callback_id"] == callback.id and state["governing"]["offer"] == []
    again = await escalate(agent, kind="urgent_callback")
    assert again.status == 409 and len(await rows(app, Callback)) == 1, "one callback, not two"
    assert (await save(agent)).status == 201, "the agent is not stuck"


async def test_given_an_emergency_owed_after_hangup_when_reached_by_other_means_then_recorded_and_audited(
        app, aiohttp_client):
    agent = await agent_client(aiohttp_client, app)
    await run_protocol(agent, "chest_pain", yes_at="unresponsive")
    caller_hangs_up(app)
    short = await escalate(agent, kind="other_means", reason="called")
    assert short.status == 409 and (await save(agent)).status == 409

    reason = "The caller's daughter phoned the emergency number; ambulance dispatched, she called us back"
    resp = await escalate(agent, kind="other_means", reason=reason)

    assert resp.status == 200, await resp.text()
    [performed] = await rows(app, CallEvent, CallEvent.type == "escalation_performed")
    assert (performed.data["kind"], performed.data["by"], performed.data["reason"]) == (
        "emergency_conference", "other_means", reason)
    [audit] = await rows(app, AuditEvent, AuditEvent.action == "triage_escalation_other_means")
    assert (audit.call_id, audit.reason) == (CALL_ID, reason)
    state = await (await agent.get(TRIAGE, headers=agent.headers)).json()
    gov = state["governing"]
    assert gov["owed"] is False and gov["satisfied_kind"] == "emergency_conference"
    assert (await save(agent)).status == 201
    assert await rows(app, Callback) == []


async def test_given_nurse_now_and_no_nurse_free_when_the_panel_loads_then_it_offers_what_works_without_one(
        app, aiohttp_client):
    agent = await agent_client(aiohttp_client, app)
    state = await run_protocol(agent, "chest_pain", yes_at="recent_pain_gone")
    gov = state["governing"]
    assert gov["id"] == "nurse_now" and gov["nurse_free"] is False
    assert [o["kind"] for o in gov["offer"]] == ["emergency_conference", "urgent_callback"]

    resp = await escalate(agent, kind="urgent_callback")

    assert resp.status == 200 and (await resp.json())["task"] is True
    [callback] = await rows(app, Callback)
    assert callback.origin_call_id == CALL_ID and callback.autodial is True
    assert (await save(agent)).status == 201


async def test_given_call_emergency_services_now_on_a_live_call_when_an_urgent_callback_is_asked_then_refused(
        app, aiohttp_client):
    agent = await agent_client(aiohttp_client, app)
    state = await run_protocol(agent, "chest_pain", yes_at="unresponsive")
    assert "urgent_callback" not in [o["kind"] for o in state["governing"]["offer"]]

    resp = await escalate(agent, kind="urgent_callback")

    assert resp.status == 409 and "does not satisfy" in (await resp.json())["error"]
    assert await rows(app, Callback) == []

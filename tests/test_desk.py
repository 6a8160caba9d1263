"""The agent desk API: the disposition rule, patient search and record views with their audit rows."""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from callcenter.db.models import AuditEvent, Call, Callback, CallEvent, Disposition, Patient, WebhookDelivery
from callcenter.demo import seed_demo
from callcenter.eventlog import utcnow
from callcenter.main import build, init_app
from callcenter.webhooks.services import SubscriptionForm

from .browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in
from .test_auth import FAST

AGENT = ROLE_USERS["agent"]
DESK = AGENT.desk


@pytest.fixture
async def desk(tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url, FAST)
    services = build(console_config(tmp_path, sqlite_url))
    with services.db.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    client.services = services
    client.token = await sign_in(client, AGENT.username)
    await client.get("/agent", headers={"Accept": "text/html"})  # a person opens the desk
    return client


async def view(client, pid: int, body: dict):
    return await post(client, f"/api/agents/{DESK}/patients/{pid}/view", body)


def headers(client) -> dict:
    return {"Origin": origin(client), "X-CSRF-Token": client.token}


async def post(client, path: str, body: dict):
    response = await client.post(path, json=body, headers=headers(client))
    return response.status, await response.json()


def rows(client, model, *where):
    with client.services.db.session() as session:
        return list(session.scalars(select(model).where(*where)))


def patient_id(client, mrn: str) -> int:
    with client.services.db.session() as session:
        return session.scalar(select(Patient.id).where(Patient.mrn == mrn))


async def talk_and_hang_up(client, call_id: str = "c" * 32) -> str:
    """The desk takes a call and the caller hangs up: ringing, on a call, wrap-up (as calls/ drives it)."""
    s = client.services
    agent = s.queues.agent(DESK)
    with s.db.session() as session:
        session.add(Call(id=call_id, agent_id=agent.id, status="ended", caller_status="valid"))
    s.queues.request_state(DESK, "available")
    s.queues.set_state(agent, "ringing", call_id=call_id)
    s.queues.set_state(agent, "on_call", call_id=call_id)
    s.queues.set_state(agent, "wrapup", call_id=call_id)
    s.queues.set_state(agent, "available")  # the timed end of wrap-up
    return call_id


def ring(client, call_id: str) -> None:
    """The call rings at the desk (its pop is shown)."""
    s = client.services
    s.queues.request_state(DESK, "available")
    s.queues.set_state(s.queues.agent(DESK), "ringing", call_id=call_id)


async def test_given_call_ended_without_disposition_when_going_available_then_409_and_agent_stays_in_wrapup(
        desk):
    await talk_and_hang_up(desk)
    status, body = await post(desk, f"/api/agents/{DESK}/state", {"state": "available"})

    assert status == 409 and "disposition" in body["error"]
    assert desk.services.queues.agent(DESK).state == "wrapup"


async def test_given_disposition_saved_when_going_available_then_allowed_and_row_and_event_written(desk):
    call_id = await talk_and_hang_up(desk)
    status, body = await post(desk, f"/api/agents/{DESK}/disposition",
                              {"call_id": call_id, "code": "results_given", "notes": "Gave lab results",
                               "next_state": "available"})

    assert status == 201, body
    assert body["agent"]["state"] == "available" and body["disposition_owed"] is None
    [row] = rows(desk, Disposition)
    assert (row.call_id, row.code, row.notes, row.agent_id) == (call_id, "results_given", "Gave lab results",
                                                                 desk.services.queues.agent(DESK).id)
    await desk.services.events.flush()
    events = rows(desk, CallEvent, CallEvent.call_id == call_id, CallEvent.type == "disposition")
    assert events[0].data["code"] == "results_given" and "notes" not in events[0].data


async def test_given_a_webhook_subscription_when_a_disposition_is_saved_then_its_event_carries_no_notes(desk):
    """The disposition is written in the desk's own transaction (EventLog.add_event): its webhook event is
    too, with the code only for a subscription granted "clinical" and the notes never (issue 15)."""
    form = SubscriptionForm(name="his", url="http://127.0.0.1:9/hook", events=["disposition"],
                            scopes=["clinical"])
    await desk.services.webhooks.create(form, None)
    call_id = await talk_and_hang_up(desk)
    status, _ = await post(desk, f"/api/agents/{DESK}/disposition",
                           {"call_id": call_id, "code": "results_given", "notes": "Gave lab results"})

    assert status == 201
    [delivery] = await poll_rows(desk, WebhookDelivery)
    body = json.loads(delivery.body)
    assert body["type"] == "disposition" and body["data"]["call_id"] == call_id
    assert body["data"]["clinical"] == {"code": "results_given"}
    assert "Gave lab results" not in delivery.body


async def poll_rows(client, model, timeout: float = 10.0) -> list:
    """The delivery worker addresses outbox rows on its own schedule: wait for them."""
    async with asyncio.timeout(timeout):
        while not (found := rows(client, model)):
            await asyncio.sleep(0.05)
    return found


@pytest.mark.parametrize("body, error", [
    ({"code": "", "notes": "x"}, "disposition code"),
    ({"code": "results_given", "notes": "   "}, "notes are required"),
    ({"code": "no_such_code", "notes": "x"}, "disposition code"),
])
async def test_given_incomplete_disposition_when_saved_then_400_and_still_owed(desk, body, error):
    call_id = await talk_and_hang_up(desk)
    status, answer = await post(desk, f"/api/agents/{DESK}/disposition", {"call_id": call_id, **body})

    assert status == 400 and error in answer["error"]
    assert rows(desk, Disposition) == []
    assert (await post(desk, f"/api/agents/{DESK}/state", {"state": "available"}))[0] == 409


async def test_given_disposition_twice_when_saved_then_409(desk):
    call_id = await talk_and_hang_up(desk)
    body = {"call_id": call_id, "code": "other", "notes": "n"}
    assert (await post(desk, f"/api/agents/{DESK}/disposition", body))[0] == 201
    status, answer = await post(desk, f"/api/agents/{DESK}/disposition", body)
    assert status == 409 and "already saved" in answer["error"]


async def test_given_callback_at_wrapup_when_saved_then_it_lists_in_the_side_panel(desk):
    call_id = await talk_and_hang_up(desk)
    pid = patient_id(desk, "MRN100001")
    due = (utcnow() + timedelta(hours=2)).isoformat()
    status, _ = await post(desk, f"/api/agents/{DESK}/disposition",
                           {"call_id": call_id, "code": "callback_scheduled", "notes": "call back",
                            "patient_id": pid, "callback": {"due_at": due, "reason": "results pending"}})
    listed = await (await desk.get(f"/api/agents/{DESK}/callbacks")).json()

    assert status == 201
    [callback] = rows(desk, Callback)
    assert (callback.patient_id, callback.origin_call_id, callback.status) == (pid, call_id, "scheduled")
    assert [c["id"] for c in listed] == [callback.id] and listed[0]["patient"]["id"] == pid


async def test_given_desk_driven_by_api_token_only_when_call_ends_then_no_disposition_needed(
        tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url, FAST)
    services = build(console_config(tmp_path, sqlite_url))
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    client.services = services
    await talk_and_hang_up(client)
    assert services.queues.agent(DESK).state == "available"


async def test_given_search_by_name_and_dob_when_searched_then_identity_only_and_audit_without_terms(
        desk, caplog):
    caplog.set_level(logging.DEBUG)
    status, body = await post(desk, f"/api/agents/{DESK}/patients/search",
                              {"name": "emily john", "date_of_birth": "1984-03-12"})

    assert status == 200
    assert [p["mrn"] for p in body["patients"]] == ["MRN100001"]
    assert set(body["patients"][0]) == {"id", "mrn", "name", "date_of_birth"}
    await desk.services.events.flush()
    [audit] = rows(desk, AuditEvent, AuditEvent.action == "patient_search")
    assert audit.detail["fields"] == ["name", "date_of_birth"]
    assert "emily" not in str(audit.detail).lower() and "1984" not in str(audit.detail)
    assert "emily" not in caplog.text.lower()


@pytest.mark.parametrize("body, mrn", [({"mrn": "mrn100002"}, "MRN100002"),
                                       ({"phone": "(415) 555-0102"}, None)])
async def test_given_mrn_or_phone_when_searched_then_found(desk, body, mrn):
    status, answer = await post(desk, f"/api/agents/{DESK}/patients/search", body)
    assert status == 200 and answer["patients"]
    if mrn:
        assert [p["mrn"] for p in answer["patients"]] == [mrn]


async def test_given_record_merged_into_another_when_searched_then_only_the_survivor_is_found(desk):
    """A40 from the hospital's feed (issue 15): the old record stays (audit rows name it), not as a result."""
    survivor = patient_id(desk, "MRN100002")
    with desk.services.db.session() as session:
        session.execute(update(Patient).where(Patient.mrn == "MRN100001").values(merged_into_id=survivor))
    for terms in ({"mrn": "MRN100001"}, {"mrn": "MRN100002"}, {"name": "emily john"}):
        status, body = await post(desk, f"/api/agents/{DESK}/patients/search", terms)
        assert status == 200
        assert [p["id"] for p in body["patients"]] == ([] if "name" in terms else [survivor])


async def test_given_no_terms_when_searched_then_400(desk):
    status, answer = await post(desk, f"/api/agents/{DESK}/patients/search", {"name": " "})
    assert status == 400 and "search by" in answer["error"]


async def test_given_search_result_when_opened_then_full_record_and_patient_viewed_audit(desk):
    pid = patient_id(desk, "MRN100001")
    await post(desk, f"/api/agents/{DESK}/patients/search", {"mrn": "MRN100001"})
    status, record = await view(desk, pid, {"via": "search"})

    assert status == 200 and record["id"] == pid and "allergies" in record and "recent_calls" in record
    [audit] = rows(desk, AuditEvent, AuditEvent.action == "patient_viewed")
    assert (audit.patient_id, audit.detail) == (pid, {"via": "search"}) and audit.actor_user_id is not None
    assert audit.actor_agent_id == desk.services.queues.agent(DESK).id


async def test_given_pop_of_a_call_when_patient_not_a_candidate_then_refused_and_not_audited(desk):
    call_id = "d" * 32
    pid = patient_id(desk, "MRN100001")
    with desk.services.db.session() as session:
        session.add(Call(id=call_id, status="offering", caller_status="valid", candidate_patient_ids=[pid]))
    ring(desk, call_id)
    other = patient_id(desk, "MRN100002")

    refused, _ = await view(desk, other, {"via": "pop", "call_id": call_id})
    status, record = await view(desk, pid, {"via": "pop", "call_id": call_id})

    assert refused == 400 and status == 200
    viewed = rows(desk, AuditEvent, AuditEvent.action == "patient_viewed")
    assert [(a.patient_id, a.call_id) for a in viewed] == [(pid, call_id)]
    [call] = rows(desk, Call, Call.id == call_id)
    assert call.patient_id == pid  # identity confirmed: the call is this patient's


async def test_given_another_desk_when_searching_then_403(desk):
    status, _ = await post(desk, "/api/agents/9002/patients/search", {"mrn": "MRN100001"})
    assert status == 403


async def test_given_desk_page_when_loaded_then_desk_markup_and_snapshot(desk):
    page = await desk.get("/agent", headers={"Accept": "text/html"})
    snap = await (await desk.get(f"/api/agents/{DESK}/desk")).json()

    assert page.status == 200 and 'data-desk="9001"' in await page.text()
    assert snap["agent"]["number"] == DESK and {"code": "lunch", "label": "Lunch"} in snap["pause_reasons"]
    assert any(d["code"] == "wrong_number" for d in snap["dispositions"])


# -- who may open which record (issue 14) -------------------------------------------------------------------

def view_audits(client, action: str = "patient_viewed") -> list[AuditEvent]:
    return rows(client, AuditEvent, AuditEvent.action == action)


async def test_given_patient_not_in_own_search_results_when_opened_via_search_then_403_and_not_audited(desk):
    pid, other = patient_id(desk, "MRN100001"), patient_id(desk, "MRN100002")
    await post(desk, f"/api/agents/{DESK}/patients/search", {"mrn": "MRN100002"})

    refused, answer = await view(desk, pid, {"via": "search"})
    status, _ = await view(desk, other, {"via": "search"})

    assert refused == 403 and "search" in answer["error"]
    assert status == 200
    assert [a.patient_id for a in view_audits(desk)] == [other]


async def test_given_pop_with_another_desks_call_when_viewed_then_403_and_no_identity_confirmed(desk):
    pid = patient_id(desk, "MRN100001")
    call_id = "e" * 32
    nurse_desk = desk.services.queues.agent(ROLE_USERS["nurse"].desk)
    with desk.services.db.session() as session:
        session.add(Call(id=call_id, status="connected", caller_status="valid", agent_id=nurse_desk.id,
                         candidate_patient_ids=[pid]))

    status, _ = await view(desk, pid, {"via": "pop", "call_id": call_id})

    assert status == 403
    await desk.services.events.flush()
    assert rows(desk, CallEvent, CallEvent.call_id == call_id, CallEvent.type == "identity_confirmed") == []
    [call] = rows(desk, Call, Call.id == call_id)
    assert call.patient_id is None and view_audits(desk) == []


async def test_given_search_with_another_desks_call_when_opened_then_403(desk):
    pid = patient_id(desk, "MRN100001")
    nurse_desk = desk.services.queues.agent(ROLE_USERS["nurse"].desk)
    with desk.services.db.session() as session:
        session.add(Call(id="f" * 32, status="connected", caller_status="valid", agent_id=nurse_desk.id))
    await post(desk, f"/api/agents/{DESK}/patients/search", {"mrn": "MRN100001"})

    status, _ = await view(desk, pid, {"via": "search", "call_id": "f" * 32})

    assert status == 403 and view_audits(desk) == []


async def test_given_callback_on_the_desks_list_when_opened_via_callback_then_allowed_else_403(desk):
    pid, other = patient_id(desk, "MRN100001"), patient_id(desk, "MRN100002")
    with desk.services.db.session() as session:
        session.add(Callback(patient_id=pid, phone_e164="+14155550101", due_at=utcnow() + timedelta(hours=1),
                             agent_id=desk.services.queues.agent(DESK).id, reason="results"))

    status, _ = await view(desk, pid, {"via": "callback"})
    refused, _ = await view(desk, other, {"via": "callback"})

    assert (status, refused) == (200, 403)
    assert [(a.patient_id, a.detail) for a in view_audits(desk)] == [(pid, {"via": "callback"})]


@pytest.mark.parametrize("reason", [None, "", "   ", 5])
async def test_given_break_glass_without_written_reason_when_opened_then_400_and_not_audited(desk, reason):
    pid = patient_id(desk, "MRN100001")
    status, answer = await post(desk, f"/api/agents/{DESK}/patients/{pid}/view",
                                {"via": "break_glass", "reason": reason})

    assert status == 400 and "reason" in answer["error"]
    assert view_audits(desk) == [] and view_audits(desk, "patient_break_glass") == []


async def test_given_break_glass_with_reason_when_opened_then_record_and_audited_as_break_glass(desk):
    pid = patient_id(desk, "MRN100001")
    status, record = await post(desk, f"/api/agents/{DESK}/patients/{pid}/view",
                                {"via": "break_glass", "reason": "caller disconnected, urgent result"})

    assert status == 200 and record["id"] == pid
    [audit] = view_audits(desk, "patient_break_glass")
    assert (audit.patient_id, audit.reason, audit.actor_user_id is not None) == (
        pid, "caller disconnected, urgent result", True)
    assert view_audits(desk) == []


async def test_given_many_views_when_over_the_per_user_limit_then_429_and_not_audited(desk):
    pid = patient_id(desk, "MRN100001")
    limit = desk.services.cfg.desk.views_per_window
    body = {"via": "break_glass", "reason": "audit of the limit"}
    statuses = [(await view(desk, pid, body))[0] for _ in range(limit + 1)]

    assert statuses == [200] * limit + [429]
    assert len(view_audits(desk, "patient_break_glass")) == limit

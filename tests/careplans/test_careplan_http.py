"""The care plans' JSON API on the real application, signed in as the console's users (both databases):
enrolment refused with its reason, then made, planned, listed on the desk, outcome, the history on the
patient's record audited; who may ask what."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.db.database import Database
from callcenter.db.models import AuditEvent, CarePlan, Patient, User
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.main import build, init_app

from ..browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in
from .conftest import add_patient


@pytest.fixture
async def app(tmp_path, database_url, aiohttp_client):
    seed_role_users(database_url)
    seeding = Database(database_url)
    with seeding.session() as session:
        patient_id = add_patient(session, 1).id
    seeding.close()
    cfg = console_config(tmp_path, database_url)
    cfg.site.time_zone = "America/New_York"
    services = build(cfg)
    bank = load_bank()
    await services.careplans.questionnaires.load(
        bank, [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()])
    server = (await aiohttp_client(init_app(cfg, services, ari=False))).server
    return server, services, patient_id


async def signed_in(aiohttp_client, server, role: str):
    client = await aiohttp_client(server)
    token = await sign_in(client, ROLE_USERS[role].username)
    return client, {"X-CSRF-Token": token, "Origin": origin(client), "Accept": "application/json"}


def enrolment(patient_id: int, nurse_id: int, **changes) -> dict:
    return {"patient_id": patient_id, "condition": "Heart failure", "department": "Cardiology",
            "starts_on": "2026-12-04", "schedule": "every 14 days", "questionnaire": "hypertension",
            "channel": "agent", "nurse_user_id": nurse_id} | changes


async def test_given_a_supervisor_when_enrolling_planning_and_working_the_desk_then_each_step_answers(
        app, aiohttp_client):
    server, services, patient_id = app
    nurse_id = await services.db.run(_user_id, "nurse1")
    client, headers = await signed_in(aiohttp_client, server, "supervisor")

    refused = await client.post("/api/careplans", json=enrolment(patient_id, nurse_id, schedule="hourly"),
                                headers=headers)
    assert refused.status == 400 and "schedule" in (await refused.json())["error"]
    made = await client.post("/api/careplans", json=enrolment(patient_id, nurse_id), headers=headers)
    assert made.status == 201, await made.text()
    plan = await client.post("/api/careplans/plan", json={"days_ahead": 30}, headers=headers)
    assert (await plan.json())["created"] >= 1
    listed = await client.get("/api/careplans/followups?view=all", headers=headers)
    [first, *_] = (await listed.json())["followups"]
    outcome = await client.post(f"/api/careplans/followups/{first['id']}/outcome",
                                json={"outcome": "refused"}, headers=headers)
    history = await client.get(f"/api/patients/{patient_id}/careplans", headers=headers)

    assert outcome.status == 200 and (await outcome.json())["status"] == "refused"
    events = (await history.json())["events"]
    assert [e["kind"] for e in events] == ["enrolled", "outcome"]
    with services.db.session() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.patient_id == patient_id)).all()
    assert {"care_plan_enrolled", "care_followup_list", "care_followup_outcome", "care_plan_history"} <= \
        set(actions)


async def test_given_an_agent_then_no_history_no_enrolment_and_no_call_from_a_desk_not_theirs(
        app, aiohttp_client):
    server, services, patient_id = app
    client, headers = await signed_in(aiohttp_client, server, "agent")

    history = await client.get(f"/api/patients/{patient_id}/careplans", headers=headers)
    enrol = await client.post("/api/careplans", json=enrolment(patient_id, 1), headers=headers)
    supervisor, sup_headers = await signed_in(aiohttp_client, server, "supervisor")
    dial = await supervisor.post("/api/careplans/followups/1/dial", json={}, headers=sup_headers)

    assert history.status == 403 and enrol.status == 403
    assert dial.status == 409 and "no desk" in (await dial.json())["error"]


def _user_id(session, username: str) -> int:
    return session.scalar(select(User.id).where(User.username == username))


async def test_given_a_nurse_when_enrolling_by_mrn_then_made_and_the_same_again_or_a_bad_field_refused_on_it(
        app, aiohttp_client):
    server, services, patient_id = app
    nurse_id = await services.db.run(_user_id, "nurse1")
    client, headers = await signed_in(aiohttp_client, server, "nurse")
    mrn = await services.db.run(lambda s: s.get(Patient, patient_id).mrn)
    by_mrn = {k: v for k, v in enrolment(patient_id, nurse_id).items() if k != "patient_id"} | {"mrn": mrn}

    answers = []
    for body in (by_mrn | {"starts_on": "04/12/2026"}, by_mrn | {"mrn": "NO-SUCH"}, by_mrn | {"max_tries": 0},
                 by_mrn, by_mrn | {"condition": "heart FAILURE"}):
        response = await client.post("/api/careplans", json=body, headers=headers)
        answers.append((response.status, (await response.json()).get("error", "").split(":")[0]))

    assert answers == [(400, "starts_on"), (404, "mrn"), (400, "max_tries"), (201, ""), (409, "condition")]
    plans = await services.db.run(lambda s: s.scalars(select(CarePlan)).all())
    assert [(p.patient_id, p.created_by_user_id) for p in plans] == [(patient_id, await services.db.run(
        _user_id, "nurse1"))]

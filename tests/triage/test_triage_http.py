"""The triage panel API in the real application (no Asterisk): a call placed on a nurse's desk by hand."""
from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from callcenter.calls.flavour import Inbound
from callcenter.calls.services import CallIvr
from callcenter.db.models import Appointment, AuditEvent, Call, CallEvent, Patient, PatientPhone, User
from callcenter.main import build, init_app

from ..audit_faults import audit_rows_refused
from ..browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in

NURSE = ROLE_USERS["nurse"]
CALL_ID = "c" * 32


@pytest.fixture
async def nurse_client(tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url)
    services = build(console_config(tmp_path, sqlite_url))
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    token = await sign_in(client, NURSE.username)
    ids = await services.db.run(_patients)
    call = SimpleNamespace(id=CALL_ID, ivr=CallIvr(path=[{"node": "main", "key": "4"}]), queue_name="nurse",
                           language="es", patients=[{"id": ids[0]}], task=None, start=lambda initial: None,
                           channel=SimpleNamespace(id="caller-1"), flavour=Inbound())
    services.router.start_call(call)  # a stand-in call: start() has nothing to run here
    agent = services.queues.agent(NURSE.desk)
    agent.state, agent.call_id = "on_call", CALL_ID
    client.headers = {"Origin": origin(client), "X-CSRF-Token": token}
    client.services, client.patient_ids = services, ids
    return client


def _patients(session) -> list[int]:
    ids = []
    for mrn, given in (("MRN-H1", '<b>Ana</b>'), ("MRN-H2", "Other")):
        patient = Patient(mrn=mrn, given_name=given, family_name="Ríos", date_of_birth=date(1970, 1, 2),
                          sex="F")
        session.add(patient)
        session.flush()
        session.add(PatientPhone(patient_id=patient.id, e164="+14155550180", kind="mobile", is_primary=True))
        ids.append(patient.id)
    return ids


async def test_given_a_call_on_the_desk_when_the_script_is_asked_then_fields_merged_escaped_and_audited(
        nurse_client):
    resp = await nurse_client.get(f"/api/agents/{NURSE.desk}/script/scheduling", headers=nurse_client.headers)
    body = await resp.json()
    assert resp.status == 200, body
    greet = body["steps"][0]
    assert greet["id"] == "greet"
    assert "&lt;b&gt;Ana&lt;/b&gt; Ríos" in greet["html"] and "<b>" not in greet["html"]
    assert "[missing: call.hospital_name]" in greet["html"] and "call.hospital_name" in greet["missing"]
    await nurse_client.services.events.flush()
    audits = await nurse_client.services.db.run(lambda s: s.scalars(select(AuditEvent)).all())
    rows = [(a.action, a.patient_id, a.call_id) for a in audits if a.action == "script_patient_fields"]
    assert rows == [("script_patient_fields", nurse_client.patient_ids[0], CALL_ID)]


async def test_given_audit_rows_refused_when_the_script_is_asked_then_error_and_no_patient_fields(
        nurse_client):
    url, db = f"/api/agents/{NURSE.desk}/script/scheduling", nurse_client.services.db
    with audit_rows_refused(db):
        refused = await nurse_client.get(url, headers=nurse_client.headers)
        assert refused.status == 500 and "Ana" not in await refused.text()

    assert (await nurse_client.get(url, headers=nurse_client.headers)).status == 200
    audits = await db.run(lambda s: [(a.action, s.get(User, a.actor_user_id).username, a.actor_agent_id)
                                     for a in s.scalars(select(AuditEvent)) if a.patient_id is not None])
    desk = nurse_client.services.queues.agent(NURSE.desk).id
    assert audits == [("script_patient_fields", NURSE.username, desk)]  # one: the refused read left none


async def test_given_a_patient_not_matched_by_the_call_when_the_script_is_asked_then_refused(nurse_client):
    other = nurse_client.patient_ids[1]
    resp = await nurse_client.get(f"/api/agents/{NURSE.desk}/script/refills?patient={other}",
                                  headers=nurse_client.headers)
    assert resp.status == 403


async def test_given_the_panel_when_it_triages_then_suggestions_session_and_errors_come_back(nurse_client):
    base = f"/api/agents/{NURSE.desk}/triage"
    state = await (await nurse_client.get(base, headers=nurse_client.headers)).json()
    assert state["session"] is None and state["suggestions"][0] == "abdominal_pain"

    resp = await nurse_client.post(base, json={"protocol": "infant_fever"}, headers=nurse_client.headers)
    state = await resp.json()
    assert state["session"]["language"] == "es", "the call's language by default"
    resp = await nurse_client.post(f"{base}/age", json={"value": 6, "unit": "weeks"},  # issue 13: asked first
                                   headers=nurse_client.headers)
    assert resp.status == 200
    resp = await nurse_client.post(f"{base}/answer", json={"question": "non_blanching_rash", "answer": "yes"},
                                   headers=nurse_client.headers)
    assert resp.status == 409 and "unresponsive_or_fit" in (await resp.json())["error"]
    first = "unresponsive_or_fit"
    resp = await nurse_client.post(f"{base}/answer", json={"question": first, "answer": "maybe"},
                                   headers=nurse_client.headers)
    assert resp.status == 400
    resp = await nurse_client.post(base, json={"protocol": "toothache"}, headers=nurse_client.headers)
    assert resp.status == 404
    resp = await nurse_client.post(f"{base}/answer", json={"question": first, "answer": "yes"},
                                   headers=nurse_client.headers)
    state = await resp.json()
    assert state["session"]["disposition"]["id"] == "call_emergency_services_now"
    await nurse_client.services.events.flush()
    events = await nurse_client.services.db.run(lambda s: s.scalars(
        select(CallEvent).where(CallEvent.call_id == CALL_ID).order_by(CallEvent.id)).all())
    answered = [e for e in events if e.type == "triage_answered"]
    assert [(e.data["question"], e.data["answer"], e.data["user_id"] > 0) for e in answered] == [
        ("unresponsive_or_fit", "yes", True)]


async def test_given_another_nurses_desk_when_asked_then_forbidden(nurse_client):
    resp = await nurse_client.get("/api/agents/9001/triage", headers=nurse_client.headers)
    assert resp.status == 403


async def test_given_hospital_configured_when_the_script_is_asked_then_it_is_said_not_marked_missing(
        nurse_client):
    nurse_client.services.cfg.site.hospital_name = "St. <Example>"

    resp = await nurse_client.get(f"/api/agents/{NURSE.desk}/script/scheduling", headers=nurse_client.headers)

    greet = (await resp.json())["steps"][0]
    assert "St. &lt;Example&gt;" in greet["html"] and "call.hospital_name" not in greet["missing"]


async def test_given_an_unconfirmed_caller_with_an_appointment_when_the_script_is_asked_then_no_appointment_until_confirmed(  # noqa: E501
        nurse_client):
    s, patient_id = nurse_client.services, nurse_client.patient_ids[0]
    s.cfg.site.hospital_name = "City Hospital"
    s.cfg.site.time_zone = "America/New_York"  # the time is said as the hospital's clock shows it
    starts = datetime(2031, 5, 6, 10, 30, tzinfo=UTC)
    await s.db.run(lambda session: session.add_all([
        Appointment(patient_id=patient_id, department="Cardiology", starts_at=starts, status="booked"),
        Call(id=CALL_ID, status="offering", caller_status="valid", candidate_patient_ids=[patient_id])]))
    url = f"/api/agents/{NURSE.desk}/script/scheduling"

    ringing = await (await nurse_client.get(url, headers=nurse_client.headers)).json()
    steps = {step["id"]: step for step in ringing["steps"]}
    assert "Ríos" in steps["greet"]["html"], "the pop's identity fields may be said"
    assert "2031" not in str(ringing) and "06 May" not in str(ringing), "no appointment before the check"
    assert all(not step["missing"] for step in ringing["steps"]), ringing

    viewed = await nurse_client.post(f"/api/agents/{NURSE.desk}/patients/{patient_id}/view",
                                     json={"via": "pop", "call_id": CALL_ID}, headers=nurse_client.headers)
    assert viewed.status == 200, await viewed.text()
    confirmed = await (await nurse_client.get(url, headers=nurse_client.headers)).json()
    need = {step["id"]: step for step in confirmed["steps"]}["need"]
    assert "06 May 2031 06:30" in need["html"] and not need["missing"]

    await s.events.flush()
    audits = await s.db.run(lambda session: session.scalars(
        select(AuditEvent).where(AuditEvent.action == "script_patient_fields").order_by(AuditEvent.id)).all())
    assert [(a.patient_id, a.detail["confirmed"]) for a in audits] == [
        (patient_id, False), (patient_id, True)]


@pytest.mark.parametrize("queue, campaign_script, expected", [
    ("nurse", None, "nurse_advice"), ("emergency-nurse", None, "nurse_advice"),
    ("appointments", None, "scheduling"), ("results", None, "results"), ("general", None, "general"),
    ("appointments", "chronic_check", "chronic_check"),
])
async def test_given_a_call_of_a_queue_or_a_campaign_when_the_panel_opens_then_the_script_is_its_own(
        nurse_client, queue, campaign_script, expected):
    call = nurse_client.services.router.find(CALL_ID)
    call.queue_name = queue
    if campaign_script:
        call.flavour.script = campaign_script  # a progressive campaign's call (ProgressiveDial.script)

    resp = await nurse_client.get(f"/api/agents/{NURSE.desk}/triage", headers=nurse_client.headers)
    state = await resp.json()

    assert state["script"] == expected

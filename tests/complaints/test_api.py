"""The tickets' JSON API (issue 17): the list with its filters holds no contact, text or patient; the detail
is audited for whoever reads it, an API client as itself; create and the workflow steps as on the console,
attributed to the client; bad filters, an assignee who does not work tickets and a step that does not apply
are refused with the reason and change nothing. Every answer is checked against the OpenAPI document by the
aiohttp_client fixture."""
from __future__ import annotations

from sqlalchemy import select

from callcenter.db.models import AuditEvent, ComplaintEvent
from tests.browser.live import ROLE_USERS, add_test_client, origin, sign_in

from .test_http import console

SECRET = "secret-of-the-relations-system"
BEARER = {"Authorization": f"Bearer {SECRET}"}


async def api_console(tmp_path, sqlite_url, aiohttp_client):
    client = await console(tmp_path, sqlite_url, aiohttp_client, proxy=False)
    add_test_client(sqlite_url, name="relations-system", scopes={"complaints"}, secret=SECRET)
    return client


async def test_given_tickets_when_listed_with_filters_then_only_matching_ones_without_patient_data(
        tmp_path, sqlite_url, aiohttp_client):
    client = await api_console(tmp_path, sqlite_url, aiohttp_client)
    tickets = client.services.complaints
    radiology = await tickets.create_ticket("web", text="Lost my scan.", department="radiology",
                                            contact_name="Pat Example")
    await tickets.create_ticket("letter", text="Thank you!", kind="praise")
    await sign_in(client, ROLE_USERS["relations"].username)

    everything = await (await client.get("/api/complaints")).json()
    filtered = await (await client.get("/api/complaints", params={"department": "radiology",
                                                                  "status": "received"})).json()
    praise = await (await client.get("/api/complaints", params={"kind": "praise", "channel": "web"})).json()
    overdue = await (await client.get("/api/complaints", params={"overdue": "true"})).json()

    assert len(everything["tickets"]) == 2
    assert [t["serial"] for t in filtered["tickets"]] == [radiology.serial]
    assert praise["tickets"] == [] and overdue["tickets"] == []
    listed = str(everything)
    assert "Pat Example" not in listed and "Lost my scan." not in listed and "patient_id" not in listed


async def test_given_an_api_client_when_it_creates_reads_and_resolves_a_ticket_then_each_is_its_own(
        tmp_path, sqlite_url, aiohttp_client):
    client = await api_console(tmp_path, sqlite_url, aiohttp_client)

    created = await client.post("/api/complaints", headers=BEARER, json={
        "channel": "letter", "text": "<b>Rude</b> at reception.", "category": "staff_attitude",
        "contact_email": "pat@example.org"})
    ticket = await created.json()
    url = f"/api/complaints/{ticket['id']}"
    detail = await (await client.get(url, headers=BEARER)).json()
    steps = [await client.post(f"{url}/steps", headers=BEARER, json=body) for body in (
        {"step": "start"}, {"step": "resolve", "text": "We apologised.", "communicated_by": "email"})]

    assert created.status == 201 and ticket["display"].replace(" ", "") == ticket["serial"]
    assert detail["text"] == "<b>Rude</b> at reception." and detail["contact"]["email"] == "pat@example.org"
    assert [s.status for s in steps] == [200, 200]
    assert (await steps[-1].json())["status"] == "resolved"
    with client.services.db.session() as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "complaint_viewed")).all()
        actors = session.scalars(select(ComplaintEvent.actor).order_by(ComplaintEvent.id)).all()
    assert [(r.actor_client_id is not None, r.actor_user_id, r.detail) for r in reads] == [
        (True, None, {"complaint_id": ticket["id"], "via": "api", "api_client": "relations-system"})]
    assert actors == ["api:relations-system"] * 3


async def test_given_bad_requests_when_sent_then_refused_with_the_reason_and_nothing_changes(
        tmp_path, sqlite_url, aiohttp_client):
    client = await api_console(tmp_path, sqlite_url, aiohttp_client)
    ticket = await client.services.complaints.create_ticket("web", text="Cold food.")
    agent_id = await _user_id(client, ROLE_USERS["agent"].username)
    url = f"/api/complaints/{ticket.id}/steps"

    answers = [
        await client.get("/api/complaints", headers=BEARER, params={"status": "lost"}),
        await client.get("/api/complaints", headers=BEARER, params={"limit": "0"}),
        await client.post("/api/complaints", headers=BEARER, json={"text": "x", "channel": "pigeon"}),
        await client.post(url, headers=BEARER, json={"step": "assign"}),   # a client must name the assignee
        await client.post(url, headers=BEARER, json={"step": "assign", "user_id": agent_id}),  # no tickets
        await client.post(url, headers=BEARER, json={"step": "close"}),   # not resolved yet
        await client.get("/api/complaints/999999", headers=BEARER),
    ]

    assert [a.status for a in answers] == [400, 400, 400, 400, 400, 409, 404]
    assert "channel" in (await answers[2].json())["error"]
    with client.services.db.session() as session:
        assert session.scalars(select(ComplaintEvent.type)).all() == ["received"]


async def test_given_the_relations_user_when_assigning_without_a_user_then_the_ticket_is_theirs(
        tmp_path, sqlite_url, aiohttp_client):
    client = await api_console(tmp_path, sqlite_url, aiohttp_client)
    ticket = await client.services.complaints.create_ticket("web", text="Parking fees.")
    token = await sign_in(client, ROLE_USERS["relations"].username)

    taken = await client.post(f"/api/complaints/{ticket.id}/steps", json={"step": "assign"},
                              headers={"Origin": origin(client), "X-CSRF-Token": token})

    body = await taken.json()
    assert taken.status == 200 and body["status"] == "assigned"
    assert body["assigned_user_id"] == await _user_id(client, ROLE_USERS["relations"].username)


async def _user_id(client, username: str) -> int:
    from callcenter.db.models import User
    with client.services.db.session() as session:
        return session.scalar(select(User.id).where(User.username == username))

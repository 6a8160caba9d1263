"""Webhooks through the JSON API (API token) and the admin forms, on the real application (aiohttp test
client, SQLite) with its delivery worker sending to a real receiver."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db.models import ApiClient, AuditEvent
from callcenter.main import build, init_app
from tests.browser.live import API_TOKEN, ROLE_USERS, console_config, origin, seed_role_users, sign_in

from .conftest import until
from .receiver import SECRET

API = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def app(tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url)
    cfg = console_config(tmp_path, sqlite_url)
    cfg.webhooks.poll_seconds, cfg.webhooks.backoff_seconds = 0.05, 0.02
    services = build(cfg)
    client = await aiohttp_client(init_app(cfg, services, ari=False))
    return client, services


async def test_given_a_subscription_created_by_api_when_listed_then_its_secret_was_shown_once_only(app):
    client, _ = app
    made = await client.post("/api/webhooks", headers=API, json={
        "name": "his", "url": "https://his.example.org/hook", "events": ["call.ended", "red_flag"]})
    assert made.status == 201
    created = await made.json()
    assert len(created["secret"]) >= 32 and created["scopes"] == []

    listed = await (await client.get("/api/webhooks", headers=API)).json()
    one = await (await client.get(f"/api/webhooks/{created['id']}", headers=API)).json()

    assert "secret" not in str(listed) and "secret" not in one
    assert listed["subscriptions"][0]["events"] == ["call.ended", "red_flag"]


@pytest.mark.parametrize("body, field_error", [
    ({"name": "x", "url": "ftp://his.example.org/", "events": ["call.ended"]}, "URL"),
    ({"name": "x", "url": "https://his.example.org/", "events": ["patient.admitted"]}, "choose events"),
    ({"name": "x", "url": "https://his.example.org/", "events": ["call.ended"], "scopes": ["all"]}, "scopes"),
    ({"name": "x", "url": "https://his.example.org/", "events": ["call.ended"], "secret": "short"}, "secret"),
    ({"name": "x", "url": "https://his.example.org/", "events": [{"type": "call.ended"}]}, "lists"),
])
async def test_given_a_bad_subscription_when_posted_then_400_saying_what_is_wrong(app, body, field_error):
    client, _ = app
    response = await client.post("/api/webhooks", headers=API, json=body)

    assert response.status == 400
    assert field_error in (await response.json())["error"]


async def test_given_a_name_in_use_when_another_is_created_with_it_then_409(app):
    client, _ = app
    body = {"name": "his", "url": "https://his.example.org/hook", "events": ["call.ended"]}
    assert (await client.post("/api/webhooks", headers=API, json=body)).status == 201

    assert (await client.post("/api/webhooks", headers=API, json=body)).status == 409


async def test_given_a_delivered_event_when_resent_by_api_then_the_receiver_gets_the_same_body_again(
        app, receiver):
    client, services = app
    await client.post("/api/webhooks", headers=API, json={
        "name": "his", "url": receiver.url, "events": ["call.ended"], "secret": SECRET})

    services.events.event("c" * 32, "ended", outcome="answered", reason="caller_hangup")
    await receiver.wait_for(lambda r: len(r.delivered()) == 1)

    async def delivered() -> list[dict]:
        found = await client.get("/api/webhooks/deliveries?status=delivered", headers=API)
        return (await found.json())["deliveries"]
    await until(delivered)
    delivery = (await delivered())[0]
    resent = await client.post(f"/api/webhooks/deliveries/{delivery['id']}/resend", headers=API)
    await receiver.wait_for(lambda r: len(r.delivered()) == 2)

    assert resent.status == 200
    first, again = receiver.delivered()
    assert first.body == again.body and again.verifies()
    assert (await client.get("/api/webhooks/deliveries?status=sent", headers=API)).status == 400
    assert (await client.post("/api/webhooks/deliveries/999999/resend", headers=API)).status == 404


async def test_given_the_admin_form_when_a_subscription_is_created_then_the_page_shows_its_secret_once(app):
    client, _ = app
    token = await sign_in(client, ROLE_USERS["admin"].username)
    headers = {"Origin": origin(client), "Accept": "text/html"}
    form = [("csrf_token", token), ("name", "lab"), ("url", "https://lab.example.org/in"),
            ("events", "call.started"), ("events", "disposition"), ("scopes", "clinical"), ("active", "on")]

    created = await client.post("/admin/webhooks", data=form, headers=headers)
    page = await client.get("/admin/webhooks", headers=headers)

    assert created.status == 201
    text = await created.text()
    assert 'id="webhook-secret"' in text
    secret = text.split('id="webhook-secret"')[1].split("<code>")[1].split("</code>")[0]
    assert len(secret) >= 32 and secret not in await page.text()
    assert 'data-subscription="lab"' in await page.text()


async def test_given_a_refused_admin_form_when_shown_again_then_what_was_typed_is_kept(app):
    client, _ = app
    token = await sign_in(client, ROLE_USERS["admin"].username)
    form = [("csrf_token", token), ("name", "lab"), ("url", "not a url"), ("events", "call.started")]

    refused = await client.post("/admin/webhooks", data=form, headers={"Origin": origin(client),
                                                                        "Accept": "text/html"})

    assert refused.status == 400
    text = await refused.text()
    assert "http:// or https://" in text and 'value="lab"' in text and 'value="not a url"' in text


async def test_given_a_subscription_when_its_secret_is_replaced_paused_and_deleted_then_answers_say_so(app):
    client, _ = app
    made = await (await client.post("/api/webhooks", headers=API, json={
        "name": "his", "url": "https://his.example.org/hook", "events": ["call.ended"]})).json()
    path = f"/api/webhooks/{made['id']}"
    body = {"name": "his", "url": "https://his.example.org/v2", "events": ["call.ended"], "active": False}

    kept = await (await client.put(path, headers=API, json=body)).json()
    new_secret = {"secret": "a-new-secret-0123456789"}
    rotated = await (await client.put(path, headers=API, json=body | new_secret)).json()
    deleted = await client.delete(path, headers=API)

    assert "secret" not in kept and kept["url"].endswith("/v2") and kept["active"] is False
    assert rotated["secret"] == "a-new-secret-0123456789"
    assert deleted.status == 200
    assert (await client.get(path, headers=API)).status == 404


async def test_given_an_api_client_when_it_changes_subscriptions_then_each_audit_row_names_the_client(app):
    client, services = app
    made = await (await client.post("/api/webhooks", headers=API, json={
        "name": "his", "url": "https://his.example.org/hook", "events": ["call.ended"]})).json()
    assert (await client.delete(f"/api/webhooks/{made['id']}", headers=API)).status in (200, 204)

    with services.db.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action.like("webhook_subscription_%"))
                               .order_by(AuditEvent.id)).all()
        clients = session.scalars(select(ApiClient)).all()
    assert [r.action for r in rows] == ["webhook_subscription_created", "webhook_subscription_deleted"]
    named = {c.id: c.name for c in clients}
    assert all(r.actor_user_id is None and r.actor_client_id in named for r in rows)
    assert all(r.detail["api_client"] == named[r.actor_client_id] for r in rows)

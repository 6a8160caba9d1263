"""The HTTP API and the agent websocket, on the real services and database, without Asterisk."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest

from callcenter import config as configuration
from callcenter.db.models import Call as CallRow
from callcenter.main import build, init_app, stop

from ..browser.live import add_test_client

TOKEN = "unit-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class WaitingCall:
    def __init__(self, id_: str):
        self.id, self.language = id_, "en"

    def offer(self, agent) -> None:
        raise AssertionError("no agent is available in these tests")


@pytest.fixture
async def services(seeded_db, database_url, tmp_path):
    cfg = configuration.load(config_file=tmp_path / "absent.toml",
                             env={"CALLCENTER_STATE_DIR": str(tmp_path / "state")})
    cfg.database.url = database_url
    cfg.recordings.dir = str(tmp_path / "recordings")
    add_test_client(database_url, secret=TOKEN)
    services = build(cfg)
    await services.events.start()
    await services.queues.load()
    yield services
    await stop(services)


@pytest.fixture
async def client(services, aiohttp_client):
    return await aiohttp_client(init_app(services.cfg, services, managed=False))


async def post_state(client, number: str, *, headers: dict | None = None, **kwargs):
    return await client.post(f"/api/agents/{number}/state", headers={**AUTH, **(headers or {})}, **kwargs)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN + "x"},
                                     {"Authorization": "Basic " + TOKEN}])
@pytest.mark.parametrize(("method", "path"), [("GET", "/api/agents"), ("POST", "/api/agents/1001/state"),
                                              ("GET", "/api/queues"), ("GET", "/api/calls/x")])
async def test_given_missing_or_wrong_token_when_calling_api_then_401_and_nothing_changes(
        client, services, headers, method, path):
    resp = await client.request(method, path, headers=headers, json={"state": "available"})

    assert resp.status == 401
    assert "API token" in (await resp.json())["error"]
    assert services.queues.agent("1001").state == "logged_out"


async def test_given_token_in_query_when_calling_api_then_refused_with_pointer_to_the_header(client):
    """A token in a URL ends up in access logs, proxy logs and histories (issue 14)."""
    resp = await client.get(f"/api/agents?token={TOKEN}")
    header = await client.get("/api/agents", headers={"Authorization": f"Bearer {TOKEN}"})

    assert resp.status == 401 and "Authorization header" in (await resp.json())["error"]
    assert header.status == 200
    assert [a["number"] for a in await header.json()] == ["1001", "1002", "1003"]


async def test_given_no_token_when_checking_health_then_200_with_ari_disconnected(client):
    resp = await client.get("/health")

    assert resp.status == 200
    assert await resp.json() == {"ari_connected": False, "ari_connections": 0, "active_calls": 0,
                                 "event_log_failures": 0}


async def test_given_logged_out_agent_when_going_available_then_200_and_agent_json(client, services):
    resp = await post_state(client, "1001", json={"state": "available"})

    assert resp.status == 200
    body = await resp.json()
    assert (body["number"], body["state"], body["pause_reason"], body["call_id"]) == (
        "1001", "available", None, None)
    assert body["skills"] == ["general"] and body["languages"] == ["en"]
    assert services.queues.agent("1001").state == "available"


async def test_given_available_agent_when_pausing_with_reason_then_listed_paused(client):
    await post_state(client, "1002", json={"state": "available"})

    resp = await post_state(client, "1002", json={"state": "paused", "reason": "training"})
    agents = await (await client.get("/api/agents", headers=AUTH)).json()

    assert resp.status == 200
    assert (await resp.json())["pause_reason"] == "training"
    assert {a["number"]: (a["state"], a["pause_reason"]) for a in agents} == {
        "1001": ("logged_out", None), "1002": ("paused", "training"), "1003": ("logged_out", None)}


async def test_given_unknown_agent_when_setting_state_then_404_naming_it(client):
    resp = await post_state(client, "9999", json={"state": "available"})

    assert resp.status == 404
    assert await resp.json() == {"error": "no agent with number '9999'"}


@pytest.mark.parametrize("state", ["ringing", "on_call", "wrapup", "sleeping"])
async def test_given_call_driven_or_unknown_state_when_requested_then_409_with_clear_message(
        client, services, state):
    resp = await post_state(client, "1001", json={"state": state})

    assert resp.status == 409
    assert await resp.json() == {"error": f"an agent in state 'logged_out' cannot go to '{state}'"}
    assert services.queues.agent("1001").state == "logged_out"


@pytest.mark.parametrize(("body", "message"), [
    (b"state=available", "the body must be JSON"),
    (b"", "the body must be JSON"),
    (b"\xff\xfe{", "the body must be JSON"),
    (b'["available"]', "'state' is required"),
    (b'{"state": 3}', "'state' is required"),
    (b'{"reason": "x"}', "'state' is required"),
    (b'{"state": "paused", "reason": 5}', "'reason' must be a short text"),
    (b'{"state": "paused", "reason": "' + b"x" * 65 + b'"}', "'reason' must be a short text"),
])
async def test_given_malformed_body_when_setting_state_then_400_with_clear_message(
        client, services, body, message):
    resp = await post_state(client, "1001", data=body, headers={**AUTH, "Content-Type": "application/json"})

    assert resp.status == 400
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"].startswith(message)
    assert services.queues.agent("1001").state == "logged_out"


async def test_given_callers_waiting_when_listing_queues_then_positions_in_order(client, services):
    services.queues.enqueue(WaitingCall("first"), "nurse")
    services.queues.enqueue(WaitingCall("urgent"), "nurse", priority=5)

    resp = await client.get("/api/queues", headers=AUTH)

    assert resp.status == 200
    queues = {q["name"]: q for q in await resp.json()}
    assert set(queues) == {"general", "nurse"}
    assert queues["general"]["waiting"] == [] and queues["nurse"]["title"] == "Nurse line"
    waiting = queues["nurse"]["waiting"]
    assert [(w["call_id"], w["position"]) for w in waiting] == [("urgent", 1), ("first", 2)]
    assert all(w["waiting_seconds"] >= 0 for w in queues["nurse"]["waiting"])


async def test_given_unknown_call_when_fetched_then_404(client):
    resp = await client.get("/api/calls/" + "0" * 32, headers=AUTH)

    assert resp.status == 404
    assert await resp.json() == {"error": "no such call"}


async def test_given_ended_call_when_looked_up_by_its_channel_then_its_id_and_url(client, services):
    call_id = "e" * 32
    await services.db.run(lambda s: s.add(CallRow(id=call_id, channel_id="sim-1-hotline", status="ended",
                                                  caller_status="valid", started_at=datetime.now(UTC))))

    found = await client.get("/api/calls", params={"channel": "sim-1-hotline"}, headers=AUTH)
    unknown = await client.get("/api/calls", params={"channel": "sim-2-hotline"}, headers=AUTH)
    missing = await client.get("/api/calls", headers=AUTH)

    assert (found.status, await found.json()) == (200, {"id": call_id, "url": f"/api/calls/{call_id}"})
    assert (unknown.status, await unknown.json()) == (404, {"error": "no call on that channel"})
    assert missing.status == 400


async def test_given_call_with_events_when_fetched_then_row_and_events_in_order(client, services):
    started = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    call_id = "c" * 32
    await services.db.run(lambda s: s.add(CallRow(id=call_id, channel_id="ch", status="queued",
                                                  queue_name="nurse", caller_status="valid",
                                                  started_at=started)))
    services.events.event(call_id, "call_started", channel="ch")
    services.events.event(call_id, "queued", queue_name="nurse", priority=0)
    await services.events.flush()

    resp = await client.get(f"/api/calls/{call_id}", headers=AUTH)

    assert resp.status == 200
    body = await resp.json()
    assert (body["id"], body["status"], body["queue_name"]) == (call_id, "queued", "nurse")
    assert body["started_at"] == started.isoformat() and body["ended_at"] is None
    assert [(e["type"], e["data"]) for e in body["events"]] == [
        ("call_started", {"channel": "ch"}), ("queued", {"priority": 0})]


async def test_given_agent_console_when_socket_opens_then_hello_and_pushed_pop_arrive(client, services):
    async with client.ws_connect("/api/agents/1001/ws", headers=BEARER) as ws:
        assert await ws.receive_json(timeout=5) == {"type": "hello", "agent": "1001"}
        assert services.notifier.connected("1001") == 1

        delivered = await services.notifier.send("1001", {"type": "screen_pop", "call_id": "c1"})

        assert delivered == 1
        assert await ws.receive_json(timeout=5) == {"type": "screen_pop", "call_id": "c1"}
        assert await services.notifier.send("1002", {"type": "screen_pop"}) == 0


async def test_given_agent_console_closed_when_pushed_then_socket_forgotten(client, services):
    async with client.ws_connect("/api/agents/1001/ws", headers=BEARER) as ws:
        await ws.receive_json(timeout=5)

    for _ in range(100):
        if services.notifier.connected("1001") == 0:
            break
        await asyncio.sleep(0.01)
    assert services.notifier.connected("1001") == 0
    assert await services.notifier.send("1001", {"type": "screen_pop"}) == 0


@pytest.mark.parametrize(("path", "headers", "status"), [("/api/agents/9999/ws", BEARER, 404),
                                                         ("/api/agents/1001/ws", {}, 401),
                                                         (f"/api/agents/1001/ws?token={TOKEN}", {}, 401)])
async def test_given_unknown_agent_or_no_token_when_opening_socket_then_refused(client, path, headers,
                                                                                 status):
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(path, headers=headers)

    assert caught.value.status == status

"""Named, scoped, revocable API clients (issue 14): the `callcenter api-client` commands, the guard's answers
(401 unknown or revoked, 403 without the scope) and audit rows that name the client.

The permission matrix (tests/test_permissions.py) walks every route for one client per scope."""
from __future__ import annotations

import hashlib

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from argon2 import PasswordHasher
from sqlalchemy import select

from callcenter import cli
from callcenter import config as configuration
from callcenter.auth.clients import revoke_client
from callcenter.auth.sockets import SESSION_ENDED
from callcenter.db.database import Database
from callcenter.db.models import Agent, ApiClient, AuditEvent, Call
from callcenter.main import build, init_app

from .browser.live import API_TOKEN, ROLE_USERS, add_test_client, console_config, seed_role_users

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
KPI_ONLY = "kpi-reader-secret-0123456789abcdefghijklmnop"


@pytest.fixture
async def console(tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url, FAST)
    add_test_client(sqlite_url, name="kpi-reader", scopes=["kpi"], secret=KPI_ONLY)
    services = build(console_config(tmp_path, sqlite_url))
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    client.services = services
    client.url = sqlite_url
    return client


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def _rows(url: str, model, *where) -> list:
    db = Database(url)
    try:
        with db.session() as session:
            rows = list(session.scalars(select(model).where(*where)))
            session.expunge_all()
            return rows
    finally:
        db.close()


def _revoke(url: str, name: str) -> None:
    db = Database(url)
    try:
        with db.session() as session:
            revoke_client(session, name)
    finally:
        db.close()


# -- the guard -----------------------------------------------------------------------------------------------


async def test_given_client_without_the_scope_when_calling_a_route_then_403_and_with_it_200(console):
    kpi = await console.get("/api/kpi", headers=_bearer(KPI_ONLY))
    agents = await console.get("/api/agents", headers=_bearer(KPI_ONLY))
    metrics = await console.get("/api/metrics", headers=_bearer(KPI_ONLY))

    assert kpi.status == 200
    assert agents.status == 403 and "kpi-reader" in (await agents.json())["error"]
    assert metrics.status == 403


async def test_given_client_revoked_while_the_server_runs_when_it_calls_again_then_401_at_once(console):
    before = await console.get("/api/kpi", headers=_bearer(KPI_ONLY))
    ticket = await (await console.post("/api/ws-tickets", headers=_bearer(API_TOKEN))).json()

    _revoke(console.url, "kpi-reader")
    _revoke(console.url, "test-client")
    after = await console.get("/api/kpi", headers=_bearer(KPI_ONLY))
    with pytest.raises(WSServerHandshakeError) as caught:
        await console.ws_connect(f"/api/agents/{ROLE_USERS['agent'].desk}/ws?ticket={ticket['ticket']}")

    assert before.status == 200 and after.status == 401
    assert caught.value.status == 401   # a ticket asked for before the revocation is worth nothing after it


async def test_given_client_socket_open_when_client_revoked_then_socket_closed_at_the_next_recheck(console):
    ticket = await (await console.post("/api/ws-tickets", headers=_bearer(API_TOKEN))).json()
    ws = await console.ws_connect(f"/api/agents/{ROLE_USERS['agent'].desk}/ws?ticket={ticket['ticket']}")
    assert (await ws.receive_json(timeout=5))["type"] == "hello"

    await console.services.auth.sockets.recheck()   # still a client: stays open
    _revoke(console.url, "test-client")
    await console.services.auth.sockets.recheck()   # what the watch does every few seconds
    message = await ws.receive(timeout=5)
    while message.type == WSMsgType.TEXT:   # state pushes sent before the close
        message = await ws.receive(timeout=5)

    assert message.type == WSMsgType.CLOSE and ws.close_code == SESSION_ENDED


async def test_given_only_the_configured_api_token_when_calling_api_then_401(tmp_path, sqlite_url,
                                                                              aiohttp_client):
    """[http] api_token is what this machine's command-line tools present; the server accepts only clients
    it has in its table (it was an all-powerful token the server took from the configuration)."""
    seed_role_users(sqlite_url, FAST)
    _revoke(sqlite_url, "test-client")
    cfg = console_config(tmp_path, sqlite_url)
    cfg.http.api_token = "configured-token-0123456789abcdefghijkl"
    services = build(cfg)
    client = await aiohttp_client(init_app(cfg, services, ari=False))

    response = await client.get("/api/agents", headers=_bearer(cfg.http.api_token))

    assert response.status == 401


async def test_given_client_reading_a_call_when_served_then_audit_row_names_the_client(console):
    desk = ROLE_USERS["agent"].desk
    db = console.services.db
    with db.session() as session:
        agent = session.scalar(select(Agent).where(Agent.number == desk))
        call = Call(status="ended", queue_name="general", agent_id=agent.id)
        session.add(call)
        session.flush()
        call_id = call.id

    response = await console.get(f"/api/calls/{call_id}", headers=_bearer(API_TOKEN))

    client = _rows(console.url, ApiClient, ApiClient.name == "test-client")[0]
    audits = _rows(console.url, AuditEvent, AuditEvent.call_id == call_id, AuditEvent.action == "call_view")
    assert response.status == 200
    assert [(a.actor_user_id, a.actor_client_id) for a in audits] == [(None, client.id)]


# -- the commands --------------------------------------------------------------------------------------------


@pytest.fixture
def command_db(monkeypatch, isolated) -> str:
    url = f"sqlite:///{isolated / 'cc.db'}"
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", url)
    assert cli.main(["db", "upgrade"]) == 0
    return url


def test_given_add_command_when_run_then_secret_printed_once_and_only_its_hash_stored(command_db, capsys):
    capsys.readouterr()
    code = cli.main(["api-client", "add", "Prometheus", "--scope", "metrics", "--scope", "kpi,status"])

    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    row = _rows(command_db, ApiClient)[0]
    audit = _rows(command_db, AuditEvent, AuditEvent.action == "api_client_added")
    assert code == 0 and len(secret) >= 43   # 32 random bytes, url-safe base64
    assert (row.name, row.scopes, row.revoked_at) == ("prometheus", ["kpi", "metrics", "status"], None)
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert [(a.actor_client_id, a.detail["name"]) for a in audit] == [(row.id, "prometheus")]
    assert cli.main(["api-client", "list"]) == 0
    listed = capsys.readouterr().out
    assert "prometheus" in listed and "kpi,metrics,status" in listed and secret not in listed


@pytest.mark.parametrize("argv, message", [
    (["api-client", "add", "x", "--scope", "everything"], "unknown scope 'everything'"),
    (["api-client", "add", "Bad Name!", "--scope", "kpi"], "client name"),
    (["api-client", "revoke", "nobody"], "no API client named"),
])
def test_given_bad_arguments_when_api_client_command_runs_then_one_line_error(command_db, capsys, argv,
                                                                               message):
    code = cli.main(argv)

    assert code == 2 and message in capsys.readouterr().err


def test_given_revoked_client_when_added_again_or_listed_then_name_kept_and_shown_revoked(command_db, capsys):
    assert cli.main(["api-client", "add", "cron", "--scope", "campaigns"]) == 0
    assert cli.main(["api-client", "revoke", "cron"]) == 0
    capsys.readouterr()

    again = cli.main(["api-client", "add", "cron", "--scope", "campaigns"])
    err = capsys.readouterr().err
    cli.main(["api-client", "list"])

    assert again == 2 and "exists" in err
    assert "revoked" in capsys.readouterr().out
    assert [a.action for a in _rows(command_db, AuditEvent)] == ["api_client_added", "api_client_revoked"]


def test_given_fresh_install_when_setup_runs_twice_then_the_configured_token_is_the_cli_client_once(
        command_db, tmp_path):
    assert cli.main(["setup"]) == 0
    assert cli.main(["setup"]) == 0

    token = configuration.load(tmp_path / "callcenter.toml").http.api_token
    rows = _rows(command_db, ApiClient)
    assert [(r.name, r.scopes, r.secret_sha256) for r in rows] == [
        ("cli", ["calls", "campaigns", "desk"], hashlib.sha256(token.encode()).hexdigest())]

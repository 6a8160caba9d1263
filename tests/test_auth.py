"""Sign-in, passwords, lock-out, sessions, CSRF and the `callcenter user` commands."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from callcenter import cli
from callcenter.auth.exceptions import (
    DuplicateUser,
    InvalidUserField,
    SignInFailed,
    SignInThrottled,
    WeakPassword,
)
from callcenter.auth.services import AuthSettings, UserService, create_user, set_password
from callcenter.db.database import Database
from callcenter.db.models import AuditEvent, User
from callcenter.db.types import utcnow
from callcenter.main import build, init_app

from .browser.live import API_TOKEN, PASSWORD, ROLE_USERS, console_config, origin, page_csrf, sign_in

AGENT = ROLE_USERS["agent"]
# Cheap argon2 parameters for users that tests create directly: the service's default hasher then also
# exercises rehashing on sign-in.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


# -- users and passwords ------------------------------------------------------------------------------------


@pytest.fixture
def users(db: Database) -> UserService:
    with db.session() as session:
        create_user(session, FAST, "Alice", "agent", "Alice Moreno", PASSWORD)
    return UserService(db)


def _user(db: Database, username: str = "alice") -> User:
    with db.session() as session:
        return session.scalar(select(User).where(User.username == username))


def _audits(db: Database) -> list[AuditEvent]:
    """The audit rows, but the one of seeding the tests' API client (seed_role_users)."""
    with db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action != "api_client_added")
                                    .order_by(AuditEvent.id)))


def test_given_new_user_when_created_then_username_is_lower_case_and_password_is_argon2id(users, db):
    user = _user(db)

    assert user.role == "agent" and user.display_name == "Alice Moreno"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert user.password_changed_at is not None


@pytest.mark.parametrize("username, role, password, error", [
    ("alice", "agent", PASSWORD, DuplicateUser),
    ("bob", "doctor", PASSWORD, InvalidUserField),
    ("bob smith", "agent", PASSWORD, InvalidUserField),
    ("bob", "agent", "short-pass1", WeakPassword),
    ("bob", "agent", "my-name-is-bob-ok", WeakPassword),
])
def test_given_bad_input_when_creating_user_then_clear_error(users, db, username, role, password, error):
    with pytest.raises(error), db.session() as session:
        create_user(session, FAST, username, role, None, password)


async def test_given_right_password_when_signing_in_then_user_and_audit_row(users, db):
    user = await users.authenticate("ALICE ", PASSWORD, "10.0.0.7")

    assert (user.username, user.role, user.desk) == ("alice", "agent", None)
    assert _user(db).last_login_at is not None
    audit = _audits(db)[-1]
    assert (audit.action, audit.actor_user_id, audit.detail) == ("sign_in", user.id, {"remote": "10.0.0.7"})


async def test_given_old_hash_parameters_when_signing_in_then_password_is_rehashed(users, db):
    before = _user(db).password_hash

    await users.authenticate("alice", PASSWORD, None)

    after = _user(db).password_hash
    assert after != before and not users.hasher.check_needs_rehash(after)
    assert users.hasher.verify(after, PASSWORD)


async def test_given_wrong_password_when_signing_in_then_refused_and_audited_without_password(users, db):
    with pytest.raises(SignInFailed):
        await users.authenticate("alice", "not-the-password-at-all", None)

    audit = _audits(db)[-1]
    assert audit.action == "sign_in_failed" and audit.detail["reason"] == "wrong_password"
    assert "not-the-password" not in json.dumps([a.detail for a in _audits(db)])
    assert _user(db).failed_logins == 1


class CountingHasher(PasswordHasher):
    def __init__(self):
        super().__init__()
        self.verified = 0

    def verify(self, hash, password):
        self.verified += 1
        return super().verify(hash, password)


async def test_given_unknown_user_when_signing_in_then_a_hash_is_still_verified(users, db):
    hasher = CountingHasher()
    users = UserService(db, hasher)

    with pytest.raises(SignInFailed) as refused:
        await users.authenticate("nobody", PASSWORD, None)

    assert refused.value.reason == "unknown_user"
    assert hasher.verified == 1  # so it takes about as long as for a real user
    audit = _audits(db)[-1]
    assert (audit.action, audit.actor_user_id) == ("sign_in_failed", None)


async def test_given_five_failures_from_one_address_when_right_password_from_another_then_signed_in(users,
                                                                                                   db):
    """An attacker who knows a username cannot lock its user out (the old account lock was a DoS tool)."""
    for _ in range(5):
        with pytest.raises((SignInFailed, SignInThrottled)):
            await users.authenticate("alice", "wrong-password-123", "203.0.113.9")

    user = await users.authenticate("alice", PASSWORD, "10.0.0.7")

    assert user.username == "alice"
    assert _user(db).failed_logins == 0   # counted for the admin's view, cleared by the success
    assert "locked_out" not in [a.action for a in _audits(db)]


class SlowHasher(PasswordHasher):
    """Counts how many verifications run at once (each holds its thread for a moment, like argon2 does)."""

    def __init__(self):
        super().__init__()
        self.running = self.most = 0
        self._lock = threading.Lock()

    def verify(self, hash, password):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)  # the work of a hash, not a wait for a condition
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_given_a_burst_of_sign_ins_when_hashing_then_two_hashes_at_most_at_once(users, db):
    users = UserService(db, SlowHasher())

    outcomes = await asyncio.gather(*(users.authenticate("alice", "wrong-password-123", f"10.0.1.{i}")
                                      for i in range(8)), return_exceptions=True)

    assert all(isinstance(o, SignInFailed) for o in outcomes)
    assert users.hasher.most == 2


async def test_given_old_failures_outside_window_when_failing_again_then_count_restarts(users, db):
    for i in range(4):
        with pytest.raises(SignInFailed):
            await users.authenticate("alice", "wrong-password-123", f"10.0.0.{i}")
    with db.session() as session:
        session.execute(update(User).values(failed_logins_since=utcnow() - timedelta(minutes=16)))

    with pytest.raises(SignInFailed):
        await users.authenticate("alice", "wrong-password-123", None)

    assert _user(db).failed_logins == 1


async def test_given_failed_sign_ins_when_password_set_then_count_cleared_and_sessions_end(users, db):
    with db.session() as session:
        session.execute(update(User).values(failed_logins=3, failed_logins_since=utcnow()))
        set_password(session, FAST, "alice", "a-brand-new-password")

    user = _user(db)
    assert (user.failed_logins, user.failed_logins_since, user.session_version) == (0, None, 1)
    assert (await users.authenticate("alice", "a-brand-new-password", None)).session_version == 1


async def test_given_inactive_user_when_right_password_then_refused(users, db):
    with db.session() as session:
        session.execute(update(User).values(active=False))

    with pytest.raises(SignInFailed):
        await users.authenticate("alice", PASSWORD, None)
    assert await users.current(_user(db).id) is None


def test_given_remote_host_when_settings_derived_then_cookies_are_secure(tmp_path):
    cfg = console_config(tmp_path, "sqlite://")
    assert AuthSettings.from_config(cfg).secure_cookies is False
    cfg.http.host = "0.0.0.0"
    assert AuthSettings.from_config(cfg).secure_cookies is True


# -- the `callcenter user` commands ------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch, tmp_path, sqlite_url):
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", sqlite_url)
    assert cli.main(["db", "upgrade"]) == 0
    return sqlite_url


def _run(monkeypatch, argv: list[str], stdin: str = "", tty: bool = False) -> int:
    stream = io.StringIO(stdin)
    stream.isatty = lambda: tty
    monkeypatch.setattr("sys.stdin", stream)
    return cli.main(argv)


def _stored_user(url: str, username: str) -> User | None:
    db = Database(url)
    try:
        return _user(db, username)
    finally:
        db.close()


def test_given_password_on_stdin_when_user_add_then_user_can_sign_in(cli_env, monkeypatch, capsys):
    code = _run(monkeypatch, ["user", "add", "dana", "--role", "nurse", "--display-name", "Dana W, RN",
                              "--password-stdin"], PASSWORD + "\n")

    assert code == 0 and "created nurse 'dana'" in capsys.readouterr().out
    user = _stored_user(cli_env, "dana")
    assert (user.role, user.display_name) == ("nurse", "Dana W, RN")
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


@pytest.mark.parametrize("argv, stdin, message", [
    (["user", "add", "x1", "--role", "doctor", "--password-stdin"], PASSWORD, "unknown role 'doctor'"),
    (["user", "add", "x1", "--role", "agent", "--password-stdin"], "too-short", "at least 12 characters"),
    (["user", "add", "x1", "--role", "agent"], "", "--password-stdin"),
    (["user", "passwd", "ghost", "--password-stdin"], PASSWORD, "no user named 'ghost'"),
])
def test_given_bad_request_when_user_command_then_clear_error(cli_env, monkeypatch, capsys, argv, stdin,
                                                                message):
    assert _run(monkeypatch, argv, stdin) == 2
    assert message in capsys.readouterr().err


def test_given_existing_user_when_user_add_again_then_duplicate_error(cli_env, monkeypatch, capsys):
    argv = ["user", "add", "sam", "--role", "supervisor", "--password-stdin"]
    assert _run(monkeypatch, argv, PASSWORD) == 0

    assert _run(monkeypatch, argv, PASSWORD) == 2
    assert "already exists" in capsys.readouterr().err


def test_given_terminal_when_user_add_then_password_is_asked_twice(cli_env, monkeypatch, capsys):
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    assert _run(monkeypatch, ["user", "add", "eve", "--role", "agent"], tty=True) == 2
    assert "the two passwords differ" in capsys.readouterr().err

    answers = iter([PASSWORD, PASSWORD])
    assert _run(monkeypatch, ["user", "add", "eve", "--role", "agent"], tty=True) == 0


def test_given_users_when_passwd_and_list_then_password_changes_and_list_shows_them(cli_env, monkeypatch,
                                                                                     capsys):
    _run(monkeypatch, ["user", "add", "ann", "--role", "admin", "--password-stdin"], PASSWORD)
    assert _run(monkeypatch, ["user", "passwd", "ann", "--password-stdin"], "another-long-password") == 0
    assert PasswordHasher().verify(_stored_user(cli_env, "ann").password_hash, "another-long-password")
    capsys.readouterr()

    assert _run(monkeypatch, ["user", "list"]) == 0
    out = capsys.readouterr().out
    assert "ann" in out and "admin" in out and "active" in out and "another-long" not in out


def test_given_must_change_flag_when_passwd_then_user_must_change_at_next_sign_in(cli_env, monkeypatch):
    _run(monkeypatch, ["user", "add", "ann", "--role", "admin", "--password-stdin"], PASSWORD)
    assert _stored_user(cli_env, "ann").must_change_password is False

    assert _run(monkeypatch, ["user", "passwd", "ann", "--must-change", "--password-stdin"],
                "another-long-password") == 0

    assert _stored_user(cli_env, "ann").must_change_password is True


def test_given_demo_when_seeded_with_demo_passwords_then_every_demo_user_has_the_demo_password(
        cli_env, monkeypatch, capsys):
    assert _run(monkeypatch, ["seed-demo", "--demo-passwords"]) == 0
    assert json.loads(capsys.readouterr().out)["demo_password"] == cli.DEMO_PASSWORD

    for username in ("alice", "brian", "carla", "dana", "elena", "frank", "sam", "admin", "rosa"):
        assert PasswordHasher().verify(_stored_user(cli_env, username).password_hash, cli.DEMO_PASSWORD)


# -- HTTP: sessions, CSRF, the API token --------------------------------------------------------------------


@pytest.fixture
async def console(tmp_path, sqlite_url, aiohttp_client):
    from .browser.live import seed_role_users
    seed_role_users(sqlite_url, FAST)
    services = build(console_config(tmp_path, sqlite_url))
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    client.services = services
    return client


async def _another_client(console, aiohttp_client):
    client = await aiohttp_client(console.server)
    client.services = console.services
    return client


def _session_cookie(client) -> str | None:
    found = [c for c in client.session.cookie_jar if c.key == "callcenter_session"]
    return found[0].value if found else None


async def test_given_anonymous_browser_when_opening_a_page_then_sent_to_login_with_next(console):
    response = await console.get("/supervisor?tab=queues", headers={"Accept": "text/html"},
                                 allow_redirects=False)

    location = urlsplit(response.headers["Location"])
    assert response.status == 303 and location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/supervisor?tab=queues"]}


async def test_given_anonymous_client_when_calling_api_then_401_json(console):
    response = await console.get("/api/agents")

    assert response.status == 401 and "error" in await response.json()


async def test_given_bearer_token_when_calling_api_then_works_without_session_or_csrf(console):
    headers = {"Authorization": f"Bearer {API_TOKEN}"}

    agents = await console.get("/api/agents", headers=headers)
    state = await console.post(f"/api/agents/{AGENT.desk}/state", json={"state": "paused"}, headers=headers)
    wrong = await console.get("/api/agents", headers={"Authorization": "Bearer nope"})

    assert agents.status == 200 and state.status == 200
    assert (await state.json())["state"] == "paused"
    assert wrong.status == 401 and await wrong.json() == {"error": "missing or wrong API token"}
    assert _session_cookie(console) is None


async def test_given_ticket_when_opening_agent_socket_then_hello_once_and_token_in_url_refused(console):
    from aiohttp import WSServerHandshakeError
    url = f"/api/agents/{AGENT.desk}/ws"
    answer = await console.post("/api/ws-tickets", headers={"Authorization": f"Bearer {API_TOKEN}"})
    ticket = (await answer.json())["ticket"]

    ws = await console.ws_connect(f"{url}?ticket={ticket}")
    try:
        assert (await ws.receive_json(timeout=5)) == {"type": "hello", "agent": AGENT.desk}
    finally:
        await ws.close()
    refused = []
    for path in (f"{url}?ticket={ticket}", f"{url}?token={API_TOKEN}", f"{url}?ticket=made-up"):
        with pytest.raises(WSServerHandshakeError) as caught:
            await console.ws_connect(path)
        refused.append(caught.value.status)

    assert answer.status == 200 and (await answer.json())["expires_in"] == 30
    assert refused == [401, 401, 401]   # spent, in the URL, unknown
    assert (await console.get(f"/api/agents?ticket={ticket}")).status == 401   # websockets only


async def test_given_ticket_older_than_its_seconds_when_opening_socket_then_refused(console):
    from aiohttp import WSServerHandshakeError
    tickets = console.services.auth.tickets
    answer = await console.post("/api/ws-tickets", headers={"Authorization": f"Bearer {API_TOKEN}"})
    ticket = (await answer.json())["ticket"]
    tickets.clock = lambda: time.monotonic() + tickets.ttl

    with pytest.raises(WSServerHandshakeError) as caught:
        await console.ws_connect(f"/api/agents/{AGENT.desk}/ws?ticket={ticket}")

    assert caught.value.status == 401


async def test_given_requests_when_served_then_access_log_has_no_query_string_nor_token(
        tmp_path, sqlite_url, aiohttp_client, caplog):
    from aiohttp.test_utils import TestServer

    from callcenter.web.middlewares import AccessLogger

    from .browser.live import seed_role_users
    seed_role_users(sqlite_url, FAST)
    services = build(console_config(tmp_path, sqlite_url))
    server = TestServer(init_app(services.cfg, services, ari=False))
    await server.start_server(access_log_class=AccessLogger)  # as main.run serves it
    client = await aiohttp_client(server)
    caplog.set_level(logging.INFO, logger="aiohttp.access")

    await client.get("/api/agents?token=the-secret-token&mrn=MRN-12345",
                     headers={"Referer": "http://x/search?name=Jane+Doe"})

    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1 and "GET /api/agents 401" in lines[0]
    assert not any(word in lines[0] for word in ("token", "MRN", "Jane", "?"))


def test_given_serve_when_running_then_the_access_log_without_query_strings_is_used(tmp_path, monkeypatch):
    from aiohttp import web

    from callcenter import main
    from callcenter.web.middlewares import AccessLogger
    seen = {}
    monkeypatch.setattr(web, "run_app", lambda app, **kwargs: seen.update(kwargs))

    main.run(web.Application(), console_config(tmp_path, "sqlite://"))

    assert seen["access_log_class"] is AccessLogger


async def test_given_right_password_when_signing_in_then_session_cookie_is_rotated_and_strict(console):
    login = await console.get("/login", headers={"Accept": "text/html"})
    anonymous_token, anonymous_cookie = page_csrf(await login.text()), _session_cookie(console)
    data = {"username": AGENT.username, "password": PASSWORD, "csrf_token": anonymous_token, "next": "/"}

    response = await console.post("/login", data=data, headers={"Origin": origin(console)},
                                  allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.cookies["callcenter_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    assert int(cookie["max-age"]) == 8 * 3600
    assert _session_cookie(console) != anonymous_cookie
    home = await console.get("/", headers={"Accept": "text/html"})
    assert page_csrf(await home.text()) != anonymous_token
    assert AGENT.display_name in await home.text()


async def test_given_wrong_or_unknown_credentials_when_signing_in_then_same_generic_message(console, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    for username in (AGENT.username, "nobody"):
        token = page_csrf(await (await console.get("/login")).text())
        data = {"username": username, "password": "Secret-Wrong-1234", "csrf_token": token}
        response = await console.post("/login", data=data, headers={"Origin": origin(console)})
        assert response.status == 200
        texts.append(await response.text())

    assert all("Sign-in failed: check the username and password." in t for t in texts)
    assert texts[0].replace(AGENT.username, "nobody").split('name="csrf_token"')[0] \
        == texts[1].split('name="csrf_token"')[0]
    assert "Secret-Wrong-1234" not in caplog.text


async def test_given_repeated_failures_when_signing_in_on_the_form_then_429_with_retry_after(console):
    for _ in range(4):
        token = page_csrf(await (await console.get("/login")).text())
        data = {"username": AGENT.username, "password": "Secret-Wrong-1234", "csrf_token": token}
        response = await console.post("/login", data=data, headers={"Origin": origin(console)})

    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins from here" in await response.text()


@pytest.mark.parametrize("headers, with_token", [
    ({}, False),                                           # no CSRF token
    ({"Origin": "http://evil.example"}, True),             # token, but sent from another site
    ({}, True),                                            # token, but neither Origin nor Referer
])
async def test_given_forged_login_post_when_submitted_then_403(console, headers, with_token):
    token = page_csrf(await (await console.get("/login")).text())
    headers = headers or ({"Origin": origin(console)} if not with_token else {})
    data = {"username": AGENT.username, "password": PASSWORD} | ({"csrf_token": token} if with_token else {})

    response = await console.post("/login", data=data, headers=headers, allow_redirects=False)

    assert response.status == 403


async def test_given_signed_in_when_posting_without_csrf_token_then_403_and_with_it_200(console):
    token = await sign_in(console, AGENT.username)
    url = f"/api/agents/{AGENT.desk}/state"

    forged = await console.post(url, json={"state": "paused"}, headers={"Origin": origin(console)})
    wrong = await console.post(url, json={"state": "paused"},
                               headers={"Origin": origin(console), "X-CSRF-Token": token + "x"})
    cross = await console.post(url, json={"state": "paused"},
                               headers={"Origin": "http://evil.example", "X-CSRF-Token": token})
    good = await console.post(url, json={"state": "paused"},
                              headers={"Origin": origin(console), "X-CSRF-Token": token})

    assert (forged.status, wrong.status, cross.status) == (403, 403, 403)
    assert "CSRF" in (await forged.json())["error"]
    assert good.status == 200 and (await good.json())["state"] == "paused"


async def test_given_signed_in_form_with_referer_only_when_posting_then_accepted(console):
    token = await sign_in(console, AGENT.username)

    response = await console.post("/logout", data={"csrf_token": token},
                                  headers={"Referer": origin(console) + "/"}, allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/login?signed_out=1"


async def test_given_agent_when_acting_on_another_desk_then_403_but_supervisor_may(console, aiohttp_client):
    token = await sign_in(console, AGENT.username)
    boss = await _another_client(console, aiohttp_client)
    boss_token = await sign_in(boss, ROLE_USERS["supervisor"].username)
    other = ROLE_USERS["nurse"].desk

    mine = await console.post(f"/api/agents/{other}/state", json={"state": "paused"},
                              headers={"Origin": origin(console), "X-CSRF-Token": token})
    theirs = await boss.post(f"/api/agents/{other}/state", json={"state": "paused"},
                             headers={"Origin": origin(boss), "X-CSRF-Token": boss_token})

    assert mine.status == 403 and theirs.status == 200


async def test_given_signed_in_when_websocket_from_other_origin_then_refused(console):
    from aiohttp import WSServerHandshakeError
    await sign_in(console, AGENT.username)
    url = f"/api/agents/{AGENT.desk}/ws"

    with pytest.raises(WSServerHandshakeError) as refused:
        await console.ws_connect(url, headers={"Origin": "http://evil.example"})
    ws = await console.ws_connect(url, headers={"Origin": origin(console)})
    try:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
    finally:
        await ws.close()
    assert refused.value.status == 403


async def test_given_signed_out_when_old_cookie_is_replayed_then_401(console, aiohttp_client):
    token = await sign_in(console, AGENT.username)
    stolen = _session_cookie(console)

    await console.post("/logout", data={"csrf_token": token}, headers={"Origin": origin(console)})
    replay = await _another_client(console, aiohttp_client)
    replay.session.cookie_jar.update_cookies({"callcenter_session": stolen})
    response = await replay.get("/api/queues")

    assert _session_cookie(console) != stolen
    assert response.status == 401
    assert "sign_out" in [a.action for a in _audits(console.services.db)]


@pytest.mark.parametrize("setting", ["idle_timeout", "max_age"])
async def test_given_expired_session_when_requesting_then_sign_in_again(console, setting):
    await sign_in(console, AGENT.username)
    setattr(console.services.auth.settings, setting, -1)

    response = await console.get("/", headers={"Accept": "text/html"}, allow_redirects=False)

    assert response.status == 303 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("target, landed", [
    ("/agent?tab=calls", "/agent?tab=calls"),
    ("//evil.example/x", "/"),
    ("/\\evil.example/x", "/"),
    ("https://evil.example/", "/"),
    ("/logout", "/"),
    ("/\t/evil.example/x", "/"),       # browsers drop tabs and newlines: //evil.example/x
    ("/\n/evil.example/x", "/"),
    ("/\r\n/evil.example/x", "/"),
    ("/ /evil.example/x", "/"),
    ("/x\\..\\\\evil.example", "/"),
    ("/agent#top", "/agent#top"),
])
async def test_given_next_when_signing_in_then_only_local_targets(console, target, landed):
    token = page_csrf(await (await console.get("/login")).text())
    data = {"username": AGENT.username, "password": PASSWORD, "csrf_token": token, "next": target}

    response = await console.post("/login", data=data, headers={"Origin": origin(console)},
                                  allow_redirects=False)

    assert response.headers["Location"] == landed


@pytest.mark.parametrize("query", ["next=/%09/evil.example", "next=/%0d%0a/evil.example",
                                   "next=%09//evil.example"])
async def test_given_signed_in_when_next_has_control_characters_then_redirected_home(console, query):
    await sign_in(console, AGENT.username)

    response = await console.get(f"/login?{query}", headers={"Accept": "text/html"}, allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/"


async def test_given_pages_when_served_then_security_headers_and_no_cache(console):
    await sign_in(console, AGENT.username)

    response = await console.get("/", headers={"Accept": "text/html"})

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


async def test_given_api_answers_and_pages_when_served_then_no_store_except_static_files(console):
    token = {"Authorization": f"Bearer {API_TOKEN}"}

    answers = [await console.get(path, headers=token)
               for path in ("/api/queues", "/api/agents", f"/api/calls/{'0' * 32}", "/health", "/login")]
    static = await console.get("/static/console.css")

    assert [a.headers.get("Cache-Control") for a in answers] == ["no-store"] * 5
    assert static.status == 200 and static.headers.get("Cache-Control") != "no-store"
    assert all("Strict-Transport-Security" not in a.headers for a in answers)  # plain HTTP on loopback


@pytest.mark.parametrize("setting, host, proxies, secure", [
    ("auto", "127.0.0.1", "", False),
    ("auto", "0.0.0.0", "", True),
    ("auto", "127.0.0.1", "127.0.0.1", True),       # TLS ends at the proxy in front
    ("true", "127.0.0.1", "", True),
    ("false", "0.0.0.0", "", False),
])
def test_given_secure_cookies_setting_when_settings_derived_then_cookies_follow(tmp_path, setting, host,
                                                                                proxies, secure):
    cfg = console_config(tmp_path, "sqlite://")
    cfg.http.secure_cookies, cfg.http.host, cfg.http.trusted_proxies = setting, host, proxies

    assert AuthSettings.from_config(cfg).secure_cookies is secure


@pytest.mark.parametrize("key, value, message", [
    ("SECURE_COOKIES", "sometimes", "http.secure_cookies: expected auto, true or false"),
    ("TRUSTED_PROXIES", "10.0.0.1, proxy.example", "'proxy.example' is not an address or network"),
])
def test_given_bad_web_setting_when_loaded_then_config_error_names_it(tmp_path, key, value, message):
    from callcenter.config import ConfigError, load
    with pytest.raises(ConfigError, match=message):
        load(tmp_path / "absent.toml", {f"CALLCENTER_HTTP_{key}": value})


@pytest.fixture
async def behind_proxy(tmp_path, sqlite_url, aiohttp_client):
    """The console behind a TLS-terminating proxy on 127.0.0.1 (where the test client connects from)."""
    from .browser.live import seed_role_users
    seed_role_users(sqlite_url, FAST)
    cfg = console_config(tmp_path, sqlite_url)
    cfg.http.trusted_proxies = "127.0.0.1"
    services = build(cfg)
    client = await aiohttp_client(init_app(cfg, services, ari=False))
    client.services = services
    return client


async def test_given_trusted_proxy_when_signing_in_then_client_address_audited_cookie_secure_and_hsts(
        behind_proxy):
    forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    login = await behind_proxy.get("/login", headers=forwarded)
    data = {"username": AGENT.username, "password": PASSWORD, "csrf_token": page_csrf(await login.text())}
    anonymous = login.cookies["callcenter_session"]  # Secure: the client's jar keeps it for https only
    assert anonymous["secure"]

    response = await behind_proxy.post("/login", data=data, allow_redirects=False, headers=forwarded | {
        "Origin": origin(behind_proxy), "Cookie": f"callcenter_session={anonymous.value}"})

    assert response.status == 303 and response.cookies["callcenter_session"]["secure"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    audit = _audits(behind_proxy.services.db)[-1]
    assert (audit.action, audit.detail["remote"]) == ("sign_in", "203.0.113.5")


async def test_given_proxy_not_trusted_when_forwarded_for_sent_then_ignored(console):
    """Without [http] trusted_proxies anybody could claim any address, and escape the sign-in throttle."""
    for attempt in range(4):
        token = page_csrf(await (await console.get("/login")).text())
        data = {"username": AGENT.username, "password": "Secret-Wrong-1234", "csrf_token": token}
        headers = {"Origin": origin(console), "X-Forwarded-For": f"198.51.100.{attempt}"}
        response = await console.post("/login", data=data, headers=headers)

    assert response.status == 429
    assert {a.detail["remote"] for a in _audits(console.services.db)} == {"127.0.0.1"}


async def test_given_proxy_configured_when_request_bypasses_it_then_refused_but_health_answers(tmp_path,
                                                                                               sqlite_url,
                                                                                               aiohttp_client):
    from .browser.live import seed_role_users
    seed_role_users(sqlite_url, FAST)
    cfg = console_config(tmp_path, sqlite_url)
    cfg.http.trusted_proxies = "10.9.9.9"   # the test client (127.0.0.1) is not that proxy
    services = build(cfg)
    client = await aiohttp_client(init_app(cfg, services, ari=False))

    page = await client.get("/login", headers={"X-Forwarded-For": "203.0.113.5"})
    health = await client.get("/health")

    assert page.status == 400 and health.status == 200


async def test_given_unknown_path_when_browser_then_html_404_and_api_then_json(console):
    page = await console.get("/nowhere", headers={"Accept": "text/html"})
    api = await console.get("/api/nowhere", headers={"Accept": "text/html"})

    assert page.status == 404 and "There is no such page" in await page.text()
    assert api.status == 404 and "error" in await api.json()


# -- one's own password, and "must change at next sign-in" ---------------------------------------------------

NEW_PASSWORD = "a quite different passphrase 7"


async def _form_post(client, path: str, data: dict, token: str):
    return await client.post(path, data=data | {"csrf_token": token}, headers={"Origin": origin(client)},
                             allow_redirects=False)


async def test_given_signed_in_when_changing_own_password_then_new_one_works_and_other_sessions_end(
        console, aiohttp_client):
    token = await sign_in(console, AGENT.username)
    elsewhere = await _another_client(console, aiohttp_client)
    await sign_in(elsewhere, AGENT.username)
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
            "next": "/agent"}

    response = await _form_post(console, "/account/password", form, token)

    assert response.status == 303 and response.headers["Location"] == "/agent"
    assert (await console.get("/api/queues")).status == 200          # this browser stays signed in
    assert (await elsewhere.get("/api/queues")).status == 401        # every other session ended
    assert "password_changed" in [a.action for a in _audits(console.services.db)]
    fresh = await _another_client(console, aiohttp_client)
    await sign_in(fresh, AGENT.username, NEW_PASSWORD)


@pytest.mark.parametrize("body, status, error", [
    ({"current_password": "not-it-at-all", "new_password": NEW_PASSWORD}, 400, "current password is wrong"),
    ({"current_password": PASSWORD, "new_password": "short"}, 400, "at least 12 characters"),
    ({"current_password": PASSWORD, "new_password": PASSWORD}, 400, "different from the current one"),
    ({"new_password": NEW_PASSWORD}, 400, "current_password"),
])
async def test_given_bad_change_when_changing_own_password_by_api_then_refused_and_unchanged(console, body,
                                                                                            status, error):
    token = await sign_in(console, AGENT.username)

    response = await console.post("/api/account/password", json=body,
                                  headers={"Origin": origin(console), "X-CSRF-Token": token})

    assert response.status == status and error in (await response.json())["error"]
    assert PasswordHasher().verify(_user(console.services.db, AGENT.username).password_hash, PASSWORD)


async def test_given_api_token_when_changing_password_then_refused(console):
    response = await console.post("/api/account/password", headers={"Authorization": f"Bearer {API_TOKEN}"},
                                  json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status == 403


async def test_given_admin_set_password_when_signing_in_then_must_change_it_before_anything_else(console):
    with console.services.db.session() as session:
        set_password(session, FAST, AGENT.username, "an admin chose this one", must_change=True)
    form_page = await console.get("/login", headers={"Accept": "text/html"})
    data = {"username": AGENT.username, "password": "an admin chose this one", "next": "/agent",
            "csrf_token": page_csrf(await form_page.text())}

    login = await console.post("/login", data=data, headers={"Origin": origin(console)},
                               allow_redirects=False)
    page = await console.get("/agent", headers={"Accept": "text/html"}, allow_redirects=False)
    api = await console.get("/api/queues")

    assert login.status == 303 and login.headers["Location"] == "/account/password?next=/agent"
    assert page.status == 303 and page.headers["Location"] == "/account/password?next=/agent"
    assert api.status == 403 and "change it first" in (await api.json())["error"]
    form = await console.get("/account/password?next=/agent", headers={"Accept": "text/html"})
    assert "An administrator set your password" in await form.text()
    body = {"current_password": "an admin chose this one", "new_password": NEW_PASSWORD}
    headers = {"Origin": origin(console), "X-CSRF-Token": page_csrf(await form.text())}
    changed = await console.post("/api/account/password", json=body, headers=headers)
    assert changed.status == 200
    assert (await console.get("/api/queues")).status == 200
    assert _user(console.services.db, AGENT.username).must_change_password is False


# -- websockets end with the session ------------------------------------------------------------------------


SOCKETS = {"agent": f"/api/agents/{AGENT.desk}/ws", "supervisor": "/api/wallboard/ws"}


async def _open_socket(client, role: str):
    await sign_in(client, ROLE_USERS[role].username)
    ws = await client.ws_connect(SOCKETS[role], headers={"Origin": origin(client)})
    await ws.receive_json(timeout=5)   # hello, or the first wallboard snapshot
    return ws


async def _closed(ws) -> int | None:
    """The close code once the server closes the socket (pushes before are skipped); None if it stays open."""
    from aiohttp import WSMsgType
    while True:
        try:
            msg = await ws.receive(timeout=10)
        except TimeoutError:
            return None
        if msg.type == WSMsgType.CLOSE:
            return msg.data   # the server's close code
        if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
            return ws.close_code


def _reset_password(db: Database, username: str) -> None:
    with db.session() as session:
        set_password(session, FAST, username, "an admin reset this one", must_change=True)


def _deactivate(db: Database, username: str) -> None:
    with db.session() as session:
        session.execute(update(User).where(User.username == username).values(active=False))


@pytest.mark.parametrize("role", ["agent", "supervisor"])
@pytest.mark.parametrize("ending", ["reset", "deactivated"])
async def test_given_open_socket_when_password_reset_or_user_deactivated_then_socket_closed(console, role,
                                                                                           ending):
    console.services.auth.sockets.recheck_seconds = 0.2
    ws = await _open_socket(console, role)

    (_reset_password if ending == "reset" else _deactivate)(console.services.db, ROLE_USERS[role].username)

    assert await _closed(ws) == 4401


async def test_given_open_socket_when_signing_out_then_socket_closed_at_once(console):
    ws = await _open_socket(console, "agent")   # re-checks every 5 s: sign-out does not wait for one
    token = page_csrf(await (await console.get("/", headers={"Accept": "text/html"})).text())

    await console.post("/logout", data={"csrf_token": token}, headers={"Origin": origin(console)})

    assert await asyncio.wait_for(_closed(ws), 3) == 4401


async def test_given_open_socket_when_session_outlives_its_lifetime_then_closed(console):
    console.services.auth.sockets.recheck_seconds = 0.2
    ws = await _open_socket(console, "agent")

    console.services.auth.sockets._clock = lambda: time.time() + 8 * 3600 + 1

    assert await _closed(ws) == 4401


async def test_given_open_socket_when_other_user_signs_out_then_socket_stays_open(console, aiohttp_client):
    console.services.auth.sockets.recheck_seconds = 0.2
    ws = await _open_socket(console, "agent")
    other = await _another_client(console, aiohttp_client)
    token = await sign_in(other, ROLE_USERS["nurse"].username)

    await other.post("/logout", data={"csrf_token": token}, headers={"Origin": origin(other)})
    await console.services.auth.sockets.recheck()

    delivered = await console.services.notifier.send(AGENT.desk, {"type": "screen_pop", "call_id": "c1"})
    assert delivered == 1 and (await ws.receive_json(timeout=5))["call_id"] == "c1"
    await ws.close()

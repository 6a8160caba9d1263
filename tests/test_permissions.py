"""The permission table, proven on the real application: every route x every role (and anonymous, an API
client with every scope, and one API client per scope) gets the answer callcenter/auth/permissions.py gives.

New routes are picked up by themselves (the test walks app.router). A route with path parameters other
than {number} (an agent desk: the signed-in user's own desk) needs a line in SAMPLES; so does a route that
needs a body, or that ends the session.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pytest
from aiohttp import WSServerHandshakeError, web
from sqlalchemy import select

from callcenter import main
from callcenter.auth.exceptions import PermissionTableError
from callcenter.auth.permissions import (
    ANONYMOUS,
    API,
    PERMISSIONS,
    ROLES,
    SCOPES,
    allowed,
    check_routes,
    client_allowed,
)
from callcenter.calls.services import CallIvr
from callcenter.db.database import Database
from callcenter.db.models import Agent, AuditEvent, Call, CallEvent, Patient, Queue, User
from callcenter.main import build, init_app
from callcenter.web.request import SERVICES

from .audit_faults import audit_rows_refused
from .browser.live import (
    API_TOKEN,
    ROLE_USERS,
    add_test_client,
    console_config,
    origin,
    page_csrf,
    seed_role_users,
    sign_in,
)


@dataclass(frozen=True)
class Sample:
    params: dict[str, str] = field(default_factory=dict)   # path parameters
    json: dict | None = None                               # body of a POST/PUT/PATCH
    form: dict | None = None
    websocket: bool = False
    signs_out: bool = False                                # sign in again after this one


SAMPLES: dict[str, Sample] = {
    "static": Sample(params={"filename": "console.css"}),
    "api_docs_assets": Sample(params={"filename": "swagger-ui.css"}),
    "login_submit": Sample(form={"username": "nobody", "password": "not-a-password"}),
    "logout": Sample(signs_out=True),
    # one's own password: a wrong current password (400), so the walk changes nothing
    "account_password_submit": Sample(form={"current_password": "not-the-password", "new_password": "x",
                                            "confirm_password": "x"}),
    "api_account_password": Sample(json={"current_password": "not-the-password", "new_password": "x"}),
    "api_agent_state": Sample(json={"state": "paused"}),
    "api_agent_socket": Sample(websocket=True),
    "api_call": Sample(params={"call_id": "0" * 32}),
    # follow-up questionnaires (issue 16): no such response (404), no call on the desk (409)
    "api_followup_desk_start": Sample(json={"questionnaire": "none"}),
    "api_followup_desk_answer": Sample(json={"question": "none", "value": 1}),
    "api_followup_paper_start": Sample(json={"questionnaire": "none", "mrn": "MRN-NONE"}),
    "followup_response": Sample(params={"response_id": "999999"}),
    "followup_sheet_pdf": Sample(params={"response_id": "999999"}),
    "api_followup_response": Sample(params={"response_id": "999999"}),
    "api_followup_paper_answer": Sample(params={"response_id": "999999"}, json={"question": "x", "value": 1}),
    "api_followup_designer_draft": Sample(params={"code": "none"}),
    "api_followup_designer_save": Sample(json={"id": "x"}),   # refused as incomplete: nothing stored
    # agent desk (issue 4)
    "api_desk_search": Sample(json={"mrn": "MRN-NONE"}),
    # no such patient (404): a break-the-glass view, as a search result needs the user's own search first
    "api_desk_patient_view": Sample(params={"patient_id": "999999"},
                                    json={"via": "break_glass", "reason": "permission walk"}),
    "api_desk_disposition": Sample(json={}),
    "api_desk_release": Sample(json={}),
    "api_disposition_task_complete": Sample(params={"task_id": "1"}, json={}),
    # call controls (issue 4)
    "api_call_hold": Sample(params={"call_id": "0" * 32}),
    "api_call_unhold": Sample(params={"call_id": "0" * 32}),
    "api_call_hangup": Sample(params={"call_id": "0" * 32}),
    "api_call_survey": Sample(params={"call_id": "0" * 32}),
    "api_call_transfer": Sample(params={"call_id": "0" * 32}, json={"mode": "blind", "queue": "general"}),
    "api_call_transfer_complete": Sample(params={"call_id": "0" * 32}),
    "api_call_transfer_cancel": Sample(params={"call_id": "0" * 32}),
    "api_agent_dial": Sample(json={"phone": "+14155550100"}),
    # supervision (issue 4)
    "api_wallboard_socket": Sample(websocket=True),
    "api_recordings": Sample(json={"patient": "MRN-NONE"}),
    "api_recording_play": Sample(params={"recording_id": "999999"}, json={"reason": "quality review"}),
    "api_recording_audio": Sample(params={"recording_id": "999999"}),
    "api_call_monitor": Sample(params={"call_id": "0" * 32}, json={"mode": "listen"}),
    "api_monitor_stop": Sample(params={"session_id": "0" * 32}),
    # admin view (issue 4): an unknown user, desk or queue (404), so the walk changes nothing
    "admin_user": Sample(params={"username": "nobody"}),
    "admin_user_role": Sample(params={"username": "nobody"}, form={"role": "agent"}),
    "admin_user_active": Sample(params={"username": "nobody"}, form={"active": "0"}),
    "admin_user_password": Sample(params={"username": "nobody"}, form={"password": "x"}),
    "admin_user_phone": Sample(params={"username": "nobody"}, form={"phone_endpoint": "PJSIP/2001"}),
    "admin_user_create": Sample(form={"username": ""}),
    "admin_desk_create": Sample(form={"number": ""}),
    "admin_desk_update": Sample(params={"number": "0000"}, form={"name": ""}),
    "admin_desk_delete": Sample(params={"number": "0000"}, form={}),
    "admin_hl7_reapply": Sample(params={"id": "999999"}, form={}),  # no such message: 404
    "admin_queue": Sample(params={"name": "no-such-queue"}),
    "admin_queue_create": Sample(form={"name": ""}),
    "admin_audit_filter": Sample(form={"date_from": "not-a-date"}),   # refused (400): nothing to see
    "admin_queue_update": Sample(params={"name": "no-such-queue"}, form={"title": ""}),
    # triage and call scripts (issue 5): no call on the desk, so nothing changes (409)
    "api_triage_start": Sample(json={"protocol": "chest_pain", "language": "en"}),
    "api_triage_answer": Sample(json={"question": "unresponsive", "answer": "no"}),
    "api_triage_script": Sample(params={"call_type": "scheduling"}),
    "api_triage_escalate": Sample(json={"kind": "instruction_read"}),
    "api_triage_override": Sample(params={"call_id": "0" * 32}, json={"reason": "no call: nothing waits"}),
    "call_detail": Sample(params={"call_id": "0" * 32}),
    "call_triage_json": Sample(params={"call_id": "0" * 32}),
    "call_triage_csv": Sample(params={"call_id": "0" * 32}),
    # campaign console (issue 6): an unknown campaign (404) or a refused form (400): the walk changes nothing
    "campaign": Sample(params={"name": "no-such-campaign"}),
    "campaign_csv": Sample(params={"name": "no-such-campaign"}),
    "campaign_run": Sample(params={"name": "no-such-campaign"}, form={}),
    "campaign_edit": Sample(params={"name": "no-such-campaign"}),
    "campaign_save": Sample(params={"name": "no-such-campaign"}, form={"source": ""}),
    "campaign_enabled": Sample(params={"name": "no-such-campaign"}, form={"enabled": "0"}),
    "campaign_dnc_add": Sample(form={"reason": ""}),
    "campaign_dnc_remove": Sample(params={"entry": "999999"}, form={"reason": ""}),
    # campaign JSON API (issue 6): an unknown campaign (404) or a refused body (400): the walk changes nothing
    "api_campaign_plan": Sample(params={"name": "no-such-campaign"}),
    "api_campaign_run": Sample(params={"name": "no-such-campaign"}, json={}),
    "api_campaign_report": Sample(params={"name": "no-such-campaign"}),
    "api_campaign_report_csv": Sample(params={"name": "no-such-campaign"}),
    "api_campaign_save": Sample(params={"name": "no-such-campaign"}, json={}),
    "api_dnc_add": Sample(json={}),
    "api_dnc_import": Sample(json={}),
    "api_dnc_remove": Sample(params={"entry": "999999"}),
    # care plans and the follow-up desk (issue 16): an unknown follow-up, plan or patient (404) or a refused
    # body (400): the walk changes nothing
    "api_careplan_followup": Sample(params={"id": "999999"}),
    "api_careplan_followup_dial": Sample(params={"id": "999999"}, json={}),
    "api_careplan_followup_outcome": Sample(params={"id": "999999"}, json={"outcome": "completed"}),
    "api_careplan_followup_reschedule": Sample(params={"id": "999999"}, json={"when": "2026-12-10T14:30"}),
    "api_careplan_enrol": Sample(json={}),
    "api_careplan_end": Sample(params={"id": "999999"}, json={}),
    "api_careplans_plan": Sample(json={"days_ahead": -1}),
    "api_patient_careplans": Sample(params={"id": "999999"}),
    # tickets (issue 17): an unknown ticket or call (404), an empty form (400): the walk changes nothing
    "complaint_form_submit": Sample(form={}),
    "complaint_page": Sample(params={"id": "999999"}),
    "complaint_step": Sample(params={"id": "999999"}, form={"step": "start"}),
    "complaint_letter_submit": Sample(form={}),
    "complaint_attachment": Sample(params={"id": "999999", "attachment": "1"}),
    "complaint_recording": Sample(params={"id": "999999"}, form={}),
    "api_call_complaint": Sample(params={"call_id": "0" * 32}, json={"text": "permission walk"}),
    "api_complaint": Sample(params={"id": "999999"}),
    "api_complaint_create": Sample(json={"text": ""}),   # refused as empty: nothing stored
    "api_complaint_step": Sample(params={"id": "999999"}, json={"step": "start"}),
    # webhooks (issue 15): an unknown subscription or delivery (404), an empty form (400)
    "admin_webhook_create": Sample(form={"name": ""}),
    "admin_webhook": Sample(params={"sub": "999999"}),
    "admin_webhook_update": Sample(params={"sub": "999999"}, form={"name": ""}),
    "admin_webhook_delete": Sample(params={"sub": "999999"}, form={}),
    "admin_webhook_delivery": Sample(params={"delivery": "999999"}),
    "admin_webhook_resend": Sample(params={"delivery": "999999"}, form={}),
    "api_webhook_create": Sample(json={}),
    "api_webhook": Sample(params={"sub": "999999"}),
    "api_webhook_update": Sample(params={"sub": "999999"}, json={}),
    "api_webhook_delete": Sample(params={"sub": "999999"}),
    "api_webhook_delivery": Sample(params={"delivery": "999999"}),
    "api_webhook_resend": Sample(params={"delivery": "999999"}),
    # follow-up reports (issue 16): the follow-up rate, a report that names nobody
    "report_page": Sample(params={"name": "followup-rate"}),
    "api_report": Sample(params={"name": "followup-rate"}),
    "api_report_csv": Sample(params={"name": "followup-rate"}),
    "api_report_pdf": Sample(params={"name": "followup-rate"}),
}
PRINCIPALS = (*ROLES, ANONYMOUS, API)   # API: the tests' API client, with every scope
# An API client holding one scope each ("client:<scope>"), with the secret "secret-of-<scope>".
SCOPE_CLIENTS = tuple(f"client:{scope}" for scope in SCOPES)
REFUSED = {401, 403}


def _is_client(principal: str) -> bool:
    return principal == API or principal in SCOPE_CLIENTS


def _secret(principal: str) -> str:
    return API_TOKEN if principal == API else f"secret-of-{principal.removeprefix('client:')}"


def _scopes(principal: str) -> set[str]:
    return set(SCOPES) if principal == API else {principal.removeprefix("client:")}


@pytest.fixture
async def app_server(tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url)
    for principal in SCOPE_CLIENTS:
        add_test_client(sqlite_url, name=principal.replace(":", "-"), scopes=_scopes(principal),
                        secret=_secret(principal))
    services = build(console_config(tmp_path, sqlite_url))
    app = init_app(services.cfg, services, ari=False)
    return (await aiohttp_client(app)).server


def _routes(app: web.Application) -> list[web.AbstractRoute]:
    routes = [r for r in app.router.routes() if r.method != "HEAD"]  # HEAD comes with each GET
    return sorted(routes, key=lambda r: SAMPLES.get(r.name, Sample()).signs_out)  # sign-outs last


def _path(route: web.AbstractRoute, principal: str) -> str:
    sample = SAMPLES.get(route.name, Sample())
    info = route.resource.get_info()
    names = re.findall(r"{(\w+)", info.get("formatter", ""))
    params = {"number": ROLE_USERS.get(principal, ROLE_USERS["agent"]).desk or "9001"}
    params = {n: params[n] for n in names if n in params} | sample.params
    missing = set(names) - set(params)
    assert not missing, f"route {route.name!r}: add sample values for {missing} to SAMPLES"
    return str(route.url_for(**params))


async def _request(client, route: web.AbstractRoute, principal: str, token: str) -> int:
    sample = SAMPLES.get(route.name, Sample())
    path = _path(route, principal)
    headers = {"Origin": origin(client), "X-CSRF-Token": token}
    if _is_client(principal):
        headers = {"Authorization": f"Bearer {_secret(principal)}"}
    elif not path.startswith("/api/"):
        headers["Accept"] = "text/html"
    if sample.websocket:
        return await _websocket(client, path, principal, headers)
    response = await client.request(route.method, path, headers=headers, json=sample.json, data=sample.form,
                                    allow_redirects=False)
    await response.read()
    return response.status


async def _websocket(client, path: str, principal: str, headers: dict) -> int:
    if _is_client(principal):  # the way a machine client opens one without its token in the URL
        ticket = await client.post("/api/ws-tickets", headers=headers)
        path, headers = f"{path}?ticket={(await ticket.json())['ticket']}", {}
    try:
        ws = await client.ws_connect(path, headers=headers)
    except WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def _client_for(server, aiohttp_client, principal: str) -> tuple[object, str]:
    client = await aiohttp_client(server)
    if principal in ROLES:
        return client, await sign_in(client, ROLE_USERS[principal].username)
    page = await client.get("/login")
    return client, page_csrf(await page.text())


def _expected(route: web.AbstractRoute, principal: str) -> str:
    if _is_client(principal):
        if not route.resource.canonical.startswith("/api/"):
            return "skip"  # the token means nothing outside /api/*: that is the anonymous case
        return "allowed" if client_allowed(route.name, _scopes(principal)) else "refused"
    return "allowed" if allowed(route.name, principal) else "refused"


async def test_given_every_route_and_role_when_requested_then_permission_table_is_enforced(app_server,
                                                                                           aiohttp_client):
    wrong = []
    checked = 0
    for principal in (*PRINCIPALS, *SCOPE_CLIENTS):
        client, token = await _client_for(app_server, aiohttp_client, principal)
        for route in _routes(app_server.app):
            expected = _expected(route, principal)
            if expected == "skip":
                continue
            status = await _request(client, route, principal, token)
            checked += 1
            if not _as_expected(expected, status, principal, route):
                wrong.append(f"{principal:>10} {route.method:<6} {route.name:<22} -> {status}, "
                             f"expected {expected}")
            if SAMPLES.get(route.name, Sample()).signs_out and principal in ROLES:
                client, token = await _client_for(app_server, aiohttp_client, principal)
    assert not wrong, "permission matrix violations:\n" + "\n".join(wrong)
    assert checked >= len(PERMISSIONS) * len(ROLES)


def _as_expected(expected: str, status: int, principal: str, route: web.AbstractRoute) -> bool:
    if expected == "allowed":
        return status not in REFUSED
    if principal == ANONYMOUS:
        # a browser (asking for HTML) is sent to the sign-in form; everything else gets 401
        html = not route.resource.canonical.startswith("/api/")
        return status == 303 if html else status == 401
    return status == 403


def test_given_real_app_when_checked_then_every_route_has_a_line_and_every_line_a_route(tmp_path,
                                                                                       sqlite_url):
    app = init_app(console_config(tmp_path, sqlite_url), ari=False)

    check_routes(app.router)
    names = {r.name for r in app.router.resources()}
    assert set(PERMISSIONS) - names == set(), "lines for routes that no longer exist"


@pytest.mark.parametrize("add_route, problem", [
    (lambda r: r.add_get("/nameless", _view), "has no name="),
    (lambda r: r.add_get("/forgotten", _view, name="forgotten"), "no line in the permission table"),
])
def test_given_route_without_permission_line_when_checked_then_refused(add_route, problem):
    app = web.Application()
    add_route(app.router)

    with pytest.raises(PermissionTableError, match=problem):
        check_routes(app.router)


def test_given_malformed_lines_when_checked_then_refused():
    app = web.Application()
    app.router.add_get("/page", _view, name="page")

    with pytest.raises(PermissionTableError, match="only for /api/"):
        check_routes(app.router, {"page": frozenset({API})})
    with pytest.raises(PermissionTableError, match="non-empty subset"):
        check_routes(app.router, {"page": frozenset({"doctor"})})


def test_given_new_route_without_line_when_app_starts_then_init_app_raises(tmp_path, sqlite_url, monkeypatch):
    def a_forgotten_route(app):
        app.router.add_get("/forgotten", _view, name="forgotten")

    monkeypatch.setattr(main, "ROUTES", (*main.ROUTES, a_forgotten_route))
    with pytest.raises(PermissionTableError, match="forgotten"):
        init_app(console_config(tmp_path, sqlite_url), ari=False)


async def _view(request):
    return web.Response(text="")


# -- object-level rules: the own desk (issue 14) ------------------------------------------------------------

def _seed_call_on_desk(database_url: str, desk: str, channel_id: str | None = None) -> str:
    """An ended call answered at `desk`, with a triage answer in its events; returns its id."""
    db = Database(database_url)
    try:
        with db.session() as session:
            agent = session.scalar(select(Agent).where(Agent.number == desk))
            call = Call(status="ended", queue_name="general", agent_id=agent.id, channel_id=channel_id)
            session.add(call)
            session.flush()
            session.add(CallEvent(call_id=call.id, type="triage_answered", agent_id=agent.id,
                                  data={"question": "chest_pain", "answer": "yes"}))
            return call.id
    finally:
        db.close()


def _audit_actors(database_url: str, call_id: str, action: str) -> list[tuple[str | None, dict]]:
    """(username or None for the API client, detail) of each audit row of `action` on the call."""
    db = Database(database_url)
    try:
        with db.session() as session:
            rows = session.scalars(select(AuditEvent)
                                   .where(AuditEvent.call_id == call_id, AuditEvent.action == action)
                                   .order_by(AuditEvent.id))
            return [(session.get(User, r.actor_user_id).username if r.actor_user_id else None, dict(r.detail))
                    for r in rows]
    finally:
        db.close()


# Who may read a call taken at the agent's desk: the agent, supervisors, admins, the API; not the nurse, not
# patient relations (a ticket shows that it came from a call, not the call's record).
CALL_READERS = {"agent": 200, "nurse": 403, "supervisor": 200, "admin": 200, "relations": 403, API: 200,
                ANONYMOUS: 401}


async def test_given_call_on_agents_desk_when_each_principal_reads_it_then_own_desk_rule_holds_and_audited(
        app_server, aiohttp_client, sqlite_url):
    call_id = _seed_call_on_desk(sqlite_url, ROLE_USERS["agent"].desk)
    got = {}
    for principal in PRINCIPALS:
        client, _ = await _client_for(app_server, aiohttp_client, principal)
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if principal == API else {}
        response = await client.get(f"/api/calls/{call_id}", headers=headers)
        got[principal] = response.status
        if response.status == 200:
            assert [e["type"] for e in (await response.json())["events"]] == ["triage_answered"]

    assert got == CALL_READERS
    # one audit row per read, none for a refusal, each naming the real actor (the API client as such)
    assert _audit_actors(sqlite_url, call_id, "call_view") == [
        (ROLE_USERS["agent"].username, {}), (ROLE_USERS["supervisor"].username, {}),
        (ROLE_USERS["admin"].username, {}), (None, {"via": "api", "api_client": "test-client"})]


async def test_given_call_on_agents_desk_when_each_principal_finds_it_by_channel_then_own_desk_rule_holds(
        app_server, aiohttp_client, sqlite_url):
    """GET /api/calls?channel= hands out the call id that opens the call's record: a desk role gets it for its
    own desk's calls only (issue 14)."""
    call_id = _seed_call_on_desk(sqlite_url, ROLE_USERS["agent"].desk, channel_id="sim-acl-hotline")
    got, ids = {}, {}
    for principal in PRINCIPALS:
        client, _ = await _client_for(app_server, aiohttp_client, principal)
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if principal == API else {}
        response = await client.get("/api/calls", params={"channel": "sim-acl-hotline"}, headers=headers)
        got[principal] = response.status
        ids[principal] = (await response.json()).get("id")

    assert got == CALL_READERS
    assert {p for p, found in ids.items() if found == call_id} == {p for p, s in got.items() if s == 200}


class _WaitingCall:
    def __init__(self, id_: str):
        self.id, self.language = id_, "en"

    def offer(self, agent) -> None:
        raise AssertionError("no agent takes calls in this test")


async def test_given_caller_waiting_when_each_principal_lists_queues_then_desk_roles_see_no_call_ids(
        app_server, aiohttp_client, sqlite_url):
    queue = "general"
    db = Database(sqlite_url)
    with db.session() as session:
        session.add(Queue(name=queue, title="General"))
    db.close()
    queues = app_server.app[SERVICES].queues
    await queues.load()
    queues.enqueue(_WaitingCall("c" * 32), queue)
    seen = {}
    for principal in (*ROLES, API):
        client, _ = await _client_for(app_server, aiohttp_client, principal)
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if principal == API else {}
        response = await client.get("/api/queues", headers=headers)
        if principal == "relations":   # no desk, no queues
            assert response.status == 403
            continue
        assert response.status == 200
        waiting = next(q for q in await response.json() if q["name"] == queue)["waiting"]
        # positions and waits for everyone
        assert [(w["position"], w["waiting_seconds"] >= 0) for w in waiting] == [(1, True)]
        seen[principal] = [w.get("call_id") for w in waiting]

    assert seen == {"agent": [None], "nurse": [None], "supervisor": ["c" * 32], "admin": ["c" * 32],
                    API: ["c" * 32]}


def _seed_patient(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.session() as session:
            patient = Patient(mrn="MRN-ACL-1", given_name="Pat", family_name="Example",
                              date_of_birth=date(1980, 1, 2))
            session.add(patient)
            session.flush()
            return patient.id
    finally:
        db.close()


# Opening a record at one's own desk (issue 14): each principal on the agent's desk, with the agent's call as
# the pop, a search result it never searched, and a break-the-glass view with and without a written reason.
RECORD_OPENERS = {
    #             pop of the agent's call, search not done, break-glass no reason, break-glass with reason
    "agent":      (200, 403, 400, 200),
    "nurse":      (403, 403, 400, 200),   # the agent's call is not on the nurse's desk
    "supervisor": (403, 403, 403, 403),   # the route is for desk roles
    "admin":      (403, 403, 403, 403),
    "relations":  (403, 403, 403, 403),
    API:          (403, 403, 403, 403),
    ANONYMOUS:    (401, 401, 401, 401),
}


async def test_given_a_patient_when_each_principal_opens_the_record_then_own_desk_and_break_glass_rules_hold(
        app_server, aiohttp_client, sqlite_url):
    pid = _seed_patient(sqlite_url)
    call_id = _seed_call_on_desk(sqlite_url, ROLE_USERS["agent"].desk)
    db = Database(sqlite_url)
    with db.session() as session:
        session.get(Call, call_id).candidate_patient_ids = [pid]
    db.close()
    bodies = ({"via": "pop", "call_id": call_id}, {"via": "search"}, {"via": "break_glass", "reason": " "},
              {"via": "break_glass", "reason": "caller cut off, urgent result"})
    got = {}
    for principal in PRINCIPALS:
        client, token = await _client_for(app_server, aiohttp_client, principal)
        desk = ROLE_USERS.get(principal, ROLE_USERS["agent"]).desk or ROLE_USERS["agent"].desk
        headers = ({"Authorization": f"Bearer {API_TOKEN}"} if principal == API
                   else {"Origin": origin(client), "X-CSRF-Token": token})
        url, statuses = f"/api/agents/{desk}/patients/{pid}/view", []
        for body in bodies:
            statuses.append((await client.post(url, json=body, headers=headers)).status)
        got[principal] = tuple(statuses)

    assert got == RECORD_OPENERS
    assert [user for user, _ in _patient_audits(sqlite_url, pid, "patient_break_glass")] == [
        ROLE_USERS["agent"].username, ROLE_USERS["nurse"].username]
    assert [user for user, _ in _patient_audits(sqlite_url, pid, "patient_viewed")] == [
        ROLE_USERS["agent"].username]


def _patient_audits(database_url: str, patient_id: int, action: str) -> list[tuple[str | None, str | None]]:
    db = Database(database_url)
    try:
        with db.session() as session:
            rows = session.scalars(select(AuditEvent)
                                   .where(AuditEvent.patient_id == patient_id, AuditEvent.action == action)
                                   .order_by(AuditEvent.id))
            return [(session.get(User, r.actor_user_id).username, r.reason) for r in rows]
    finally:
        db.close()


async def test_given_supervisor_when_searching_recordings_by_patient_then_the_term_goes_in_a_post_body_only(
        app_server, aiohttp_client):
    client, token = await _client_for(app_server, aiohttp_client, "supervisor")
    headers = {"Origin": origin(client), "X-CSRF-Token": token}

    posted = await client.post("/api/recordings/search", json={"patient": "MRN-NONE"}, headers=headers)
    in_url = await client.get("/api/recordings?patient=MRN-NONE", headers=headers)

    assert posted.status == 200 and (await posted.json()) == {"results": []}
    assert in_url.status in (404, 405)  # no route takes a patient in its query string


# The pop a desk's console shows is audited for whoever opened that console (issue 14): the desk's agent, a
# supervisor watching the desk, the API client as such; the nurse may not open another desk's console.
CONSOLE_OPENERS = {"agent": 101, "nurse": 403, "supervisor": 101, "admin": 101, "relations": 403, API: 101}


async def test_given_a_call_ringing_at_a_desk_when_each_principal_opens_its_console_then_pop_audited_for_them(
        app_server, aiohttp_client, sqlite_url):
    from types import SimpleNamespace

    from callcenter.calls.flavour import Inbound
    from callcenter.phones import normalize

    pid = _seed_patient(sqlite_url)
    services = app_server.app[SERVICES]
    desk = ROLE_USERS["agent"].desk
    agent = services.queues.agent(desk)
    ringing = SimpleNamespace(id="r" * 32, agent=agent, ended=SimpleNamespace(is_set=lambda: False),
                              state=SimpleNamespace(name="offering"),
                              patients=[{"id": pid, "name": "Pat Example"}],
                              caller=normalize("+14155550177", "US"), queue_name="general", language="en",
                              ivr=CallIvr(), direction="inbound", flavour=Inbound(),
                              channel=SimpleNamespace(id="caller-r"), start=lambda initial: None, task=None)
    services.router.start_call(ringing)
    agent.call_id = ringing.id
    got = {}
    for principal in (*ROLES, API):
        client, _ = await _client_for(app_server, aiohttp_client, principal)
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if principal == API else {"Origin": origin(client)}
        status = await _websocket(client, f"/api/agents/{desk}/ws", principal, headers)
        got[principal] = status
        if status == 101:  # the replayed pop was sent before the socket closed: its row is already in
            assert _audit_actors(sqlite_url, ringing.id, "screen_pop")[-1][0] == (
                ROLE_USERS[principal].username if principal in ROLES else None)

    assert got == CONSOLE_OPENERS
    replayed = {"candidates": 1, "replayed": True}
    assert _audit_actors(sqlite_url, ringing.id, "screen_pop") == [
        (ROLE_USERS[p].username, replayed) for p in ("agent", "supervisor", "admin")] + [
        (None, replayed | {"via": "api", "api_client": "test-client"})]


async def test_given_audit_rows_refused_when_patient_data_is_read_then_500_without_it_else_audited_for_reader(
        app_server, aiohttp_client, sqlite_url):
    pid = _seed_patient(sqlite_url)
    desk = ROLE_USERS["agent"].desk
    call_id = _seed_call_on_desk(sqlite_url, desk)
    reads = (  # principal, method, path, body, what the answer shows when it is allowed
        ("agent", "POST", f"/api/agents/{desk}/patients/search", {"mrn": "MRN-ACL-1"}, "MRN-ACL-1"),
        ("agent", "POST", f"/api/agents/{desk}/patients/{pid}/view",
         {"via": "break_glass", "reason": "caller cut off"}, "MRN-ACL-1"),
        ("supervisor", "GET", f"/api/calls/{call_id}", None, "chest_pain"),
        ("supervisor", "GET", f"/calls/{call_id}/triage.json", None, "chest_pain"),
        (API, "GET", f"/api/calls/{call_id}", None, "chest_pain"),
    )
    clients = {p: await _client_for(app_server, aiohttp_client, p) for p in {r[0] for r in reads}}

    async def read(principal, method, path, body):
        client, token = clients[principal]
        headers = ({"Authorization": f"Bearer {API_TOKEN}"} if principal == API
                   else {"Origin": origin(client), "X-CSRF-Token": token})
        response = await client.request(method, path, json=body, headers=headers)
        return response.status, await response.text()

    with audit_rows_refused(app_server.app[SERVICES].db):
        for principal, method, path, body, shows in reads:
            status, text = await read(principal, method, path, body)
            assert status == 500 and shows not in text, (principal, path, status)
    for principal, method, path, body, shows in reads:
        status, text = await read(principal, method, path, body)
        assert status == 200 and shows in text, (principal, path, status)

    db = Database(sqlite_url)
    with db.session() as session:
        rows = [(r.action, session.get(User, r.actor_user_id).username if r.actor_user_id else None,
                 r.detail.get("via")) for r in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if r.patient_id == pid or r.call_id == call_id or r.action == "patient_search"]
    db.close()
    agent, supervisor = ROLE_USERS["agent"].username, ROLE_USERS["supervisor"].username
    assert rows == [("patient_search", agent, None), ("patient_break_glass", agent, "break_glass"),
                    ("call_view", supervisor, None), ("call_triage_record_view", supervisor, None),
                    ("call_view", None, "api")]

"""The admin view through its HTTP forms (aiohttp test client, SQLite and PostgreSQL): users, desks, queues,
the audit log; validation messages that keep what was typed; changes that reach the running QueueService."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from markupsafe import escape
from sqlalchemy import select, update

from callcenter import cli
from callcenter.admin.exceptions import InvalidInput
from callcenter.admin.services import valid_endpoint, valid_languages
from callcenter.db.database import Database
from callcenter.db.models import Agent, AuditEvent, Call, Campaign, Patient, Queue, User
from callcenter.db.queries import add_audit_event
from callcenter.db.types import utcnow
from callcenter.demo import seed_demo
from callcenter.main import build, init_app

from .browser.live import PASSWORD, ROLE_USERS, console_config, origin, seed_role_users, sign_in

NEW_PASSWORD = "a fresh long passphrase 42"


@dataclass
class Admin:
    client: object
    token: str
    services: object

    async def post(self, path: str, data: dict | list, *, token: str | None = None):
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        fields.append(("csrf_token", self.token if token is None else token))
        return await self.client.post(path, data=fields, allow_redirects=False,
                                      headers={"Origin": origin(self.client), "Accept": "text/html"})

    async def get(self, path: str, **params):
        return await self.client.get(path, params=params, headers={"Accept": "text/html"})

    def db(self) -> Database:
        return self.services.db


@dataclass
class FakeCall:
    """A caller waiting in a queue (what QueueService offers to an agent)."""
    id: str = "c" * 32
    language: str = "en"
    offered_to: list = field(default_factory=list)

    def offer(self, agent) -> None:
        self.offered_to.append(agent.number)

    def __hash__(self) -> int:
        return id(self)


@pytest.fixture
async def admin(tmp_path, database_url, aiohttp_client) -> Admin:
    seed_role_users(database_url)
    seeding = Database(database_url)
    with seeding.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    seeding.close()
    services = build(console_config(tmp_path, database_url))
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    return Admin(client, await sign_in(client, ROLE_USERS["admin"].username), services)


def _user(admin: Admin, username: str) -> User | None:
    with admin.db().session() as session:
        return session.scalar(select(User).where(User.username == username))


def _audit_actions(admin: Admin) -> list[str]:
    with admin.db().session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# -- users ---------------------------------------------------------------------------------------------------


async def test_given_admin_when_creating_user_then_new_user_signs_in(admin, aiohttp_client):
    form = {"username": "Zoe.K", "display_name": "Zoe Kim", "role": "nurse", "password": NEW_PASSWORD}
    response = await admin.post("/admin/users", form)

    assert response.status == 303 and response.headers["Location"] == "/admin/users/zoe.k"
    page = await admin.get("/admin/users/zoe.k")
    assert "User zoe.k created" in await page.text()
    other = await aiohttp_client(admin.client.server)
    await sign_in(other, "zoe.k", NEW_PASSWORD)
    assert _user(admin, "zoe.k").role == "nurse"
    assert "user_created" in _audit_actions(admin)


@pytest.mark.parametrize("form, message", [
    ({"username": "zoe", "display_name": "Zoe Kim", "role": "agent", "password": "short"}, "at least 12"),
    ({"username": "zoe", "display_name": "Zoe Kim", "role": "agent", "password": "zoe-is-my-password"},
     "must not contain the username"),
    ({"username": "zoe kim", "display_name": "Zoe Kim", "role": "agent", "password": NEW_PASSWORD},
     "username"),
    ({"username": "zoe", "display_name": "Zoe Kim", "role": "agent", "password": ""}, "initial password"),
    ({"username": "agent1", "display_name": "Zoe Kim", "role": "agent", "password": NEW_PASSWORD},
     "already exists"),
])
async def test_given_bad_user_form_when_posted_then_error_shown_and_input_kept(admin, form, message):
    response = await admin.post("/admin/users", form)

    html = await response.text()
    assert response.status in (400, 409)
    assert message.lower() in html.lower()
    assert f'value="{form["username"]}"' in html and 'value="Zoe Kim"' in html
    assert _user(admin, "zoe") is None


async def test_given_admin_when_deactivating_or_demoting_self_then_refused_with_message(admin):
    deactivate = await admin.post("/admin/users/admin1/active", {"active": "0"})
    demote = await admin.post("/admin/users/admin1/role", {"role": "agent"})

    assert deactivate.status == 409 and "cannot deactivate your own account" in await deactivate.text()
    assert demote.status == 409 and "cannot change your own role" in await demote.text()
    me = _user(admin, "admin1")
    assert me.active and me.role == "admin"


async def test_given_signed_in_agent_when_admin_deactivates_then_signed_out_and_reactivation_lets_back(
        admin, aiohttp_client):
    agent = await aiohttp_client(admin.client.server)
    await sign_in(agent, "agent1")

    assert (await admin.post("/admin/users/agent1/active", {"active": "0"})).status == 303
    refused = await agent.get("/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert refused.status == 303 and refused.headers["Location"].startswith("/login")
    assert (await admin.post("/admin/users/agent1/active", {"active": "1"})).status == 303
    await sign_in(agent, "agent1")


async def test_given_role_change_when_posted_then_role_applies_at_next_request(admin, aiohttp_client):
    supervisor = await aiohttp_client(admin.client.server)
    await sign_in(supervisor, "supervisor1")

    response = await admin.post("/admin/users/supervisor1/role", {"role": "admin"})

    assert response.status == 303
    assert (await supervisor.get("/admin/users", headers={"Accept": "text/html"})).status == 200
    bad = await admin.post("/admin/users/supervisor1/role", {"role": "doctor"})
    assert bad.status == 400 and "Unknown role" in await bad.text()


async def test_given_user_with_failed_sign_ins_when_admin_looks_then_no_lock_nor_unlock_and_user_signs_in(
        admin, aiohttp_client):
    """Failed sign-ins slow the guessing address (auth/throttle.py) and never lock the account: there is no
    lock to show and nothing to unlock (users.locked_until was a field nothing set)."""
    with admin.db().session() as session:
        session.execute(update(User).where(User.username == "nurse1")
                        .values(failed_logins=5, failed_logins_since=utcnow()))

    page = await (await admin.get("/admin/users/nurse1")).text()
    unlock = await admin.post("/admin/users/nurse1/unlock", {})

    assert "locked" not in page.lower() and unlock.status == 404
    assert not hasattr(User, "locked_until")
    await sign_in(await aiohttp_client(admin.client.server), "nurse1")


async def test_given_password_reset_then_old_sessions_end_and_new_password_works(admin, aiohttp_client):
    agent = await aiohttp_client(admin.client.server)
    await sign_in(agent, "agent1")

    weak = await admin.post("/admin/users/agent1/password", {"password": "abcabcabcabc"})
    assert weak.status == 400 and "too repetitive" in await weak.text()
    assert (await admin.post("/admin/users/agent1/password", {"password": NEW_PASSWORD})).status == 303

    ended = await agent.get("/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert ended.status == 303
    await sign_in(await aiohttp_client(admin.client.server), "agent1", NEW_PASSWORD)
    assert "user_password_reset" in _audit_actions(admin)


async def test_given_admin_created_or_reset_password_when_user_signs_in_then_must_change_it(admin,
                                                                                              aiohttp_client):
    await admin.post("/admin/users", {"username": "zoe", "display_name": "Zoe Kim", "role": "nurse",
                                      "password": NEW_PASSWORD})
    await admin.post("/admin/users/agent1/password", {"password": NEW_PASSWORD})

    assert _user(admin, "zoe").must_change_password and _user(admin, "agent1").must_change_password
    agent = await aiohttp_client(admin.client.server)
    await sign_in(agent, "agent1", NEW_PASSWORD)
    page = await agent.get("/agent", headers={"Accept": "text/html"}, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/account/password")


async def test_given_supervisor_when_admin_sets_phone_then_saved_audited_and_bad_dial_string_refused(admin):
    bad = await admin.post("/admin/users/supervisor1/phone", {"phone_endpoint": "PJSIP/2001; Dial(x)"})
    assert bad.status == 400 and "dial string of one phone" in await bad.text()
    assert _user(admin, "supervisor1").phone_endpoint is None

    saved = await admin.post("/admin/users/supervisor1/phone", {"phone_endpoint": " PJSIP/2001 "})
    assert saved.status == 303
    assert _user(admin, "supervisor1").phone_endpoint == "PJSIP/2001"
    assert "PJSIP/2001" in await (await admin.get("/admin/users/supervisor1")).text()

    assert (await admin.post("/admin/users/supervisor1/phone", {"phone_endpoint": ""})).status == 303
    assert _user(admin, "supervisor1").phone_endpoint is None
    assert _audit_actions(admin).count("user_phone_changed") == 2


async def test_given_unknown_user_when_opened_then_404(admin):
    assert (await admin.get("/admin/users/nobody")).status == 404


# -- desks ---------------------------------------------------------------------------------------------------


def _desk(number: str, **changes) -> dict:
    form = {"number": number, "name": "Desk Nine", "username": "", "endpoint": f"PJSIP/{number}",
            "languages": "en, es"}
    return form | changes


async def test_given_desk_skills_edited_when_saved_then_running_queue_service_offers_waiting_caller(admin):
    queues = admin.services.queues
    agent = queues.agent("9001")
    assert "nurse" not in agent.skills
    queues.request_state("9001", "available")
    caller = FakeCall()
    queues.enqueue(caller, "nurse")
    assert caller.offered_to == []

    form = _desk("9001", name="Avery Agent", username="agent1", endpoint="Local/auto-9001@agent-phones/n")
    skills = [("skills", "general"), ("skills", "nurse")]
    response = await admin.post("/admin/desks/9001", [*form.items(), *skills])

    assert response.status == 303
    assert queues.agent("9001") is agent and agent.skills == {"general", "nurse"}
    assert agent.languages == {"en", "es"}
    assert caller.offered_to == ["9001"] and agent.state == "ringing"


async def test_given_new_desk_when_created_then_running_and_linked_to_user(admin):
    with admin.db().session() as session:
        session.add(User(username="ola", display_name="Ola N", role="agent"))
    form = _desk("9050", username="ola")
    response = await admin.post("/admin/desks", [*form.items(), ("skills", "appointments")])

    assert response.status == 303 and response.headers["Location"] == "/admin/desks/9050"
    running = admin.services.queues.agent("9050")
    assert running.endpoint == "PJSIP/9050" and running.skills == {"appointments"}
    with admin.db().session() as session:
        assert session.scalar(select(Agent.user_id).where(Agent.number == "9050")) is not None


@pytest.mark.parametrize("changes, skills, message, field", [
    ({"endpoint": "PJSIP 9001"}, [], "Tech/resource", "endpoint"),
    ({"endpoint": "Foo/9001"}, [], "unknown channel technology", "endpoint"),
    ({"endpoint": "Local/9001"}, [], "names its context", "endpoint"),
    ({"endpoint": "PJSIP/1&PJSIP/2"}, [], "one phone", "endpoint"),
    ({"languages": "english, es"}, [], "not a language code: english", "languages"),
    ({"languages": " "}, [], "at least one language", "languages"),
    ({}, ["cardiology"], "no queue uses the skill(s) cardiology", "skills"),
    ({"username": "nurse1"}, [], "already has desk 9002", "username"),
    ({"number": "12a"}, [], "2-16 digits", "number"),
    ({"number": "9002"}, [], "already exists", "number"),
    ({"name": ""}, [], "1-120 characters", "name"),
])
async def test_given_bad_desk_form_when_created_then_error_on_field_and_input_kept(admin, changes, skills,
                                                                                   message, field):
    form = _desk("9060", name="Typed Name", endpoint="PJSIP/9060", languages="en, fr") | changes
    response = await admin.post("/admin/desks", [*form.items(), *(("skills", s) for s in skills)])

    html = await response.text()
    assert response.status in (400, 409), html
    assert message.lower() in html.lower()
    assert f'id="{field}"' in html and 'field-invalid' in html
    for name, value in form.items():
        if name != "username" and value.strip():
            assert f'value="{escape(value)}"' in html, name
    for skill in skills:
        assert f'value="{skill}" checked' in html
    assert "9060" not in admin.services.queues.agents


async def test_given_desk_with_calls_when_deleting_then_refused_and_kept(admin):
    with admin.db().session() as session:
        agent_id = session.scalar(select(Agent.id).where(Agent.number == "1001"))
        session.add(Call(agent_id=agent_id, status="ended"))

    response = await admin.post("/admin/desks/1001/delete", {})

    assert response.status == 409
    assert "the call history refers to it (1 call)" in await response.text()
    assert "1001" in admin.services.queues.agents


async def test_given_desk_without_calls_when_deleting_then_gone_from_database_and_queues(admin):
    response = await admin.post("/admin/desks/1002/delete", {})

    assert response.status == 303
    assert "1002" not in admin.services.queues.agents
    assert "agent_deleted" in _audit_actions(admin)
    assert (await admin.get("/admin/desks/1002")).status == 404


async def test_given_signed_in_desk_when_deleting_then_refused(admin):
    admin.services.queues.request_state("1003", "paused", "break")

    response = await admin.post("/admin/desks/1003/delete", {})

    assert response.status == 409 and "must sign out first" in await response.text()


@pytest.mark.parametrize("text, expected", [
    ("PJSIP/1001", "PJSIP/1001"),
    ("pjsip/1001", "PJSIP/1001"),
    ("  Local/auto-1001@agent-phones/n ", "Local/auto-1001@agent-phones/n"),
    ("SIP/trunk/5551234", "SIP/trunk/5551234"),
    ("IAX2/user@host", "IAX2/user@host"),
])
def test_given_dial_strings_when_validated_then_normalised(text, expected):
    assert valid_endpoint(text) == expected


@pytest.mark.parametrize("text", ["", "PJSIP/", "/1001", "PJSIP/10 01", "PJSIP/1001,30", "PJSIP/(1001)",
                                  "Local/1001", "Zap/1"])
def test_given_bad_dial_strings_when_validated_then_refused(text):
    with pytest.raises(InvalidInput):
        valid_endpoint(text)


def test_given_language_list_when_validated_then_codes_lower_case_without_duplicates():
    assert valid_languages("EN, es pt-BR,en") == ["en", "es", "pt-br"]
    with pytest.raises(InvalidInput, match="e1"):
        valid_languages("en, e1")


# -- the demo seed (scripts/start runs `seed-demo --demo-passwords` at every start) --------------------------


async def _admin_edits_the_demo(admin: Admin) -> None:
    desk = _desk("1001", name="Alice Moreno", username="alice", endpoint="PJSIP/1001", languages="en")
    assert (await admin.post("/admin/desks/1001", [*desk.items(), ("skills", "nurse")])).status == 303
    queue = {"title": "Results line", "skill": "general", "service_level_seconds": "90", "moh_class": "calm"}
    assert (await admin.post("/admin/queues/results", queue)).status == 303
    assert (await admin.post("/admin/users/sam/role", {"role": "admin"})).status == 303
    assert (await admin.post("/admin/users/brian/active", {"active": "0"})).status == 303
    assert (await admin.post("/admin/users/alice/password", {"password": NEW_PASSWORD})).status == 303


def _demo_as_stored(admin: Admin) -> tuple:
    with admin.db().session() as session:
        desk = session.scalar(select(Agent).where(Agent.number == "1001"))
        queue = session.scalar(select(Queue).where(Queue.name == "results"))
        users = {u.username: u for u in session.scalars(select(User))}
        return ((desk.endpoint, desk.skills, desk.languages),
                (queue.title, queue.skill, queue.service_level_seconds, queue.moh_class),
                users["sam"].role, users["brian"].active,
                _is_password(users["alice"].password_hash, NEW_PASSWORD))


def _is_password(stored: str | None, password: str) -> bool:
    try:
        return stored is not None and PasswordHasher().verify(stored, password)
    except VerifyMismatchError:
        return False


def _seed_demo_command(admin: Admin, monkeypatch, *args: str) -> None:
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(admin.services.cfg.state_dir))
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", admin.services.cfg.database_url)
    assert cli.main(["seed-demo", "--demo-passwords", *args]) == 0


async def test_given_demo_changed_in_admin_console_when_seeded_again_then_changes_stay(admin, monkeypatch):
    await _admin_edits_the_demo(admin)
    edited = _demo_as_stored(admin)

    _seed_demo_command(admin, monkeypatch)

    assert _demo_as_stored(admin) == edited == (
        ("PJSIP/1001", ["nurse"], ["en"]), ("Results line", "general", 90, "calm"), "admin", False, True)


async def test_given_demo_changed_in_admin_console_when_seeded_with_reset_then_demo_settings_are_back(
        admin, monkeypatch):
    await _admin_edits_the_demo(admin)
    with admin.db().session() as session:
        session.delete(session.scalar(select(Queue).where(Queue.name == "complaints")))

    _seed_demo_command(admin, monkeypatch, "--reset")

    (endpoint, skills, languages), queue, sam_role, brian_active, alice_password_kept = _demo_as_stored(admin)
    assert (endpoint, set(skills), set(languages)) == (
        "Local/auto-1001@agent-phones/n", {"appointments", "refills", "general", "complaints"}, {"en", "es"})
    assert queue == ("Test results", "results", 60, "default")
    assert (sam_role, brian_active, alice_password_kept) == ("supervisor", True, False)
    with admin.db().session() as session:
        assert session.scalar(select(Queue.title).where(Queue.name == "complaints")) == "Patient relations"


# -- queues --------------------------------------------------------------------------------------------------


async def test_given_new_queue_when_created_then_running_service_routes_to_it(admin):
    queues = admin.services.queues
    queues.request_state("1004", "available")
    form = {"name": "pharmacy", "title": "Pharmacy", "skill": "nurse", "service_level_seconds": "45",
            "moh_class": "default"}

    response = await admin.post("/admin/queues", form)

    assert response.status == 303
    assert queues.queue("pharmacy").service_level_seconds == 45
    caller = FakeCall()
    queues.enqueue(caller, "pharmacy")
    assert caller.offered_to == ["1004"]


async def test_given_queue_edited_when_saved_then_running_service_has_new_values(admin):
    form = {"title": "Results line", "skill": "general", "service_level_seconds": "90", "moh_class": "calm"}

    response = await admin.post("/admin/queues/results", form)

    assert response.status == 303
    info = admin.services.queues.queue("results")
    assert (info.title, info.skill, info.service_level_seconds, info.moh_class) == (
        "Results line", "general", 90, "calm")
    with admin.db().session() as session:
        assert session.scalar(select(Queue.skill).where(Queue.name == "results")) == "general"


@pytest.mark.parametrize("changes, message", [
    ({"service_level_seconds": "soon"}, "whole number of seconds"),
    ({"service_level_seconds": "0"}, "whole number of seconds"),
    ({"moh_class": "my music"}, "music-on-hold class"),
    ({"name": "Bad Name"}, "lower-case letters"),
    ({"name": "general"}, "already exists"),
    ({"title": ""}, "1-120 characters"),
])
async def test_given_bad_queue_form_when_posted_then_error_and_input_kept(admin, changes, message):
    form = {"name": "lab", "title": "Laboratory", "skill": "", "service_level_seconds": "30",
            "moh_class": "default"} | changes

    response = await admin.post("/admin/queues", form)

    html = await response.text()
    assert response.status in (400, 409) and message.lower() in html.lower()
    for value in form.values():
        if value:
            assert f'value="{escape(value)}"' in html
    assert "lab" not in admin.services.queues.queues


# -- audit log -----------------------------------------------------------------------------------------------


def _seed_audit(admin: Admin) -> dict:
    with admin.db().session() as session:
        patient = session.scalar(select(Patient).order_by(Patient.id).limit(1))
        nurse = session.scalar(select(User).where(User.username == "nurse1"))
        desk = session.scalar(select(Agent.id).where(Agent.number == "9002"))
        old = add_audit_event(session, "patient_viewed", actor_user_id=nurse.id, patient_id=patient.id,
                              call_id="a" * 32, reason="caller asked about results")
        old.ts = utcnow() - timedelta(days=3)
        add_audit_event(session, "recording_played", actor_user_id=nurse.id, recording_id=77,
                        call_id="b" * 32, reason="=HYPERLINK(\"http://x\")")
        add_audit_event(session, "screen_pop", actor_agent_id=desk, patient_id=patient.id, call_id="b" * 32)
        for i in range(60):
            add_audit_event(session, "bulk_test", detail={"i": i})
        return {"mrn": patient.mrn, "name": patient.full_name, "id": patient.id}


async def test_given_audit_rows_when_filtered_then_matching_rows_newest_first(admin):
    seeded = _seed_audit(admin)

    filtered = await admin.post("/admin/audit", {"mrn": seeded["mrn"].lower()})  # the form: a POST
    assert filtered.status == 303 and filtered.headers["Location"] == f"/admin/audit?patient={seeded['id']}"
    by_patient = await (await admin.get("/admin/audit", patient=str(seeded["id"]))).text()
    assert "2 events" in by_patient and f'value="{seeded["mrn"]}"' in by_patient  # the form shows the MRN
    assert by_patient.index('data-action="screen_pop"') < by_patient.index('data-action="patient_viewed"')
    assert seeded["name"] in by_patient and "caller asked about results" in by_patient

    by_actor = await (await admin.get("/admin/audit", actor="nurse1")).text()
    assert "3 events" in by_actor and "desk 9002" in by_actor   # the desk's screen pop belongs to its user

    recent = utcnow().date().isoformat()
    dated = await (await admin.get("/admin/audit", actor="nurse1", date_from=recent)).text()
    assert "2 events" in dated and 'data-action="patient_viewed"' not in dated
    assert "1 event," in await (await admin.get("/admin/audit", recording_id="77")).text()
    assert "2 events" in await (await admin.get("/admin/audit", call_id="b" * 32)).text()


async def test_given_mrn_in_the_url_when_audit_page_or_export_asked_then_it_filters_nothing(admin):
    seeded = _seed_audit(admin)

    page = await (await admin.get("/admin/audit", mrn=seeded["mrn"])).text()
    everything = await (await admin.get("/admin/audit")).text()
    export = await admin.get("/admin/audit.csv", mrn=seeded["mrn"])

    count = re.search(r"(\d+) events, newest first", everything).group(1)
    assert f"{count} events" in page and f'value="{seeded["mrn"]}"' not in page  # a URL never names an MRN
    assert 60 < len(list(csv.DictReader(io.StringIO(await export.text())))) == int(count)


async def test_given_many_audit_rows_when_paged_then_fifty_per_page_and_filter_kept(admin):
    _seed_audit(admin)

    first = await (await admin.get("/admin/audit", action="bulk_test")).text()
    second = await (await admin.get("/admin/audit", action="bulk_test", page="2")).text()

    assert "60 events" in first and "Page 1 of 2" in first and first.count('data-action="bulk_test"') == 50
    assert "action=bulk_test&amp;page=2" in first
    assert "Page 2 of 2" in second and second.count('data-action="bulk_test"') == 10


@pytest.mark.parametrize("params, message", [
    ({"date_from": "23/11/2026"}, "YYYY-MM-DD"),
    ({"date_from": "2026-11-20", "date_to": "2026-11-01"}, "start date is after the end date"),
    ({"recording_id": "seventy"}, "a recording id is a number"),
    ({"mrn": "MRN-NOPE"}, "no patient with MRN"),
    ({"actor": "ghost"}, "no user named"),
])
async def test_given_bad_audit_filter_when_applied_then_message_and_input_kept(admin, params, message):
    response = await admin.post("/admin/audit", params)  # the filter form

    html = await response.text()
    assert response.status in (400, 404) and message.lower() in html.lower()
    for value in params.values():
        if value != "ghost":
            assert f'value="{escape(value)}"' in html


async def test_given_filter_when_exported_then_csv_has_rows_and_export_is_audited(admin):
    seeded = _seed_audit(admin)

    response = await admin.get("/admin/audit.csv", patient=str(seeded["id"]))

    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [r["action"] for r in rows] == ["screen_pop", "patient_viewed"]
    assert rows[1]["patient"] == seeded["name"] and rows[1]["actor"] == "nurse1 (Noor Nurse, RN)"
    assert _audit_actions(admin)[-1] == "audit_log_exported"
    export = await admin.get("/admin/audit.csv", recording_id="77")
    played = list(csv.DictReader(io.StringIO(await export.text())))
    assert played[0]["reason"].startswith("'=HYPERLINK")   # not run as a formula by a spreadsheet


# -- pages and forgery ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin", "/admin/users", "/admin/users/agent1", "/admin/desks",
                                  "/admin/desks/new", "/admin/desks/9001", "/admin/queues",
                                  "/admin/queues/new", "/admin/queues/general", "/admin/audit"])
async def test_given_admin_when_opening_each_page_then_rendered(admin, path):
    response = await admin.get(path)

    assert response.status == 200, await response.text()
    assert "Administration" in await response.text()


async def test_given_post_without_csrf_token_when_creating_user_then_403_and_nothing_created(admin):
    form = {"username": "mallory", "display_name": "M", "role": "admin", "password": NEW_PASSWORD}

    wrong = await admin.post("/admin/users", form, token="forged")
    missing = await admin.client.post("/admin/users", data=form, allow_redirects=False,
                                      headers={"Origin": origin(admin.client)})

    assert wrong.status == 403 and missing.status == 403
    assert _user(admin, "mallory") is None


async def test_given_agent_when_opening_admin_then_403(admin, aiohttp_client):
    agent = await aiohttp_client(admin.client.server)
    await sign_in(agent, "agent1", PASSWORD)

    response = await agent.get("/admin/users", headers={"Accept": "text/html"})

    assert response.status == 403


async def test_given_an_enabled_campaign_when_the_admin_switches_it_off_and_on_then_each_is_audited_as_them(
        admin):
    with admin.db().session() as session:
        name = session.scalar(select(Campaign.name).order_by(Campaign.name).limit(1))
        admin_id = session.scalar(select(User.id).where(User.username == ROLE_USERS["admin"].username))
    for enabled in ("0", "1"):
        response = await admin.post(f"/campaigns/{name}/enabled", {"enabled": enabled})
        assert response.status == 303, await response.text()
        with admin.db().session() as session:
            row = session.scalar(select(Campaign).where(Campaign.name == name))
            assert (row.enabled, row.updated_by_user_id) == (enabled == "1", admin_id)
    with admin.db().session() as session:
        audits = session.execute(select(AuditEvent.action, AuditEvent.actor_user_id, AuditEvent.detail).where(
            AuditEvent.action.in_(("campaign_enabled", "campaign_disabled"))).order_by(AuditEvent.id)).all()
    assert [tuple(a) for a in audits] == [("campaign_disabled", admin_id, {"campaign": name}),
                                          ("campaign_enabled", admin_id, {"campaign": name})]
    missing = await admin.post("/campaigns/no-such-campaign/enabled", {"enabled": "0"})
    assert missing.status == 404

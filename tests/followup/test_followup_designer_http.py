"""The questionnaire designer over HTTP (SQLite and PostgreSQL): a draft checked by the questionnaire files'
validator, each problem answered with its field; saved as a new version, never over a stored one."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from callcenter.db.models import AuditEvent, FollowUpQuestion, FollowUpQuestionnaireVersion
from callcenter.followup.exceptions import QuestionnaireDataError
from callcenter.main import build, init_app

from ..browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in

DRAFT = {
    "id": "stairs_after_surgery", "version": "1", "title": {"en": "Stairs after surgery", "es": "Escaleras"},
    "kind": "post_surgery", "department": "surgery", "study": None, "source": ["NHS.uk: After surgery"],
    "review_status": "clinically approved",  # the designer saves example content whatever the draft says
    "questions": [
        {"code": "fever_since_discharge", "required": True, "show_if": [], "red_flags": []},
        {"code": "body_temperature", "required": False,
         "show_if": [{"question": "fever_since_discharge", "op": "equals", "value": "yes"}],
         "red_flags": [{"op": "at_least", "value": "38", "disposition": "nurse_now",
                        "escalation": "urgent_callback"}]},
        {"code": "stairs_climbed", "required": True, "show_if": [], "red_flags": []}],
    "new_questions": [{"code": "stairs_climbed", "type": "number", "unit": "flights", "min": 0, "max": 30,
                       "text": {"en": "How many flights of stairs did you climb today?",
                                "es": "¿Cuántos tramos de escaleras subió hoy?"}}],
}


@pytest.fixture
async def client(tmp_path, database_url, aiohttp_client, openapi_conformance):
    seed_role_users(database_url)
    services = build(console_config(tmp_path, database_url))
    app = init_app(services.cfg, services, ari=False)
    openapi_conformance.watch(app)
    client = await aiohttp_client(app)
    token = await sign_in(client, ROLE_USERS["nurse"].username)
    client.headers = {"Origin": origin(client), "X-CSRF-Token": token}
    client.services = services
    return client


async def save(client, draft: dict):
    response = await client.post("/api/followup/designer", json=draft, headers=client.headers)
    return response.status, await response.json()


def fields(body: dict) -> dict[str, str]:
    return {p["field"]: p["message"] for p in body["problems"]}


async def test_given_a_draft_with_skip_logic_and_a_new_question_when_saved_then_stored_as_example_content(
        client):
    status, body = await save(client, DRAFT)
    assert status == 201, body
    assert body == {"id": "stairs_after_surgery", "version": "1",
                    "review_status": "example content, requires clinical review",
                    "new_questions": ["stairs_climbed"]}
    rows = await client.services.db.run(_stored)
    assert rows["versions"] == [("1", "example content, requires clinical review")]
    assert rows["question"] == ("number", "flights")
    assert rows["audits"] == ["followup_questionnaires_loaded"]

    response = await client.get("/api/followup/designer/stairs_after_surgery", headers=client.headers)
    draft = await response.json()
    assert draft["questions"][1]["show_if"] == [{"question": "fever_since_discharge", "op": "equals",
                                                  "value": True}]
    options = await (await client.get("/api/followup/designer", headers=client.headers)).json()
    assert "stairs_climbed" in [q["code"] for q in options["bank"]], "the added question is in the bank now"

    # The same version again, changed: refused on the version field; the stored one is untouched.
    changed = copy.deepcopy(DRAFT) | {"new_questions": []}
    changed["questions"] = changed["questions"][:2]
    status, body = await save(client, changed)
    assert status == 400 and "is stored already" in fields(body)["version"]
    status, body = await save(client, changed | {"version": "2"})
    assert status == 201, body
    assert [v for v, _ in (await client.services.db.run(_stored))["versions"]] == ["1", "2"]


def _stored(session) -> dict:
    versions = [(v.version, v.review_status) for v in session.scalars(
        select(FollowUpQuestionnaireVersion).order_by(FollowUpQuestionnaireVersion.id))]
    question = session.scalar(select(FollowUpQuestion).where(FollowUpQuestion.code == "stairs_climbed"))
    audits = [a.action for a in session.scalars(select(AuditEvent).where(
        AuditEvent.action == "followup_questionnaires_loaded"))]
    return {"versions": versions, "question": (question.type, question.unit), "audits": audits}


async def test_given_a_draft_with_a_cycle_when_saved_then_400_with_the_problem_on_its_field_nothing_stored(
        client):
    draft = copy.deepcopy(DRAFT)
    draft["questions"][1]["show_if"] = [{"question": "body_temperature", "op": "at_least", "value": "38"}]
    status, body = await save(client, draft)
    assert status == 400, body
    assert "cannot depend on its own answer (a cycle)" in fields(body)["questions.1.show_if"]
    versions = await client.services.db.run(lambda s: s.scalars(select(FollowUpQuestionnaireVersion)).all())
    assert versions == []


async def test_given_an_agent_when_the_designer_is_asked_then_forbidden(client):
    client.session.cookie_jar.clear()
    token = await sign_in(client, ROLE_USERS["agent"].username)
    response = await client.post("/api/followup/designer", json=DRAFT,
                                 headers={"Origin": origin(client), "X-CSRF-Token": token})
    assert response.status == 403


HOSPITAL_BANK = """version: "hospital-7"
source: ["St Example's follow-up committee, bank v7"]
review_status: example content, requires clinical review
languages: [en, es]
questions:
  walk_minutes_today:
    type: number
    unit: min
    min: 0
    max: 600
    text: {en: "How many minutes did you walk today?", es: "¿Cuántos minutos caminó hoy?"}
  fever_since_discharge:
    type: yes_no
    text: {en: "Any fever since you went home?", es: "¿Ha tenido fiebre desde que se fue a casa?"}
"""


@pytest.fixture
async def hospital_client(tmp_path, database_url, aiohttp_client, openapi_conformance):
    """A server configured with the hospital's own bank file ([followup] bank_file), not the shipped one."""
    seed_role_users(database_url)
    bank = tmp_path / "hospital-bank.yaml"
    bank.write_text(HOSPITAL_BANK, encoding="utf-8")
    cfg = console_config(tmp_path, database_url)
    cfg.followup.bank_file = str(bank)
    services = build(cfg)
    app = init_app(services.cfg, services, ari=False)
    openapi_conformance.watch(app)
    client = await aiohttp_client(app)
    token = await sign_in(client, ROLE_USERS["nurse"].username)
    client.headers = {"Origin": origin(client), "X-CSRF-Token": token}
    return client


async def test_given_the_hospitals_bank_configured_when_designing_then_its_questions_are_offered_and_checked(
        hospital_client):
    response = await hospital_client.get("/api/followup/designer", headers=hospital_client.headers)
    options = await response.json()
    assert sorted(q["code"] for q in options["bank"]) == ["fever_since_discharge", "walk_minutes_today"]
    assert next(q for q in options["bank"] if q["code"] == "walk_minutes_today")["unit"] == "min"

    # Picked by its code from the hospital's bank: saved; a code only the shipped example has: refused on
    # its field, the message naming the configured bank.
    draft = {**DRAFT, "id": "walking", "new_questions": [],
             "questions": [{"code": "walk_minutes_today", "required": True, "show_if": [], "red_flags": []}]}
    status, body = await save(hospital_client, draft)
    assert status == 201, body
    draft = {**draft, "id": "walking_and_pain", "questions": [
        *draft["questions"], {"code": "pain_score", "required": True, "show_if": [], "red_flags": []}]}
    status, body = await save(hospital_client, draft)
    assert status == 400
    assert "hospital-bank.yaml" in fields(body)["questions.1.code"]


def test_given_a_broken_configured_bank_when_the_server_is_built_then_it_stops_naming_file_and_line(tmp_path):
    bank = tmp_path / "hospital-bank.yaml"
    bank.write_text(HOSPITAL_BANK.replace("type: number", "type: slider"), encoding="utf-8")
    cfg = console_config(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    cfg.followup.bank_file = str(bank)
    with pytest.raises(QuestionnaireDataError) as stopped:
        build(cfg)
    problems = stopped.value.problems
    assert any(p.startswith(f"{bank}:") and "slider" in p for p in problems), problems

"""The OpenAPI document (issue 15): it describes exactly the application's routes, is valid OpenAPI 3.1, is
served to signed-in users and the API token only, holds no patient data; the builder reports what keeps a
route undescribed; the conformance check (tests/openapi_conformance.py) finds answers the document lacks."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from aiohttp import hdrs, web
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import validate

from callcenter.db.database import Database
from callcenter.db.models import Patient
from callcenter.demo import seed_demo
from callcenter.main import build, init_app
from callcenter.openapi import document
from callcenter.openapi.http import DOCUMENT
from tests.browser.live import API_TOKEN, console_config, seed_role_users, sign_in
from tests.openapi_conformance import Conformance

ROOT = Path(__file__).resolve().parents[2] / "callcenter"


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> web.Application:
    """The real application, built once: these tests read its router and document only."""
    tmp = tmp_path_factory.mktemp("openapi")
    return init_app(console_config(tmp, f"sqlite:///{tmp / 'callcenter.db'}"), ari=False)


def _routes(app: web.Application) -> set[tuple[str, str, str]]:
    """(METHOD, OpenAPI path, route name) of every route of the real router, HEAD aside (GET's twin)."""
    return {(r.method, document.openapi_path(r.resource), r.resource.name) for r in app.router.routes()
            if r.method != hdrs.METH_HEAD}


def _operations(spec: dict) -> set[tuple[str, str, str]]:
    return {(method.upper(), path, op["operationId"]) for path, item in spec["paths"].items()
            for method, op in item.items()}


# -- the document describes the router, exactly--------------------------------------------------------------


def test_given_the_app_when_its_routes_are_walked_then_the_document_describes_each_and_no_other(app):
    built = app[DOCUMENT].get()

    assert built.problems == []
    routes, operations = _routes(app), _operations(built.spec)
    assert routes - operations == set(), "routes missing from the document"
    assert operations - routes == set(), "the document names routes that do not exist"
    assert len(routes) > 90


def test_given_the_document_when_validated_then_it_is_valid_openapi_3_1(app):
    spec = app[DOCUMENT].get().spec

    validate(spec)  # openapi-spec-validator: raises on any violation of the 3.1 schema
    assert spec["openapi"] == "3.1.0"


def test_given_every_fragment_in_the_tree_when_read_then_each_operation_names_a_route_of_its_package(app):
    """A fragment in a package left without routes is never loaded by the builder: found here instead."""
    handled = {document.fragment_of(r.handler) for r in app.router.routes()} - {None}
    stale = []
    for fragment in sorted(ROOT.rglob(document.FRAGMENT)):
        operations = (yaml.safe_load(fragment.read_text()) or {}).get("operations") or {}
        if operations and fragment not in handled:
            stale.append(f"{fragment}: {sorted(operations)}")

    assert stale == []


def test_given_the_permission_table_when_built_then_each_operation_says_who_may_call_it(app):
    paths = app[DOCUMENT].get().spec["paths"]
    ops = {op["operationId"]: op for item in paths.values() for op in item.values()}

    assert ops["health"]["security"] == [{}]
    assert ops["api_agents"]["security"] == [{"apiToken": []}, {"session": []}]
    assert ops["api_agents"]["x-roles"] == ["admin", "api:status", "supervisor"]   # an API client's scope
    assert ops["admin_users"]["security"] == [{"session": []}]
    assert "303" in ops["admin_users"]["responses"] and "401" in ops["api_agents"]["responses"]
    recording = next(p for p in ops["api_recording_play"]["parameters"] if p["name"] == "recording_id")
    assert recording == {"name": "recording_id", "in": "path", "required": True,
                         "schema": {"type": "integer"}}


# -- serving-------------------------------------------------------------------------------------------


async def test_given_api_token_or_session_when_document_asked_then_served_and_anonymous_refused(
        tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url)
    with Database(sqlite_url).session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
        patients = [(p.mrn, p.given_name, p.family_name) for p in session.query(Patient).limit(20)]
    cfg = console_config(tmp_path, sqlite_url)
    client = await aiohttp_client(init_app(cfg, build(cfg), ari=False))

    anonymous = await client.get("/api/openapi.json")
    by_token = await client.get("/api/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"})
    await sign_in(client, "agent1")
    by_agent = await client.get("/api/openapi.json")
    page = await client.get("/docs/api")

    assert anonymous.status == 401
    assert by_token.status == 200 and by_agent.status == 200
    text = await by_token.text()
    assert json.loads(text)["openapi"] == "3.1.0"
    assert patients and not [p for p in patients if any(part in text for part in p)], "patient data"
    assert page.status == 200 and 'id="api-docs"' in await page.text()
    asset = await client.get("/docs/api/assets/swagger-ui-bundle.js")
    assert asset.status == 200 and len(await asset.read()) > 100_000


# -- the builder's reports-----------------------------------------------------------------------------------


def _tiny_app(tmp_path: Path, fragment: str) -> web.Application:
    """A router whose one handler lives in a module beside `fragment` (written as openapi.yaml)."""
    package = tmp_path / "callcenter_tiny"
    package.mkdir()
    (package / document.FRAGMENT).write_text(fragment)
    module = type(document)("callcenter_tiny.http")
    module.__file__ = str(package / "http.py")

    async def view(request: web.Request) -> web.Response:
        return web.json_response({"count": 1})
    view.__module__ = module.__name__
    import sys
    sys.modules[module.__name__] = module
    app = web.Application()
    app.router.add_get("/api/agents", view, name="api_agents")  # a name of the permission table
    return app


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    def make(fragment: str) -> document.Document:
        app = _tiny_app(tmp_path, fragment)
        return document.build(app.router, cookie_name="c")
    yield make
    import sys
    sys.modules.pop("callcenter_tiny.http", None)


def test_given_route_without_description_when_built_then_left_out_and_reported_with_its_file(tiny):
    built = tiny("operations: {}\n")

    assert "/api/agents" not in built.spec["paths"]
    assert built.problems == ["route 'api_agents' (GET /api/agents) has no description: add it under "
                              f"operations: in {built.problems[0].rsplit(' in ', 1)[1]}"]
    assert built.problems[0].endswith("callcenter_tiny/openapi.yaml")


def test_given_description_of_a_route_that_is_gone_when_built_then_reported(tiny):
    built = tiny("operations:\n  api_agents: {summary: x, returns: {type: object}}\n"
                 "  api_gone: {summary: y}\n")

    assert len(built.problems) == 1 and "'api_gone' names no route" in built.problems[0]


def test_given_comma_in_unquoted_flow_text_when_built_then_reported(tiny):
    built = tiny("operations:\n  api_agents: {summary: x, description: one, two}\n")

    assert any("has no value" in p and "api_agents.two" in p for p in built.problems)


def test_given_shorthands_when_built_then_expanded_to_openapi(tiny):
    built = tiny("operations:\n  api_agents:\n    body: {type: object}\n    returns_status: 201\n"
                 "    returns: {type: object}\n    errors: [409]\n")
    op = built.spec["paths"]["/api/agents"]["get"]

    assert built.problems == []
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"type": "object"}
    assert op["responses"]["201"]["content"]["application/json"]["schema"] == {"type": "object"}
    assert op["responses"]["409"]["$ref"] == "#/components/responses/Error"
    assert {"401", "403"} <= set(op["responses"])


# -- the conformance check of the tests' answers-------------------------------------------------------------


@pytest.mark.parametrize("answer, problem", [
    (lambda: web.json_response({"count": 1}), None),
    (lambda: web.json_response({"count": "one"}), r"count: 'one' is not of type 'integer'"),
    (lambda: web.json_response({"error": "x"}, status=418), r"status 418 is not documented"),
    (lambda: web.Response(text="<p>", content_type="text/html"), r"content type text/html is not documented"),
    (lambda: web.json_response({"error": "gone"}, status=409), None),
    (lambda: web.json_response({"nothing": 1}, status=409), r"'error' is a required property"),
])
async def test_given_answer_when_checked_then_conformance_reports_what_the_document_lacks(
        app, answer, problem):
    spec = copy.deepcopy(app[DOCUMENT].get().spec)
    op = spec["paths"]["/api/agents"]["get"]
    op["responses"]["200"] = {"description": "x", "content": {"application/json": {"schema": {
        "type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}}}}
    op["responses"]["409"] = {"$ref": "#/components/responses/Error"}
    conformance = Conformance()

    await conformance._check(_request_for("api_agents", spec), answer())

    if problem is None:
        assert conformance.problems == []
    else:
        assert len(conformance.problems) == 1 and re.search(problem, conformance.problems[0])


class _Fixed:
    def __init__(self, spec: dict):
        self.spec = spec

    def get(self) -> document.Document:
        return document.Document(self.spec)


def _request_for(name: str, spec: dict) -> web.Request:
    """A request matched to a one-route app named `name` whose document is `spec`."""
    async def view(request):
        return web.Response()
    app = web.Application()
    app.router.add_get("/x", view, name=name)
    app[DOCUMENT] = _Fixed(spec)
    request = make_mocked_request("GET", "/x", app=app)
    match = web.UrlMappingMatchInfo({}, next(iter(app.router[name])))
    match.add_app(app)
    request._match_info = match
    return request

"""Every response of the application under test, checked against its OpenAPI document (issue 15).

`Conformance.watch(app)` hooks the app's `on_response_prepare`: each answer of a named route is looked up by
its route name (the operationId) and checked: its status is documented, its content type is one the document
names for that status, and a JSON body validates against the schema (OpenAPI 3.1's JSON Schema dialect,
openapi-schema-validator, formats checked). The findings are collected and `assert_clean()` fails with all of
them; tests/conftest.py does so after every test that used `aiohttp_client`/`aiohttp_server`, and the
integration harness when the contact center stops. So every existing API test also checks the document.

Not checked: requests (tests send bad ones on purpose), HEAD, answers with no route (404/405 of the router),
and routes that the document does not know (a test's own routes; tests/openapi/test_document.py makes sure
the application has none).
"""
from __future__ import annotations

import json
import weakref
from functools import cache

from aiohttp import web
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from callcenter.openapi.http import DOCUMENT

BASE = "urn:callcenter-api"


class Conformance:
    def __init__(self):
        self.problems: list[str] = []
        self._checkers: weakref.WeakKeyDictionary[web.Application, _Checker] = weakref.WeakKeyDictionary()

    def watch(self, app: web.Application | object) -> None:
        if isinstance(app, web.Application) and self._check not in app.on_response_prepare:
            app.on_response_prepare.append(self._check)

    def assert_clean(self) -> None:
        assert not self.problems, ("answers that the OpenAPI document does not describe (fix the answer or "
                                   "its route's openapi.yaml):\n" + "\n".join(dict.fromkeys(self.problems)))

    async def _check(self, request: web.Request, response: web.StreamResponse) -> None:
        unrouted = request.match_info.http_exception is not None
        if request.method == "HEAD" or unrouted or DOCUMENT not in request.app:
            return
        name = request.match_info.route.resource.name
        app = request.app
        if app not in self._checkers:
            self._checkers[app] = _checker(json.dumps(app[DOCUMENT].get().spec, sort_keys=True))
        for problem in self._checkers[app].problems(name, response):
            self.problems.append(f"{request.method} {request.path} ({name}) -> {response.status}: {problem}")


@cache
def _checker(spec_json: str) -> _Checker:
    """One per distinct document (the same in every test of a run): its schemas compiled once."""
    return _Checker(json.loads(spec_json))


class _Checker:
    def __init__(self, spec: dict):
        self.spec = spec
        self.registry = Registry().with_resource(BASE, Resource.from_contents(spec, DRAFT202012))
        self.operations = {op["operationId"]: (path, method) for path, item in spec["paths"].items()
                           for method, op in item.items()}

    def problems(self, name: str, response: web.StreamResponse) -> list[str]:
        if name not in self.operations:
            return []
        path, method = self.operations[name]
        responses = self.spec["paths"][path][method]["responses"]
        key = _status_key(responses, response.status)
        if key is None:
            return [f"status {response.status} is not documented (documented: {', '.join(responses)})"]
        documented = self._resolve(f"/paths/{_escape(path)}/{method}/responses/{key}", responses[key])
        if documented[1].get("content") is None or response.status == 101:
            return []
        return self._content_problems(documented, response)

    def _content_problems(self, documented: tuple[str, dict], response: web.StreamResponse) -> list[str]:
        pointer, answer = documented
        ctype = _media_key(answer["content"], response.content_type)
        if ctype is None:
            return [f"content type {response.content_type} is not documented "
                    f"(documented: {', '.join(answer['content'])})"]
        body = getattr(response, "body", None)
        schema = "schema" in answer["content"][ctype]
        if not ctype.endswith("json") or not isinstance(body, bytes) or not schema:
            return []
        return self._schema_problems(f"{pointer}/content/{_escape(ctype)}/schema", json.loads(body))

    def _schema_problems(self, pointer: str, value) -> list[str]:
        return [_describe(e) for e in _validator(self, pointer).iter_errors(value)]

    def _resolve(self, pointer: str, answer: dict) -> tuple[str, dict]:
        """A response object and its JSON pointer, through a $ref to components/responses."""
        ref = answer.get("$ref")
        if ref is None:
            return pointer, answer
        name = ref.rsplit("/", 1)[-1]
        return f"/components/responses/{name}", self.spec["components"]["responses"][name]


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message[:300]}"


@cache
def _validator(checker: _Checker, pointer: str) -> OAS31Validator:
    return OAS31Validator({"$ref": f"{BASE}#{pointer}"}, registry=checker.registry,
                          format_checker=OAS31Validator.FORMAT_CHECKER)


def _status_key(responses: dict, status: int) -> str | None:
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return key
    return None


def _media_key(content: dict, content_type: str) -> str | None:
    for key in (content_type, f"{content_type.split('/')[0]}/*", "*/*"):
        if key in content:
            return key
    return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")

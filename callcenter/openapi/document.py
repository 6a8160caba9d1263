"""The OpenAPI 3.1 document, built from the application's router and the packages' `openapi.yaml` fragments.

One home per route: a route is described in the `openapi.yaml` beside the module of its handler (a route of
callcenter/desk/http.py in callcenter/desk/openapi.yaml), under `operations:`, keyed by the route's name (its
`name=`, also its line in auth/permissions.py and its operationId here). The router gives the method, the path
and its parameters; the permission table gives who may call it (`security`, `x-roles`); the fragment gives the
rest: an OpenAPI Operation Object, plus these shorthands (expanded here, so fragments stay short):

- `body: SCHEMA`: a required JSON request body;
- `form: {field: SCHEMA}`: an HTML form post (the CSRF field is added);
- `returns: SCHEMA`: the 200 answer in JSON (`returns_status: 201` for another status);
- `page: true`: the 200 answer is an HTML page; `redirect: true`: 303 to the next page;
- `errors: [400, 404]`: these answers are {"error": "..."} (an error page for a browser).

A fragment's `components:` (schemas, responses) joins the document's; a name used by two fragments is a
problem. `tag:` describes the package's tag. Sign-in answers (401, 403, the sign-in redirect) are added from
the permission table. A route without a description is left out and reported in `Document.problems`;
tests/openapi/test_document.py fails on any problem.
"""
from __future__ import annotations

import copy
import importlib.metadata
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiohttp import hdrs, web

from ..auth.permissions import ANONYMOUS, API, PERMISSIONS, SCOPE_ROLES
from ..web.guard import CSRF_FIELD

FRAGMENT = "openapi.yaml"
SHARED = Path(__file__).with_name("components.yaml")  # the schemas and answers every fragment may $ref
SHORTHANDS = ("body", "form", "returns", "returns_status", "page", "redirect", "errors")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_INTEGER_PARAM = re.compile(r"\(\?P<(\w+)>\\d\+\)")

DESCRIPTION = """\
The contact center's HTTP interface: the JSON API under `/api/`, and the console's pages and forms.

**Authentication.** A machine client is an API client (`callcenter api-client add NAME --scope ...`) and
presents its secret (`Authorization: Bearer <secret>`, never in a URL); the console's pages use the session
cookie of a signed-in user, and every unsafe request of a session carries its CSRF token (`X-CSRF-Token`
header or the `csrf_token` form field) and a same-site `Origin`. Websockets of machine clients take a
one-time `?ticket=` from `POST /api/ws-tickets`. Each operation names the roles that may call it (`x-roles`;
`api:<scope>` is an API client holding that scope, `api` any client); desk roles (agent, nurse) act on their
own desk only.

**Errors** are `{"error": "..."}` with the HTTP status (an error page for a browser's page request).

Patient data never goes into a URL: searches take it in a POST body.
"""


@dataclass
class Document:
    """The document and what keeps it from describing the router exactly."""
    spec: dict
    problems: list[str] = field(default_factory=list)


def build(router: web.UrlDispatcher, *, cookie_name: str, behind_proxy: bool = False) -> Document:
    """`behind_proxy`: [http] trusted_proxies is set, and a request that did not come through it gets 400."""
    builder = _Builder(cookie_name, behind_proxy)
    builder.add_fragment(SHARED)
    for route in router.routes():
        if route.method != hdrs.METH_HEAD:
            builder.add_route(route)
    builder.report_unused()
    return Document(builder.spec, builder.problems)


def fragment_of(handler) -> Path | None:
    """The `openapi.yaml` beside the module that defines `handler` (None for aiohttp's own handlers)."""
    handler = getattr(handler, "func", handler)  # functools.partial
    module = sys.modules.get(getattr(handler, "__module__", "") or "")
    if module is None or not module.__name__.startswith("callcenter"):
        return None
    return Path(module.__file__).with_name(FRAGMENT)


def openapi_path(resource: web.AbstractResource) -> str:
    if isinstance(resource, web.StaticResource):
        return resource.canonical + "/{filename}"
    return resource.canonical


class _Builder:
    def __init__(self, cookie_name: str, behind_proxy: bool = False):
        self.behind_proxy = behind_proxy
        self.spec: dict = {
            "openapi": "3.1.0",
            "info": {"title": "Callcenter API", "version": _version(), "description": DESCRIPTION},
            "tags": [],
            "paths": {},
            "components": {"securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer",
                             "description": "An API client's secret (callcenter api-client add)."},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie_name,
                            "description": "A signed-in console user's session (POST /login)."},
            }},
        }
        self.problems: list[str] = []
        self._fragments: dict[Path, dict] = {}
        self._used: dict[Path, set[str]] = {}

    # -- fragments -----------------------------------------------------------------------------------------

    def add_fragment(self, path: Path) -> dict:
        if path in self._fragments:
            return self._fragments[path]
        try:
            data = (yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}) or {}
        except yaml.YAMLError as exc:
            self.problems.append(f"{_rel(path)}: not YAML: {exc}")
            data = {}
        self._fragments[path] = data
        self._used[path] = set()
        self.problems.extend(f"{_rel(path)}: {where} has no value (a comma in unquoted text of a {{...}}?)"
                             for where in _empty_keys(data))
        tag = _tag_name(path)
        if "tag" in data:
            self.spec["tags"].append({"name": tag, "description": data["tag"]})
        for kind, items in (data.get("components") or {}).items():
            target = self.spec["components"].setdefault(kind, {})
            for name, value in items.items():
                if name in target:
                    self.problems.append(f"{_rel(path)}: components.{kind}.{name} is defined twice")
                target[name] = value
        return data

    def report_unused(self) -> None:
        for path, data in self._fragments.items():
            for name in sorted(set(data.get("operations") or {}) - self._used[path]):
                self.problems.append(f"{_rel(path)}: operation {name!r} names no route of this package's "
                                     "handlers (renamed, moved or removed?)")

    # -- routes --------------------------------------------------------------------------------------------

    def add_route(self, route: web.AbstractRoute) -> None:
        resource = route.resource
        name = resource.name if resource is not None else None
        if resource is None or name is None:
            self.problems.append(f"route {route.method} {route} has no name")
            return
        if isinstance(resource, web.StaticResource):
            operation = _static_operation(name)
        else:
            operation = self._described(route, name)
            if operation is None:
                return
        operation = self._complete(operation, route, resource, name)
        self.spec["paths"].setdefault(openapi_path(resource), {})[route.method.lower()] = operation

    def _described(self, route: web.AbstractRoute, name: str) -> dict | None:
        where = fragment_of(route.handler)
        if where is None:
            self.problems.append(f"route {name!r}: its handler {route.handler!r} is outside callcenter")
            return None
        operations = self.add_fragment(where).get("operations") or {}
        if name not in operations:
            self.problems.append(f"route {name!r} ({route.method} {route.resource.canonical}) has no "
                                 f"description: add it under operations: in {_rel(where)}")
            return None
        self._used[where].add(name)
        operation = copy.deepcopy(operations[name]) or {}
        operation.setdefault("tags", [_tag_name(where)])
        return operation

    def _complete(self, operation: dict, route: web.AbstractRoute, resource: web.AbstractResource,
                  name: str) -> dict:
        operation = {"operationId": name, **_expand(operation)}
        operation.setdefault("summary", name.replace("_", " "))
        params = _path_parameters(resource, operation.get("parameters", []))
        if params:
            operation["parameters"] = params
        roles = PERMISSIONS.get(name, frozenset())
        operation["x-roles"] = sorted(roles)
        operation["security"] = _security(roles)
        responses = operation.setdefault("responses", {})
        for status in _guard_statuses(roles, route.method, resource.canonical):
            responses.setdefault(str(status), _ref_response(status))
        if self.behind_proxy and name != "health":  # web/guard.py proxy_middleware: /health answers all
            if responses.get("400", {}).get("$ref", _ERROR) == _ERROR:
                responses["400"] = {"$ref": "#/components/responses/ErrorOrProxy"}
        return operation


def _expand(operation: dict) -> dict:
    """The fragment's shorthands as OpenAPI."""
    out = {k: v for k, v in operation.items() if k not in SHORTHANDS}
    responses = out.setdefault("responses", {})
    if "body" in operation:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": operation["body"]}}}
    if "form" in operation:
        fields = {CSRF_FIELD: {"type": "string", "description": "the session's CSRF token"}}
        fields |= operation["form"] or {}
        out["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": fields}}}}
    if "returns" in operation:
        status = str(operation.get("returns_status", 200))
        responses.setdefault(status, {"description": "OK", "content": {
            "application/json": {"schema": operation["returns"]}}})
    if operation.get("page"):
        responses.setdefault("200", {"$ref": "#/components/responses/Page"})
    if operation.get("redirect"):
        responses.setdefault("303", {"$ref": "#/components/responses/Redirect"})
    for status in operation.get("errors", ()):
        responses.setdefault(str(status), _ref_response(status))
    return out


def _empty_keys(value, where: str = "") -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                yield f"{where}.{key}".lstrip(".")
            yield from _empty_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _empty_keys(item, f"{where}[{i}]")


_ERROR = "#/components/responses/Error"


def _ref_response(status: int) -> dict:
    return {"$ref": "#/components/responses/SignIn"} if status == 303 else \
        {"$ref": "#/components/responses/Error", "description": _ERROR_TEXT.get(status, "refused")}


_ERROR_TEXT = {400: "bad request", 401: "not signed in, or a wrong API token",
               403: "this role may not (or not on this desk), or a failed CSRF/origin check",
               404: "not found", 409: "conflict with the current state", 413: "too large",
               422: "not processable", 429: "too many attempts", 500: "internal error (logged)",
               503: "not available now"}


def _guard_statuses(roles: frozenset[str], method: str, path: str) -> Iterable[int]:
    """What the middlewares may answer around the view: 401/403, the sign-in redirect of a page, the CSRF
    refusal of an unsafe request, and 500 for an error nobody expected (web/middlewares.py: logged, the
    answer says no more)."""
    yield 500
    if ANONYMOUS not in roles:
        yield 401
        yield 403
        if not path.startswith("/api/"):
            yield 303
    elif method in UNSAFE:
        yield 403


def _security(roles: frozenset[str]) -> list[dict]:
    if ANONYMOUS in roles:
        return [{}]
    schemes = []
    clients = {API} | SCOPE_ROLES
    if roles & clients:
        schemes.append({"apiToken": []})
    if roles - clients:
        schemes.append({"session": []})
    return schemes


def _path_parameters(resource: web.AbstractResource, declared: list[dict]) -> list[dict]:
    """Every placeholder of the path as a parameter; a declared one (its description) wins."""
    names = re.findall(r"\{(\w+)\}", openapi_path(resource))
    pattern = resource.get_info().get("pattern")
    integers = set(_INTEGER_PARAM.findall(pattern.pattern)) if pattern is not None else set()
    have = {(p.get("in"), p.get("name")) for p in declared}
    added = [{"name": n, "in": "path", "required": True,
              "schema": {"type": "integer"} if n in integers else {"type": "string"}}
             for n in names if ("path", n) not in have]
    return [*declared, *added]


def _static_operation(name: str) -> dict:
    return {"summary": "A static file (styles, scripts, images)", "tags": ["static"],
            "responses": {"200": {"description": "the file", "content": {"*/*": {}}},
                          # A browser revalidating its copy (a reload; a file modified moments ago, as
                          # in a fresh clone, is stale at once): aiohttp answers If-Modified-Since.
                          "304": {"description": "the browser's copy is current (If-Modified-Since)"},
                          "404": {"$ref": "#/components/responses/Error"}}}


def _tag_name(fragment: Path) -> str:
    return fragment.parent.name


def _rel(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("callcenter"):]) if "callcenter" in parts else str(path)


def _version() -> str:
    try:
        return importlib.metadata.version("callcenter")
    except importlib.metadata.PackageNotFoundError:
        return "0"

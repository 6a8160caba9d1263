"""The app factory: one function builds the aiohttp Application for `callcenter serve`, the test harness and
every test that serves the console or the API.

The web package imports no feature package (they import it, for their request helpers and pages): the
features' `setup_routes(app)` functions come in as `routes`, listed in main.py next to the services they use.
Every route has a `name=` with a line in `auth/permissions.py`; the app refuses to start otherwise.

To add a page: a view that returns `await render(request, "x.html", {...})` (web/templating.py), one
`add_get(..., name=...)` line in its package's `setup_routes`, one line in the permission table, the template
under agent_ui/templates/ extending base.html. tests/test_permissions.py then checks it for every role.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web

from ..auth.permissions import check_routes
from .guard import AUTH
from .middlewares import middlewares, security_headers
from .request import SERVICES
from .templating import STATIC_DIR, TEMPLATES_DIR, render, setup_templates

RouteSetup = Callable[[web.Application], None]
Lifecycle = Callable[[web.Application], AsyncIterator[None]]


def create_app(services, routes: Iterable[RouteSetup], *,
               lifecycle: Lifecycle | None = None) -> web.Application:
    """The application over `services` (main.Services): middlewares, templates, security headers, this
    package's own routes and then each of `routes`, checked against the permission table. `lifecycle` (an
    aiohttp cleanup context) starts and stops the services with the app; without it the caller does."""
    app = web.Application(middlewares=middlewares(services))
    app[SERVICES] = services
    app[AUTH] = services.auth
    setup_templates(app, services.cfg.path(TEMPLATES_DIR))
    app.on_response_prepare.append(security_headers)
    if lifecycle is not None:
        app.cleanup_ctx.append(lifecycle)
    setup_routes(app)
    for setup in routes:
        setup(app)
    check_routes(app.router)
    return app


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health, name="health")
    app.router.add_static("/static", app[SERVICES].cfg.path(STATIC_DIR), name="static")
    app.router.add_get("/", home, name="home")


async def home(request: web.Request) -> web.Response:
    return await render(request, "home.html", {"section": None})


async def health(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    return web.json_response({
        "ari_connected": s.ari.connected.is_set(), "ari_connections": s.ari.connections,
        "active_calls": len(s.router.live_calls()), "event_log_failures": s.events.failures,
    })

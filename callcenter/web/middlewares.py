"""The middlewares and response hooks every request passes (the request guard itself: guard.py).

`middlewares(services)` lists them outermost first: the trusted proxy's view of the client (when configured),
the session cookie (outside the error pages, so that they can still set it), error pages, the guard.
"""
from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Middleware
from aiohttp.web_request import FileField

from ..errors import ServiceError
from .guard import AUTH, auth_middleware, cookie_storage, proxy_middleware, session_middleware, wants_html
from .templating import render

log = logging.getLogger(__name__)

# Content-Security-Policy: everything from this server only; no inline script or style.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

HSTS_SECONDS = 365 * 24 * 3600  # with secure cookies: browsers use HTTPS only, for a year


def middlewares(services) -> list[Middleware]:
    """The chain of the application, outermost first; `services` is main.Services."""
    proxy = proxy_middleware(services.cfg.http.trusted_proxies)  # first: every later step sees the client
    sessions = session_middleware(cookie_storage(services.auth.settings))
    guard = auth_middleware(lambda app: app[AUTH])
    return [*filter(None, [proxy]), uploads_middleware, sessions, errors_middleware, guard]


# Routes that take a file upload larger than the app's default body bound (1 MiB): route name -> bytes.
UPLOADS = web.AppKey("upload_limits", dict)


def allow_upload(app: web.Application, route_name: str, max_bytes: int) -> None:
    """Let one route (a file upload form) take bodies up to `max_bytes`; every other keeps the default."""
    app.setdefault(UPLOADS, {})[route_name] = max_bytes


@web.middleware
async def uploads_middleware(request: web.Request, handler):
    """The bound of an upload route, set before anything reads the body (the CSRF check reads the form).
    Files aiohttp spooled to temporary files are closed (deleted) once answered, even when refused."""
    limit = request.app.get(UPLOADS, {}).get(_route_name(request))
    if limit is None:
        return await handler(request)
    request = request.clone(client_max_size=limit)
    try:
        return await handler(request)
    finally:
        await _close_files(request)


async def _close_files(request: web.Request) -> None:
    try:
        form = await request.post()  # the form already read (cached), else what is left of the body
    except (web.HTTPException, ValueError, OSError):
        return
    for value in form.values():
        if isinstance(value, FileField):
            value.file.close()


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ServiceError as exc:  # every feature's refusals, translated here once
        return await _error(request, exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            response = await _error(request, exc.status, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.match_info.route.name)
        return await _error(request, 500, "internal error")


async def _error(request: web.Request, status: int, message: str) -> web.Response:
    """An error page for a browser, JSON {"error": ...} for everyone else (and for every /api/* path)."""
    env = request.config_dict.get(aiohttp_jinja2.APP_KEY)
    if env is None or not wants_html(request):
        return web.json_response({"error": message}, status=status)
    template = env.select_template([f"errors/{status}.html", "errors/error.html"])
    return await render(request, template.name, {"status": status, "message": message}, status=status)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if _route_name(request) != "static":
        # Pages and API answers may carry patient data: never kept by a browser or a proxy cache.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.app[AUTH].settings.secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")


def _route_name(request: web.Request) -> str | None:
    return request.match_info.route.name if request.match_info.http_exception is None else None


class AccessLogger(AbstractAccessLogger):
    """The access log without query strings (websocket tickets, search and filter values) and without the
    Referer, which carries the previous page's query string: address, method, path, status, size, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %d %d %.1fms", request.remote, request.method, request.path,
                         response.status, response.body_length, time * 1000)

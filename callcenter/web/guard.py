"""The request guard: who is asking (an API client or a session cookie), may they use this route, is it
forged?

Order of the checks, for every request that matched a route:
1. /api/* with a Bearer secret in the Authorization header (never in the URL: URLs end up in logs), or a
   websocket upgrade with a `?ticket=` from POST /api/ws-tickets (auth/tickets.py): an API client
   (auth/clients.py). An unknown or revoked secret, or a bad ticket, is 401; a client without a scope the
   route's line names is 403. No session and no CSRF check: a secret is no ambient authority.
2. A public route (permissions.ANONYMOUS): passes; a state-changing request still needs the CSRF token of the
   (anonymous) session, so nobody can sign a victim into an account of the attacker's.
3. Otherwise the session cookie must hold a valid sign-in: none is 401 (HTML navigations are sent to
   /login), a role the table does not list is 403. State-changing requests need the session's CSRF token
   (`X-CSRF-Token` header or `csrf_token` form field) and a same-origin Origin (or Referer); websocket
   upgrades need a same-origin Origin.
"""
from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_remotes import XForwardedStrict
from aiohttp_session import AbstractStorage, Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from ..auth.clients import ApiClient
from ..auth.permissions import MACHINE_CALLBACKS, PASSWORD_CHANGE_ROUTES, allowed, is_public
from ..auth.services import Auth, AuthSettings, CurrentUser

AUTH = web.AppKey("auth", Auth)
USER = web.RequestKey("user", CurrentUser)
API_CLIENT = web.RequestKey("api_client", ApiClient)
SESSION = web.RequestKey("session", Session)
_STORAGE = web.RequestKey("session_storage", AbstractStorage)
_LOADED = web.RequestKey("session_as_loaded", object)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SEEN_REFRESH = 60  # s: how stale the idle clock may get before the cookie is rewritten


# -- session cookies -----------------------------------------------------------------------------------------
#
# aiohttp-session's storage and Session, with a middleware of our own: the library's keeps its state under
# string request keys, which aiohttp deprecates (NotAppKeyWarning). The cookie is written only when the
# session changed.


def session_middleware(storage: AbstractStorage) -> Middleware:
    @web.middleware
    async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[_STORAGE] = storage
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            await _save_session(request, exc)
            raise
        await _save_session(request, response)
        return response

    return sessions


async def _save_session(request: web.Request, response: web.StreamResponse) -> None:
    session = request.get(SESSION)
    if session is None or dict(session) == request.get(_LOADED):
        return
    if isinstance(response, web.Response) and not response.prepared:  # not a websocket or a file
        await request[_STORAGE].save_session(request, response, session)


def has_sessions(request: web.Request) -> bool:
    return _STORAGE in request


async def get_session(request: web.Request) -> Session:
    if SESSION not in request:
        session = await request[_STORAGE].load_session(request)
        request[SESSION], request[_LOADED] = session, dict(session)
    return request[SESSION]


async def new_session(request: web.Request) -> Session:
    request[SESSION], request[_LOADED] = await request[_STORAGE].new_session(), None
    return request[SESSION]


def cookie_storage(settings: AuthSettings) -> EncryptedCookieStorage:
    return EncryptedCookieStorage(Fernet(settings.fernet_key()), cookie_name=settings.cookie_name,
                                  max_age=settings.max_age, secure=settings.secure_cookies, httponly=True,
                                  samesite="Strict")


def proxy_middleware(trusted_proxies: str) -> Middleware | None:
    """Behind the TLS-terminating proxy of [http] trusted_proxies: the client's address (sign-in throttling,
    audit rows), scheme and host come from its X-Forwarded-* headers, believed from that proxy only; a
    request that did not come through it is refused (400), except /health."""
    trusted = [address.strip() for address in trusted_proxies.split(",") if address.strip()]
    if not trusted:
        return None
    return XForwardedStrict([trusted], white_paths={"/health"}).middleware


def auth_middleware(get_auth: Callable[[web.Application], Auth]) -> Middleware:
    """The guard, reading its settings and user service through `get_auth(app)`."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:
            return await handler(request)  # no route: 404/405 as usual
        auth = get_auth(request.app)
        name = request.match_info.route.name
        if _presents_api_token(request):
            return await _as_api_client(request, handler, auth, name)
        if is_public(name):
            if request.method not in SAFE_METHODS and name not in MACHINE_CALLBACKS:
                await _check_forgery(request, auth.settings)
            return await handler(request)
        user = await signed_in_user(request, auth)
        if user is None:
            raise _sign_in_required(request)
        if not allowed(name, user.role):
            raise web.HTTPForbidden(reason="your role may not use this page")
        if user.must_change_password and name not in PASSWORD_CHANGE_ROUTES:
            raise _password_change_required(request)
        if request.method not in SAFE_METHODS:
            await _check_forgery(request, auth.settings)
        elif _is_websocket(request) and not _same_origin(request, auth.settings, allow_referer=False):
            raise web.HTTPForbidden(reason="websocket from another origin refused")
        return await handler(request)

    return guard


# -- API clients ------------------------------------------------------------------------------------------


def _presents_api_token(request: web.Request) -> bool:
    if not request.path.startswith("/api/"):
        return False
    if "token" in request.query:
        raise web.HTTPUnauthorized(reason="the API token goes in the Authorization header, never in the URL "
                                          "(a websocket: ?ticket= from POST /api/ws-tickets)")
    bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    return bearer or ("ticket" in request.query and _is_websocket(request))


async def _as_api_client(request: web.Request, handler: Handler, auth: Auth,
                         name: str | None) -> web.StreamResponse:
    client = await _presented_client(request, auth)
    if not client.may_use(name):
        raise web.HTTPForbidden(reason=f"API client {client.name!r} has no scope for this route")
    request[API_CLIENT] = client
    return await handler(request)


async def _presented_client(request: web.Request, auth: Auth) -> ApiClient:
    if "Authorization" in request.headers:
        secret = request.headers["Authorization"].removeprefix("Bearer ").strip()
        client = await auth.clients.authenticate(secret)
        if client is None:
            raise web.HTTPUnauthorized(reason="missing or wrong API token")  # or revoked
        return client
    client_id = auth.tickets.redeem(request.query["ticket"])
    client = None if client_id is None else await auth.clients.active(client_id)
    if client is None:
        raise web.HTTPUnauthorized(reason="unknown, spent or expired websocket ticket, or a revoked client")
    return client


# -- sessions ---------------------------------------------------------------------------------------------


async def signed_in_user(request: web.Request, auth: Auth) -> CurrentUser | None:
    """The user of a valid, unexpired session (cached on the request), else None."""
    if USER in request:
        return request[USER]
    if not has_sessions(request):
        return None  # an app built without the session middleware: only API clients work
    session = await get_session(request)
    if "uid" not in session:
        return None
    user = await _load_user(session, auth)
    if user is not None:
        request[USER] = user
    return user


async def _load_user(session: Session, auth: Auth) -> CurrentUser | None:
    now = int(time.time())
    settings = auth.settings
    if now - session.get("at", 0) > settings.max_age or now - session.get("seen", 0) > settings.idle_timeout:
        session.invalidate()
        return None
    user = await auth.users.current(session["uid"])
    if user is None or user.session_version != session.get("ver"):
        session.invalidate()  # signed out elsewhere, password changed, or deactivated
        return None
    if now - session["seen"] > SEEN_REFRESH:
        session["seen"] = now
    return user


async def start_session(request: web.Request, user: CurrentUser) -> None:
    """A fresh session (new CSRF token; nothing carried over from before sign-in)."""
    session = await new_session(request)
    now = int(time.time())
    session.update(uid=user.id, role=user.role, ver=user.session_version, csrf=secrets.token_urlsafe(32),
                   at=now, seen=now)
    request[USER] = user


async def end_session(request: web.Request) -> None:
    (await get_session(request)).invalidate()
    request.pop(USER, None)


async def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, created on first use (the login form of an anonymous visitor)."""
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def watch_session(request: web.Request, ws: web.WebSocketResponse) -> AbstractAsyncContextManager:
    """Around a websocket's life: closed when the signed-in user's session ends, or the API client that opened
    it is revoked (auth/sockets.py)."""
    auth = request.app[AUTH]
    client = request.get(API_CLIENT)
    if client is not None:
        return auth.sockets.watching_client(ws, client.id)
    user = request.get(USER)
    if user is None or SESSION not in request:
        return nullcontext()
    ends_at = request[SESSION].get("at", 0) + auth.settings.max_age
    return auth.sockets.watching(ws, user.id, user.session_version, ends_at)


def _sign_in_required(request: web.Request) -> web.HTTPException:
    if wants_html(request):
        query = {"next": request.path_qs} if request.method == "GET" else {}
        return web.HTTPSeeOther(location="/login" + (f"?{urlencode(query)}" if query else ""))
    return web.HTTPUnauthorized(reason="sign in, or present an API token (an API client's secret)")


def _password_change_required(request: web.Request) -> web.HTTPException:
    if wants_html(request) and request.method == "GET":
        url = request.app.router["account_password"].url_for().with_query(next=request.path_qs)
        return web.HTTPSeeOther(location=str(url))
    return web.HTTPForbidden(reason="an administrator set your password: change it first (/account/password)")


def wants_html(request: web.Request) -> bool:
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


# -- forgery ----------------------------------------------------------------------------------------------


async def _check_forgery(request: web.Request, settings: AuthSettings) -> None:
    if not _same_origin(request, settings, allow_referer=True):
        raise web.HTTPForbidden(reason="request from another site refused")
    expected = (await get_session(request)).get("csrf") if has_sessions(request) else None
    given = request.headers.get(CSRF_HEADER) or await _form_token(request)
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HTTPForbidden(reason="missing or wrong CSRF token: reload the page and try again")


async def _form_token(request: web.Request) -> str:
    if request.content_type not in FORM_TYPES:
        return ""
    value = (await request.post()).get(CSRF_FIELD, "")  # parsed once; the view reads the cached form
    return value if isinstance(value, str) else ""


def _same_origin(request: web.Request, settings: AuthSettings, *, allow_referer: bool) -> bool:
    source = request.headers.get("Origin")
    if source is None and allow_referer:
        source = request.headers.get("Referer")
    if not source or source == "null":
        return False
    netloc = urlsplit(source).netloc.lower()
    return netloc == request.host.lower() or netloc in settings.allowed_origins


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"

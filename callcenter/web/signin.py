"""Sign-in and sign-out pages."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import web

from ..auth.exceptions import SignInFailed, SignInThrottled, WeakPassword
from ..errors import BadRequestBody
from .guard import API_CLIENT, AUTH, USER, end_session, signed_in_user, start_session
from .templating import render

# One message for every failure: it must not tell whether the account exists or is locked.
SIGN_IN_FAILED = ("Sign-in failed: check the username and password. After a few failed attempts, sign-in "
                  "from this computer waits longer after each one.")
THROTTLED = "Too many failed sign-ins from here: try again in {seconds} seconds."
THROTTLED_EVERYONE = "Too many failed sign-ins on this server: try again in {seconds} seconds."
NOTICES = {"signed_out": "You have signed out."}
WRONG_CURRENT = "The current password is wrong."
MUST_CHANGE = "An administrator set your password: choose your own before you go on."


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_form, name="login")
    app.router.add_post("/login", login_submit, name="login_submit")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/account/password", password_form, name="account_password")
    app.router.add_post("/account/password", password_submit, name="account_password_submit")
    app.router.add_post("/api/account/password", api_change_password, name="api_account_password")
    app.router.add_post("/api/ws-tickets", ws_ticket, name="api_ws_ticket")


async def login_form(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next"))
    if await signed_in_user(request, request.app[AUTH]) is not None:
        raise web.HTTPSeeOther(location=target)
    notice = next((text for key, text in NOTICES.items() if key in request.query), None)
    return await _form(request, target, notice=notice)


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    if not username.strip() or not password:
        return await _form(request, target, username, error="Enter your username and password.")
    try:
        user = await request.app[AUTH].users.authenticate(username, password, request.remote)
    except SignInFailed:
        return await _form(request, target, username, error=SIGN_IN_FAILED)
    except SignInThrottled as refused:
        return await _throttled(request, target, username, refused)
    await start_session(request, user)
    if user.must_change_password:
        raise web.HTTPSeeOther(location=password_url(request, target))
    raise web.HTTPSeeOther(location=target)


async def logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    await auth.users.sign_out(request[USER].id, request.remote)
    await auth.sockets.end(request[USER].id)  # no more screen pops to a signed-out console
    await end_session(request)
    raise web.HTTPSeeOther(location="/login?signed_out=1")


# A path on this site: one leading slash, then printable ASCII without backslashes. Browsers drop tabs and
# newlines from a Location and read a backslash as a slash: "/\t/evil.example" would lead to another site.
LOCAL_PATH = re.compile(r"/(?![/\\])[!-\[\]-~]*")


async def ws_ticket(request: web.Request) -> web.Response:
    """A single-use websocket ticket for the API client asking (auth/tickets.py)."""
    tickets = request.app[AUTH].tickets
    ticket = tickets.issue(request[API_CLIENT].id)
    return web.json_response({"ticket": ticket, "expires_in": tickets.ttl})


# -- the user's own password ------------------------------------------------------------------------------


def password_url(request: web.Request, target: str) -> str:
    url = request.app.router["account_password"].url_for()
    return str(url.with_query(next=target) if target != "/" else url)


async def password_form(request: web.Request) -> web.Response:
    return await _password_page(request, safe_next(request.query.get("next")))


async def password_submit(request: web.Request) -> web.Response:
    form = await request.post()
    target = safe_next(str(form.get("next", "")))
    current, new = str(form.get("current_password", "")), str(form.get("new_password", ""))
    if new != str(form.get("confirm_password", "")):
        return await _password_page(request, target, error="The two new passwords differ.", status=400)
    try:
        await _change_password(request, current, new)
    except (SignInFailed, WeakPassword, SignInThrottled) as refused:
        return await _password_page(request, target, error=_refusal(refused), status=_status(refused))
    raise web.HTTPSeeOther(location=target)


async def api_change_password(request: web.Request) -> web.Response:
    """JSON {"current_password": ..., "new_password": ...}: the signed-in user's own password."""
    try:
        body = await request.json()  # any refusal names both fields (not request.json_object's message)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    current, new = body.get("current_password"), body.get("new_password")
    if not isinstance(current, str) or not isinstance(new, str):
        raise BadRequestBody('the body must be JSON: {"current_password": "...", "new_password": "..."}')
    try:
        await _change_password(request, current, new)
    except (SignInFailed, WeakPassword, SignInThrottled) as refused:
        return web.json_response({"error": _refusal(refused)}, status=_status(refused))
    return web.json_response({"changed": True})


async def _change_password(request: web.Request, current: str, new: str) -> None:
    """Change it, then a fresh session for this browser (the change ended every session of the user)."""
    user = await request.app[AUTH].users.change_password(request[USER].id, current, new, request.remote)
    await start_session(request, user)


def _refusal(refused: Exception) -> str:
    if isinstance(refused, SignInThrottled):
        return THROTTLED.format(seconds=refused.retry_after)
    return WRONG_CURRENT if isinstance(refused, SignInFailed) else f"The new password is too weak: {refused}."


def _status(refused: Exception) -> int:
    return 429 if isinstance(refused, SignInThrottled) else 400


async def _password_page(request: web.Request, target: str, *, error: str | None = None,
                         status: int = 200) -> web.Response:
    notice = MUST_CHANGE if request[USER].must_change_password else None
    context = {"next": target, "error": error, "notice": notice}
    return await render(request, "account_password.html", context, status=status)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a local path only (never another site), and never back to /login."""
    if not target or not LOCAL_PATH.fullmatch(target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return target


async def _throttled(request: web.Request, target: str, username: str,
                     refused: SignInThrottled) -> web.Response:
    text = THROTTLED_EVERYONE if refused.everyone else THROTTLED
    response = await _form(request, target, username, error=text.format(seconds=refused.retry_after),
                           status=429)
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


async def _form(request: web.Request, target: str, username: str = "", *, error: str | None = None,
                notice: str | None = None, status: int = 200) -> web.Response:
    context = {"next": target, "username": username, "error": error, "notice": notice}
    return await render(request, "login.html", context, status=status)

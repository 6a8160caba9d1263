"""Rendering console pages: Jinja2 through aiohttp-jinja2 (autoescaped), with what every page shows.

`await render(request, "page.html", {...})` gives a template `user` (CurrentUser or None), `csrf_token` (for
forms and the <meta> that console.js reads), `nav` (the links the user's role may follow, from the
permission table) and `product`. Pages are never cached: they may show patient data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from ..auth.permissions import allowed
from .guard import AUTH, csrf_token, get_session, has_sessions, signed_in_user

PRODUCT = "Hospital Contact Center"
TEMPLATES_DIR = "agent_ui/templates"
STATIC_DIR = "agent_ui/static"

# Top-bar navigation, in order: (route name, label). A link shows only to roles the table allows.
NAV: tuple[tuple[str, str], ...] = (
    ("home", "Home"),
    ("agent_console", "Agent desk"),
    ("followup_desk", "Follow-ups"),
    ("supervisor_console", "Supervision"),
    ("campaigns", "Campaigns"),
    ("followup_paper", "Paper sheets"),
    ("followup_designer", "Questionnaires"),
    ("kpi_page", "KPIs"),
    ("reports_page", "Reports"),
    ("complaints_queue", "Patient relations"),
    ("admin_console", "Administration"),
)


@dataclass(frozen=True)
class NavLink:
    name: str
    label: str
    url: str
    current: bool


def setup_templates(app: web.Application, templates_dir: Path) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(templates_dir)), autoescape=True,
                         undefined=jinja2.StrictUndefined)


async def render(request: web.Request, template: str, context: dict | None = None, *,
                 status: int = 200) -> web.Response:
    user = await _user(request)
    base = {
        "product": PRODUCT,
        "user": user,
        "csrf_token": await csrf_token(request) if has_sessions(request) else "",
        "nav": nav_links(request, user.role) if user else [],
    }
    response = aiohttp_jinja2.render_template(template, request, base | (context or {}), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def render_with_notice(request: web.Request, template: str, notice_key: str, context: dict, *,
                             status: int = 200) -> web.Response:
    """A console form page (admin, campaigns): `notice` is the one-time message a redirect after a change
    left under `notice_key` in the session, shown once; a refused form (status != 200) keeps it for later."""
    session = await get_session(request)
    notice = session.pop(notice_key, None) if status == 200 else None
    return await render(request, template, context | {"notice": notice}, status=status)


async def redirect_with_notice(request: web.Request, notice_key: str, notice: str, location) -> NoReturn:
    """After a change: a one-time notice for the next page, and a redirect (a reload does not post again)."""
    (await get_session(request))[notice_key] = notice
    raise web.HTTPSeeOther(location=str(location))


def form_text(data: MultiDictProxy, name: str, *, strip: bool = True) -> str:
    """A text field of a posted form ("" when absent, or a file)."""
    value = data.get(name, "")
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def nav_links(request: web.Request, role: str) -> list[NavLink]:
    router = request.app.router
    here = request.match_info.route.name if request.match_info.http_exception is None else None
    return [NavLink(name, label, str(router[name].url_for()), name == here)
            for name, label in NAV if name in router and allowed(name, role)]


async def _user(request: web.Request):
    auth = request.config_dict.get(AUTH)
    return await signed_in_user(request, auth) if auth is not None else None

"""What every feature's views need from a request: the services, the signed-in user, a JSON object body,
and the own-desk rule (agents and nurses act on, and read, their own desk's calls only)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ..auth.permissions import DESK_ROLES, may_act_for_desk
from ..db.queries import AuditActor
from ..errors import BadRequestBody, Refused
from .guard import API_CLIENT, USER

if TYPE_CHECKING:  # main imports every feature, which import this module: for the type checker only
    from ..main import Services

SERVICES: web.AppKey[Services] = web.AppKey("services")


def services(request: web.Request) -> Services:
    """The application's services (main.Services: the one object graph main.build wires)."""
    return request.config_dict[SERVICES]


def user_id(request: web.Request) -> int | None:
    """The signed-in user's id; None for an API client."""
    user = request.get(USER)
    return user.id if user else None


def audit_actor(request: web.Request, agent_id: int | None = None) -> AuditActor:
    """Whom the audit row of this request's read names: the signed-in user (a supervisor reading another
    desk's call is that supervisor), else the API client the request authenticated as (name and id)."""
    user = request.get(USER)
    if user is not None:
        return AuditActor(user.id, agent_id)
    client = request.get(API_CLIENT)
    return AuditActor(None, agent_id, client.name if client else None, client.id if client else None)


# -- the own-desk rule ---------------------------------------------------------------------------------------
#
# Agents and nurses act on their own desk, and read or find the calls that are or were on it, only;
# supervisors, admins and API clients every desk and call. Every view checks it through `reader(request)`
# (or the helpers below, built on it); the rule itself is auth/permissions.py's `may_act_for_desk`, which
# CallControls applies to a live call's desk.


@dataclass(frozen=True)
class Reader:
    """Who is asking, for the own-desk rule and the audit row written with a read.

    `restricted` means a desk role: `desk` is its own desk ("" when it has none) and `desk_agent_id` that
    desk's agent id (None when it has none): "only this desk, only calls that are or were on it"."""
    user_id: int | None
    restricted: bool
    desk_agent_id: int | None = None
    api_client: str | None = None
    role: str | None = None
    desk: str = ""
    client_id: int | None = None   # the API client (api_clients.id) reading, instead of a user

    def may_act_for(self, desk: str) -> bool:
        return may_act_for_desk(self.role, self.desk, desk)

    def may_see(self, agent_ids: Iterable[int | None]) -> bool:
        """May read a call whose legs, offers and events name these agents."""
        if not self.restricted:
            return True
        return self.desk_agent_id is not None and self.desk_agent_id in set(agent_ids)

    def audit_actor(self) -> AuditActor:
        """Whom an audit row of this reader's read names: the signed-in user, or the API client."""
        return AuditActor(self.user_id, None, self.api_client, self.client_id)


def reader(request: web.Request) -> Reader:
    user = request.get(USER)
    if user is None:
        client = request.get(API_CLIENT)
        return Reader(None, restricted=False, api_client=client.name if client else None,
                      client_id=client.id if client else None)
    if user.role not in DESK_ROLES:
        return Reader(user.id, restricted=False, role=user.role)
    agents = services(request).queues.agents
    own = agents.get(user.desk) if user.desk else None
    return Reader(user.id, restricted=True, desk_agent_id=own.id if own is not None else None, role=user.role,
                  desk=user.desk or "")


def require_own_desk(request: web.Request, number: str | None = None) -> None:
    """403 unless the requester may act on the desk in the URL (or `number`)."""
    desk = number if number is not None else request.match_info["number"]
    if not reader(request).may_act_for(desk):
        raise web.HTTPForbidden(reason="you may act on your own desk only")


def own_desk_agent(request: web.Request):
    """The agent of the desk in the URL, once the requester may act on it: 403 for another desk, 404 for no
    such desk."""
    require_own_desk(request)
    agent = services(request).queues.agents.get(request.match_info["number"])
    if agent is None:
        raise Refused(404, "no such agent")
    return agent


def is_desk_role(request: web.Request) -> bool:
    """An agent or nurse: sees only what is or was on their own desk."""
    return reader(request).restricted


def require_call_visible(who: Reader, agent_ids: Iterable[int | None]) -> None:
    """403 unless `who` may read a call that names these agents."""
    if not who.may_see(agent_ids):
        raise web.HTTPForbidden(reason="you may see the calls of your own desk only")


async def json_value(request: web.Request, example: str = ""):
    """The body's JSON value, else BadRequestBody (also for a body that is not UTF-8 text)."""
    try:
        return await request.json()
    except ValueError:
        raise BadRequestBody(_must_be(example)) from None


async def json_object(request: web.Request, example: str = "") -> dict:
    """The body as a JSON object, else BadRequestBody."""
    body = await json_value(request, example)
    if not isinstance(body, dict):
        raise BadRequestBody(_must_be(example))
    return body


def _must_be(example: str) -> str:
    return "the body must be JSON: an object" + (f" like {example}" if example else "")

"""What every feature's views need from a request: the services, the signed-in user, a JSON object body,
and the own-desk rule (agents and nurses act on, and read, their own desk's calls only)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from ..auth.permissions import DESK_ROLES, may_act_for_desk
from ..db.queries import AuditActor
from ..errors import BadRequestBody
from .guard import API_CLIENT, USER

SERVICES = web.AppKey("services", object)


def services(request: web.Request):
    return request.config_dict[SERVICES]


def user_id(request: web.Request) -> int | None:
    """The signed-in user's id; None for an API-token client."""
    user = request.get(USER)
    return user.id if user else None


def audit_actor(request: web.Request, agent_id: int | None = None) -> AuditActor:
    """Whom the audit row of this request's read names: the signed-in user (a supervisor reading another
    desk's call is that supervisor), else the API client the request authenticated as."""
    user = request.get(USER)
    if user is not None:
        return AuditActor(user.id, agent_id)
    return AuditActor(None, agent_id, api_client_name(request))


def api_client_name(request: web.Request) -> str | None:
    """The API client's name as the auth middleware recorded it: None for no API client, "" for an unnamed
    one (the shared token)."""
    client = request.get(API_CLIENT)
    if not client:
        return None
    return getattr(client, "name", None) or (client if isinstance(client, str) else "")


def require_own_desk(request: web.Request, number: str | None = None) -> None:
    """Agents and nurses act on their own desk only (API clients, supervisors and admins on any): the desk
    in the URL, or `number`."""
    user = request.get(USER)
    desk = number if number is not None else request.match_info["number"]
    if user is not None and not may_act_for_desk(user.role, user.desk, desk):
        raise web.HTTPForbidden(reason="you may act on your own desk only")


def is_desk_role(request: web.Request) -> bool:
    """An agent or nurse: sees only what is or was on their own desk."""
    user = request.get(USER)
    return user is not None and user.role in DESK_ROLES


@dataclass(frozen=True)
class Reader:
    """Who reads a call's data, for the own-desk check and the audit row written with the read.

    `desk_agent_id` is set for a desk role (its own desk's agent id, None when it has none) and means
    "only calls that are or were on this desk"; supervisors, admins and API clients read every call."""
    user_id: int | None
    restricted: bool
    desk_agent_id: int | None = None
    api_client: str | None = None

    def may_see(self, agent_ids: Iterable[int]) -> bool:
        if not self.restricted:
            return True
        return self.desk_agent_id is not None and self.desk_agent_id in set(agent_ids)

    def audit_fields(self) -> dict:
        """actor_user_id and detail for add_audit_event: the signed-in user, or the API client as such."""
        if self.user_id is None:
            named = {"api_client": self.api_client} if self.api_client else {}
            return {"actor_user_id": None, "detail": {"via": "api"} | named}
        return {"actor_user_id": self.user_id, "detail": {}}


def reader(request: web.Request) -> Reader:
    user = request.get(USER)
    if user is None:
        return Reader(None, restricted=False, api_client=api_client_name(request))
    if user.role not in DESK_ROLES:
        return Reader(user.id, restricted=False)
    agents = services(request).queues.agents
    own = agents.get(user.desk) if user.desk else None
    return Reader(user.id, restricted=True, desk_agent_id=own.id if own is not None else None)


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

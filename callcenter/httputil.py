"""What every feature's views need from a request: the services, the signed-in user, a JSON object body.

Lives apart from web.py so feature http modules can import it at module level (web.py imports them).
"""
from __future__ import annotations

from aiohttp import web

from .auth.middleware import USER
from .errors import BadRequestBody

SERVICES = web.AppKey("services", object)


def services(request: web.Request):
    return request.config_dict[SERVICES]


def user_id(request: web.Request) -> int | None:
    """The signed-in user's id; None for an API-token client."""
    user = request.get(USER)
    return user.id if user else None


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

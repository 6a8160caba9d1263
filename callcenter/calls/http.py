"""HTTP views of the call controls: JSON in, JSON out, errors as {"error": ...} with 400/403/404/409.

Every route has a line in auth/permissions.py (block "call controls"); on top of it, desk roles act on the
calls of their own desk only (checked by CallControls, which knows whose call it is).
"""
from __future__ import annotations

from aiohttp import web

from ..auth.middleware import USER
from ..httputil import json_object, require_own_desk
from .controls import CallControls


def setup_routes(app: web.Application, controls: CallControls) -> None:
    views = CallControlViews(controls)
    add = app.router.add_post
    add("/api/calls/{call_id}/hold", views.hold, name="api_call_hold")
    add("/api/calls/{call_id}/unhold", views.unhold, name="api_call_unhold")
    add("/api/calls/{call_id}/hangup", views.hangup, name="api_call_hangup")
    add("/api/calls/{call_id}/transfer", views.transfer, name="api_call_transfer")
    add("/api/calls/{call_id}/transfer/complete", views.complete_transfer, name="api_call_transfer_complete")
    add("/api/calls/{call_id}/transfer/cancel", views.cancel_transfer, name="api_call_transfer_cancel")
    add("/api/agents/{number}/dial", views.dial, name="api_agent_dial")


class CallControlViews:
    def __init__(self, controls: CallControls):
        self._controls = controls

    async def hold(self, request: web.Request) -> web.Response:
        return await self._run(request, self._controls.hold)

    async def unhold(self, request: web.Request) -> web.Response:
        return await self._run(request, self._controls.unhold)

    async def hangup(self, request: web.Request) -> web.Response:
        return await self._run(request, self._controls.hangup)

    async def complete_transfer(self, request: web.Request) -> web.Response:
        return await self._run(request, self._controls.complete_transfer)

    async def cancel_transfer(self, request: web.Request) -> web.Response:
        return await self._run(request, self._controls.cancel_transfer)

    async def transfer(self, request: web.Request) -> web.Response:
        body = await json_object(request)

        async def transfer(call_id: str, user) -> str:
            return await self._controls.transfer(call_id, body, user)
        return await self._run(request, transfer)

    async def dial(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        require_own_desk(request)
        call_id = await self._controls.dial(number, await json_object(request))
        return web.json_response({"call_id": call_id, "state": "dialing_agent"}, status=201)

    async def _run(self, request: web.Request, control) -> web.Response:
        call_id = request.match_info["call_id"]
        state = await control(call_id, request.get(USER))  # ControlError: web.errors_middleware answers
        return web.json_response({"call_id": call_id, "state": state})


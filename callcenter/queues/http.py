"""The agents and queues API: desks' states, each desk's websocket (state pushes and screen pops), the queues'
waiting callers. Desk roles act on their own desk only (web/request.py)."""
from __future__ import annotations

from aiohttp import WSMsgType, web

from ..eventlog import utcnow
from ..web.guard import watch_session
from ..web.request import audit_actor, is_desk_role, json_value, require_own_desk, services


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/agents", list_agents, name="api_agents")
    app.router.add_post("/api/agents/{number}/state", set_agent_state, name="api_agent_state")
    app.router.add_get("/api/agents/{number}/ws", agent_socket, name="api_agent_socket")
    app.router.add_get("/api/queues", list_queues, name="api_queues")


async def list_agents(request: web.Request) -> web.Response:
    queues = services(request).queues
    return web.json_response([a.public() for a in queues.agents.values()])


async def set_agent_state(request: web.Request) -> web.Response:
    require_own_desk(request)
    body = await json_value(request, '{"state": "available"}')
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        return _json_error(400, "'state' is required: available, paused or logged_out")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        return _json_error(400, "'reason' must be a short text")
    queues = services(request).queues
    agent = queues.request_state(request.match_info["number"], body["state"], reason)
    return web.json_response(agent.public())


async def list_queues(request: web.Request) -> web.Response:
    """Each queue's waiting callers. Desk roles get positions and waits only: a waiting call is on no desk
    yet, and its id would open its record elsewhere."""
    queues = services(request).queues
    with_ids = not is_desk_role(request)
    now = utcnow()
    out = []
    for name, info in queues.queues.items():
        waiting = [{"position": i, "waiting_seconds": (now - e.since).total_seconds()}
                   | ({"call_id": e.call.id} if with_ids else {})
                   for i, e in enumerate(queues.waiting(name), 1)]
        out.append({"name": name, "title": info.title, "waiting": waiting})
    return web.json_response(out)


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    s = services(request)
    number = request.match_info["number"]
    require_own_desk(request)
    s.queues.agent(number)  # 404 for an unknown agent
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    viewer = audit_actor(request)  # whom the pops this console shows are audited for
    s.notifier.attach(number, ws, viewer)
    try:
        async with watch_session(request, ws):  # closed when the user signs out or is deactivated
            await ws.send_json({"type": "hello", "agent": number})
            for message in await _replay(s, s.queues.agent(number), viewer):
                await ws.send_json(message)
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
    finally:
        s.notifier.detach(number, ws)
    return ws


async def _replay(s, agent, viewer) -> list[dict]:
    """The desk's call again for a (re)opened console: the live call, else the ended call whose disposition
    the desk still owes (a reload in wrap-up must not show 'No call')."""
    messages = await s.pops.replay(s.router.find(agent.call_id), agent, viewer)
    owed = s.desk.owed(agent.number) if s.desk is not None else None
    if messages or owed is None:
        return messages
    return await s.pops.replay_ended(owed, agent, viewer)


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)

"""The supervisor page and its live data: the wallboard snapshot (JSON) and its websocket."""
from __future__ import annotations

from aiohttp import WSMsgType, web

from ..web.guard import watch_session
from ..web.request import SERVICES
from ..web.request import services as _services
from ..web.templating import render


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/supervisor", supervisor_console, name="supervisor_console")
    app.router.add_get("/api/wallboard", wallboard, name="api_wallboard")
    app.router.add_get("/api/wallboard/ws", wallboard_socket, name="api_wallboard_socket")
    app.on_shutdown.append(_close_sockets)


async def supervisor_console(request: web.Request) -> web.Response:
    queues = _services(request).queues
    return await render(request, "supervisor.html", {
        "queues": sorted(queues.queues.values(), key=lambda q: q.name),
        "agents": sorted(queues.agents.values(), key=lambda a: a.number),
    })


async def wallboard(request: web.Request) -> web.Response:
    return web.json_response(_services(request).wallboard.snapshot())


async def wallboard_socket(request: web.Request) -> web.WebSocketResponse:
    board = _services(request).wallboard
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    await board.attach(ws)
    try:
        async with watch_session(request, ws):  # closed when the user signs out or is deactivated
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
    finally:
        board.detach(ws)
    return ws


async def _close_sockets(app: web.Application) -> None:
    await app[SERVICES].wallboard.close()

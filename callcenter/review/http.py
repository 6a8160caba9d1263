"""Recording review API: search, ask to play (with a reason), stream the audio (HTTP Range, via FileResponse)."""
from __future__ import annotations

from aiohttp import web

from ..auth.middleware import USER
from .exceptions import ReviewError
from .services import Filters


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/recordings", search, name="api_recordings")
    app.router.add_post("/api/recordings/{recording_id:\\d+}/play", play, name="api_recording_play")
    app.router.add_get("/api/recordings/{recording_id:\\d+}/audio", audio, name="api_recording_audio")


def _services(request: web.Request):
    from ..web import SERVICES  # web.py imports this module: resolve at request time
    return request.app[SERVICES]


def _user_id(request: web.Request) -> int | None:
    user = request.get(USER)
    return user.id if user else None


async def search(request: web.Request) -> web.Response:
    try:
        results = await _services(request).review.search(Filters.from_query(request.query), _user_id(request))
    except ReviewError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    return web.json_response({"results": results}, headers={"Cache-Control": "no-store"})


async def play(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    recording_id = int(request.match_info["recording_id"])
    try:
        grant = await _services(request).review.grant_play(recording_id, reason, _user_id(request))
    except ReviewError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    url = request.app.router["api_recording_audio"].url_for(recording_id=str(recording_id))
    return web.json_response({"url": str(url.with_query(grant=grant))}, headers={"Cache-Control": "no-store"})


async def audio(request: web.Request) -> web.StreamResponse:
    recording_id = int(request.match_info["recording_id"])
    try:
        path, content_type = await _services(request).review.audio_file(
            recording_id, request.query.get("grant"), _user_id(request))
    except ReviewError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    # FileResponse answers Range requests with 206 Partial Content, which <audio> needs to seek.
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-store",
                                           "Accept-Ranges": "bytes"})

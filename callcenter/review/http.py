"""Recording review API: search, ask to play (with a reason), stream the audio (HTTP Range, via FileResponse).

The search is a POST: its patient field (a name or an MRN) must never be in a URL, an access log or the
browser history.

Refusals (ReviewError) become JSON errors in web.errors_middleware."""
from __future__ import annotations

from aiohttp import web

from ..web.request import audit_actor, json_object
from ..web.request import services as _services
from .services import Filters


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/recordings/search", search, name="api_recordings")
    app.router.add_post("/api/recordings/{recording_id:\\d+}/play", play, name="api_recording_play")
    app.router.add_get("/api/recordings/{recording_id:\\d+}/audio", audio, name="api_recording_audio")


async def search(request: web.Request) -> web.Response:
    body = await json_object(request, '{"patient": "MRN100001", "date_from": "2026-12-01"}')
    results = await _services(request).review.search(Filters.from_query(body), audit_actor(request))
    return web.json_response({"results": results}, headers={"Cache-Control": "no-store"})


async def play(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    recording_id = int(request.match_info["recording_id"])
    grant = await _services(request).review.grant_play(recording_id, reason, audit_actor(request))
    url = request.app.router["api_recording_audio"].url_for(recording_id=str(recording_id))
    return web.json_response({"url": str(url.with_query(grant=grant))}, headers={"Cache-Control": "no-store"})


async def audio(request: web.Request) -> web.StreamResponse:
    recording_id = int(request.match_info["recording_id"])
    path, content_type = await _services(request).review.audio_file(
        recording_id, request.query.get("grant"), audit_actor(request))
    # FileResponse answers Range requests with 206 Partial Content, which <audio> needs to seek.
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-store",
                                           "Accept-Ranges": "bytes"})

"""Fakes at the ARI boundary.

`FakeAriServer` is an aiohttp application that answers like Asterisk's ARI, for testing `AriClient` over real
HTTP and websockets: it records what the client sent (websocket query and Authorization, event filters, REST
calls) and pushes scripted events. `FakeAri` stands in for an `AriClient` inside the call layer: async
methods that record each call and return what a test put in `channels`.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from callcenter.ari.client import AriNotFound
from callcenter.ari.models import Channel


def channel_json(channel_id: str, *, number: str = "+14155550101", state: str = "Up", app: str = "Stasis",
                 app_data: str = "callcenter,inbound,hotline", language: str = "en") -> dict:
    """A channel as ARI describes it."""
    return {
        "id": channel_id, "name": f"PJSIP/trunk-{channel_id}", "state": state, "language": language,
        "caller": {"number": number, "name": ""},
        "dialplan": {"context": "callcenter-hotline", "exten": "hotline", "priority": 1,
                     "app_name": app, "app_data": app_data},
    }


# -- a fake ARI server, for the client -----------------------------------------------------------------


@dataclass
class WsConnection:
    query: dict[str, str]
    authorization: str | None


@dataclass
class FakeAriServer:
    """Scripted ARI. Events in `events_per_connection[n]` are pushed on connection n (0-based) right after the
    websocket opens; a connection is closed by the server once its events are sent when `drop` says so."""

    events_per_connection: list[list[dict]] = field(default_factory=list)
    drop: list[bool] = field(default_factory=list)
    channels: list[dict] = field(default_factory=list)
    connections: list[WsConnection] = field(default_factory=list)
    event_filters: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_put("/ari/applications/{app}/eventFilter", self._event_filter)
        app.router.add_get("/ari/channels", self._channels)
        app.router.add_get("/ari/channels/{id}", self._channel)
        app.router.add_post("/ari/channels/{id}/answer", self._answer)
        app.router.add_delete("/ari/channels/{id}", self._hangup)
        app.router.add_post("/ari/channels/{id}/play/{playback}", self._record_request)
        app.router.add_post("/ari/channels", self._originate)
        app.router.add_get("/ari/asterisk/info", self._broken)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        index = len(self.connections)
        self.connections.append(WsConnection(dict(request.query), request.headers.get("Authorization")))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            events = self.events_per_connection[index] if index < len(self.events_per_connection) else []
            for event in events:
                await ws.send_json(event)
            if index < len(self.drop) and self.drop[index]:
                await ws.close()
                return ws
            async for _ in ws:
                pass
        finally:
            self._sockets.discard(ws)
        return ws

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close()

    async def _event_filter(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.event_filters.append({"app": request.match_info["app"], "body": body})
        return web.json_response(body)

    async def _channels(self, request: web.Request) -> web.Response:
        return web.json_response(self.channels)

    async def _channel(self, request: web.Request) -> web.Response:
        for channel in self.channels:
            if channel["id"] == request.match_info["id"]:
                return web.json_response(channel)
        return web.json_response({"message": "Channel not found"}, status=404)

    async def _answer(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"message": "Channel not in Stasis application"}, status=409)

    async def _hangup(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=204)

    async def _record_request(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"id": request.match_info.get("playback", "")})

    async def _originate(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(channel_json(request.query.get("channelId") or uuid.uuid4().hex))

    async def _broken(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="Internal Server Error")

    async def _record(self, request: web.Request) -> None:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, dict(request.query), body))


# -- a fake AriClient, for the call layer --------------------------------------------------------------


class FakeAri:
    """Records every ARI command the call layer sends; `channels` is what Asterisk says is alive."""

    def __init__(self, app: str = "callcenter"):
        self.app = app
        self.channels_alive: list[Channel] = []
        self.bridges_alive: list[dict] = []  # as GET /bridges answers: {"id": ..., "channels": [...]}
        self.live_recordings: set[str] = set()
        self.playbacks_alive: set[str] | None = None  # None: every playback is still playing
        self.channels_gone: set[str] = set()  # GET /channels/{id} answers 404 for these, else the channel
        self.asterisk_started = "2026-01-01T00:00:00.000+0000"
        self.calls: list[tuple[str, tuple, dict]] = []
        self.connected = asyncio.Event()
        self.connections = 0

    def sent(self, name: str) -> list[tuple]:
        """The positional arguments of every `name` command, in order."""
        return [args for method, args, _ in self.calls if method == name]

    def _note(self, name: str, *args, **kwargs) -> None:
        self.calls.append((name, args, kwargs))

    async def channels(self) -> list[Channel]:
        self._note("channels")
        return list(self.channels_alive)

    async def channel(self, channel_id: str) -> Channel:
        self._note("channel", channel_id)
        if channel_id in self.channels_gone:
            raise AriNotFound(404, "GET", f"/channels/{channel_id}", "Channel not found")
        return Channel.from_json(channel_json(channel_id))

    async def bridges(self) -> list[dict]:
        self._note("bridges")
        return list(self.bridges_alive)

    async def asterisk_info(self) -> dict:
        self._note("asterisk_info")
        return {"status": {"startup_time": self.asterisk_started}}

    async def live_recording(self, name: str) -> dict:
        self._note("live_recording", name)
        if name not in self.live_recordings:
            raise AriNotFound(404, "GET", f"/recordings/live/{name}", "Recording not found")
        return {"name": name, "state": "recording"}

    async def playback(self, playback_id: str) -> dict:
        self._note("playback", playback_id)
        if self.playbacks_alive is not None and playback_id not in self.playbacks_alive:
            raise AriNotFound(404, "GET", f"/playbacks/{playback_id}", "Playback not found")
        return {"id": playback_id, "state": "playing"}

    async def stored_recording_file(self, name: str) -> bytes:
        self._note("stored_recording_file", name)
        raise AriNotFound(404, "GET", f"/recordings/stored/{name}/file", "Recording not found")

    async def answer(self, channel_id: str) -> None:
        self._note("answer", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._note("hangup", channel_id)

    async def play(self, channel_id: str, media: list[str], *, lang: str | None = None,
                   playback_id: str | None = None) -> str:
        self._note("play", channel_id, tuple(media), lang=lang, playback_id=playback_id)
        playback_id = playback_id or uuid.uuid4().hex
        if channel_id in self.channels_gone:  # as Asterisk answers a play to a channel that hung up
            raise AriNotFound(404, "POST", f"/channels/{channel_id}/play/{playback_id}", "Channel not found")
        return playback_id

    async def stop_playback(self, playback_id: str) -> None:
        self._note("stop_playback", playback_id)

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        self._note("start_moh", channel_id, moh_class)

    async def stop_moh(self, channel_id: str) -> None:
        self._note("stop_moh", channel_id)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        self._note("set_variable", channel_id, name, value)

    async def originate(self, endpoint: str, **kwargs) -> Channel:
        self._note("originate", endpoint, **kwargs)
        return Channel.from_json(channel_json(kwargs.get("channel_id") or uuid.uuid4().hex))

    async def create_bridge(self, bridge_id: str | None = None, kind: str = "mixing") -> str:
        bridge_id = bridge_id or uuid.uuid4().hex
        self._note("create_bridge", bridge_id)
        return bridge_id

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        self._note("add_to_bridge", bridge_id, tuple(channel_ids))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self._note("destroy_bridge", bridge_id)

    async def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        self._note("remove_from_bridge", bridge_id, tuple(channel_ids))

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        self._note("mute", channel_id, direction)

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        self._note("unmute", channel_id, direction)

    async def ring(self, channel_id: str) -> None:
        self._note("ring", channel_id)

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> dict:
        self._note("record_bridge", bridge_id, name)
        return {"name": name}

    async def stop_recording(self, name: str) -> None:
        self._note("stop_recording", name)

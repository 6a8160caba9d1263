"""The only module that speaks ARI: REST calls and the event websocket, on aiohttp.

The websocket is opened with `subscribeAll=false` and an event filter, so Asterisk sends only the events the
call logic handles. When the connection drops, `run()` reconnects with exponential backoff and calls
`on_connected` again: the call layer uses it to reconcile the channels still in our Stasis app, because
Asterisk does not replay events that were missed.

An https:// url makes the websocket wss://; the certificate is checked against the system's CAs or the
`ca_file` given (a hospital's own CA), never skipped: a certificate that does not check out is an
AriCertificateError saying so, not a generic connection failure.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .events import Event, parse_event
from .models import Channel

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None]]
ConnectedHandler = Callable[[], Awaitable[None]]

# What the call logic handles; everything else is filtered out at the source. Each event costs Asterisk its
# JSON and the controller its parsing and routing, so a type no handler reads does not belong here (left out:
# ChannelStateChange, PlaybackStarted, ChannelEnteredBridge, ChannelLeftBridge, BridgeDestroyed,
# RecordingStarted: about a third of a hotline call's events).
EVENT_TYPES = (
    "StasisStart", "StasisEnd", "ChannelDestroyed", "ChannelHangupRequest", "ChannelDtmfReceived",
    "PlaybackFinished", "RecordingFinished", "RecordingFailed", "ApplicationReplaced", "Dial",
)


class AriError(Exception):
    def __init__(self, status: int, method: str, path: str, message: str):
        super().__init__(f"ARI {method} {path}: {status} {message}")
        self.status, self.method, self.path = status, method, path


class AriNotFound(AriError):
    def about_channel(self, channel_id: str) -> bool:
        """Was it that channel that was not found (it hung up), rather than a playback, bridge or file?"""
        return self.path.split("?")[0].split("/")[:3] == ["", "channels", channel_id]


class AriUnavailable(Exception):
    """Asterisk cannot be reached at all (connection refused, timeout)."""


class AriCertificateError(AriUnavailable):
    """Asterisk's TLS certificate does not check out (unknown CA, wrong host name, expired)."""


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def tls_context(url: str, ca_file: str | None) -> ssl.SSLContext | None:
    """The verifying TLS context for an https:// url (the system's CAs, or only those in `ca_file`); None for
    plain http. There is deliberately no way to turn verification off."""
    if urlsplit(url).scheme != "https":
        if ca_file:
            raise ValueError("a CA file checks an https:// ARI url; this one is plain http")
        return None
    return ssl.create_default_context(cafile=ca_file or None)


class AriClient:
    def __init__(self, url: str, username: str, password: str, app: str, *,
                 reconnect_max_delay: float = 10.0, event_types: Iterable[str] = EVENT_TYPES,
                 ca_file: str | None = None):
        self._base = url.rstrip("/") + "/ari"
        self._tls = tls_context(url, ca_file)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = {"Authorization": "Basic " + token}
        self.app = app
        self._reconnect_max_delay = reconnect_max_delay
        self._event_types = tuple(event_types)
        self._session: aiohttp.ClientSession | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        # Counters for /metrics and the benchmark (round trips and events per call).
        self.requests = 0
        self.events = 0

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10, sock_connect=3)
        host = urlsplit(self._base).hostname or ""
        if self._tls is None and host not in LOOPBACK:
            log.warning("ARI over plain http to %s: the ARI password and recordings cross the network "
                        "unencrypted; use an https:// [ari] url", host)
        connector = aiohttp.TCPConnector(ssl=self._tls) if self._tls is not None else None
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=timeout, connector=connector)

    async def close(self) -> None:
        if self._session:
            await self._session.close()
            self._session = None

    # -- REST ------------------------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      body: dict | None = None) -> Any:
        assert self._session is not None, "AriClient.start() was not called"
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        self.requests += 1
        log.debug("ARI %s %s", method, path)  # the path has ids only; parameters may name a patient's number
        try:
            async with self._session.request(method, self._base + path, params=clean, json=body) as resp:
                return await _decode(resp, method, path)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise certificate_error(self._base, exc) from exc
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else "connection failed"
            raise AriUnavailable(f"{method} {self._base}{path}: {reason}") from exc

    async def asterisk_info(self) -> dict:
        return await self.request("GET", "/asterisk/info")

    async def set_event_filter(self) -> dict:
        body = {"allowed": [{"type": t} for t in self._event_types]}
        return await self.request("PUT", f"/applications/{self.app}/eventFilter", body=body)

    async def application(self) -> dict:
        return await self.request("GET", f"/applications/{self.app}")

    async def channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{channel_id}"))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/ring")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})

    async def set_language(self, channel_id: str, language: str) -> None:
        await self.set_variable(channel_id, "CHANNEL(language)", language)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable",
                           params={"variable": name, "value": value})

    async def play(self, channel_id: str, media: list[str], *, lang: str | None = None,
                   playback_id: str | None = None) -> str:
        playback_id = playback_id or uuid.uuid4().hex
        await self.request("POST", f"/channels/{channel_id}/play/{playback_id}",
                           params={"media": ",".join(media), "lang": lang})
        return playback_id

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", params={"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/moh")

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        """Mute what the channel sends (`in`), hears (`out`) or both."""
        await self.request("POST", f"/channels/{channel_id}/mute", params={"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("DELETE", f"/channels/{channel_id}/mute", params={"direction": direction})

    async def originate(self, endpoint: str, *, channel_id: str | None = None, app: str | None = None,
                        app_args: str | None = None, context: str | None = None,
                        extension: str | None = None, caller_id: str | None = None, timeout: int = 30,
                        formats: str | None = None, variables: dict[str, str] | None = None,
                        other_channel_id: str | None = None) -> Channel:
        """`other_channel_id`: the id of a Local channel's second half (;2), which runs the dialplan."""
        params = {
            "endpoint": endpoint, "channelId": channel_id, "otherChannelId": other_channel_id, "app": app,
            "appArgs": app_args, "context": context, "extension": extension,
            "priority": 1 if extension else None, "callerId": caller_id, "timeout": timeout,
            "formats": formats,
        }
        body = {"variables": variables} if variables else None
        return Channel.from_json(await self.request("POST", "/channels", params=params, body=body))

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str = "s",
                                   priority: int = 1) -> None:
        """The channel leaves the app and runs the dialplan from there (a StasisEnd follows)."""
        await self.request("POST", f"/channels/{channel_id}/continue",
                           params={"context": context, "extension": extension, "priority": priority})

    async def subscribe(self, event_source: str) -> None:
        """Keep receiving a resource's events (e.g. `channel:<id>`) while it is outside the app."""
        await self.request("POST", f"/applications/{self.app}/subscription",
                           params={"eventSource": event_source})

    async def set_global_variable(self, name: str, value: str) -> None:
        """An Asterisk GLOBAL variable (POST /asterisk/variable): the dialplan reads it as ${GLOBAL(name)}."""
        await self.request("POST", "/asterisk/variable", params={"variable": name, "value": value})

    async def snoop(self, channel_id: str, *, app: str, app_args: str, spy: str = "none",
                    whisper: str = "none", snoop_id: str | None = None) -> Channel:
        """A Snoop channel on `channel_id` that enters Stasis(app, app_args) on its own (wait for its
        StasisStart before bridging it). Directions are seen from the snooped channel: `in` is what it sends,
        `out` what it hears; spy hears, whisper speaks. Asterisk refuses spy=none with whisper=none. The snoop
        hangs up by itself when the snooped channel goes away."""
        params = {"spy": spy, "whisper": whisper, "app": app, "appArgs": app_args, "snoopId": snoop_id}
        return Channel.from_json(await self.request("POST", f"/channels/{channel_id}/snoop", params=params))

    async def create_bridge(self, bridge_id: str | None = None, kind: str = "mixing") -> str:
        bridge_id = bridge_id or uuid.uuid4().hex
        await self.request("POST", f"/bridges/{bridge_id}", params={"type": kind})
        return bridge_id

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel",
                           params={"channel": ",".join(channel_ids)})

    async def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/removeChannel",
                           params={"channel": ",".join(channel_ids)})

    async def bridge(self, bridge_id: str) -> dict:
        return await self.request("GET", f"/bridges/{bridge_id}")

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")

    async def bridges(self) -> list[dict]:
        return await self.request("GET", "/bridges")

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> dict:
        return await self.request("POST", f"/bridges/{bridge_id}/record", params={
            "name": name, "format": fmt, "ifExists": "fail", "beep": False, "terminateOn": "none",
        })

    async def record_channel(self, channel_id: str, name: str, fmt: str, max_seconds: int,
                             max_silence: int) -> dict:
        """What the channel says, after a beep, until '#', `max_silence` s of silence or `max_seconds`."""
        return await self.request("POST", f"/channels/{channel_id}/record", params={
            "name": name, "format": fmt, "ifExists": "fail", "beep": True, "terminateOn": "#",
            "maxDurationSeconds": max_seconds, "maxSilenceSeconds": max_silence,
        })

    async def live_recording(self, name: str) -> dict:
        return await self.request("GET", f"/recordings/live/{name}")

    async def playback(self, playback_id: str) -> dict:
        return await self.request("GET", f"/playbacks/{playback_id}")

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{name}/stop")

    async def stored_recording_file(self, name: str) -> bytes:
        return await self.request("GET", f"/recordings/stored/{name}/file")

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{name}")

    # -- events ----------------------------------------------------------------------------------------

    async def run(self, on_event: EventHandler, on_connected: ConnectedHandler) -> None:
        """Keep the event websocket open for ever; reconnect with capped exponential backoff."""
        delay = 0.2
        while True:
            try:
                await self._listen(on_event, on_connected)
                # Asterisk closed the socket (its write timeout with a slow reader, a module reload): the
                # events in between are lost to us, and reconciliation on reconnecting must catch up.
                log.warning("ARI event websocket closed by Asterisk; reconnecting")
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except aiohttp.ClientConnectorCertificateError as exc:  # retried: Asterisk may renew its cert
                log.error("%s; retrying in %.1fs", certificate_error(self._base, exc), delay)
            except Exception as exc:  # a dropped socket or refused connection must never end the loop
                log.warning("ARI connection lost: %r; reconnecting in %.1fs", exc, delay)
            self.connected.clear()
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self._reconnect_max_delay)

    async def drop_connection(self) -> None:
        """Close the event websocket as a network fault would: run() reconnects and reconciles (an operator's
        lever when events seem stuck, and how the tests cut the connection while Asterisk keeps the calls)."""
        if self._ws is not None:
            await self._ws.close()

    async def _listen(self, on_event: EventHandler, on_connected: ConnectedHandler) -> None:
        assert self._session is not None
        url = self._base.replace("http", "ws", 1) + "/events"
        params = {"app": self.app, "subscribeAll": "false"}
        async with self._session.ws_connect(url, params=params, heartbeat=5, timeout=aiohttp.ClientWSTimeout(
                ws_close=2)) as ws:
            await self.set_event_filter()
            self._ws = ws
            self.connections += 1
            log.info("ARI connected to %s as app %s (connection %d)", self._base, self.app, self.connections)
            await on_connected()
            self.connected.set()
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.events += 1
                    await _deliver(on_event, msg.data)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break


def certificate_error(base: str, exc: aiohttp.ClientConnectorCertificateError) -> AriCertificateError:
    return AriCertificateError(f"{base}: Asterisk's TLS certificate was not accepted "
                               f"({exc.certificate_error}); is [ari] ca_file the CA that signed it, and does "
                               "the certificate name the host of [ari] url?")


async def _deliver(on_event: EventHandler, text: str) -> None:
    """Parse one event and hand it on. Nothing a single event does may end the websocket, which carries the
    events of every call: a malformed event or a failing handler is logged and the next event follows. (The
    call router guards its handlers itself and puts the caller somewhere safe; this is the last line.)"""
    try:
        event = parse_event(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.error("ARI sent an event we cannot read; ignored (%d bytes)", len(text))
        return
    try:
        await on_event(event)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("handling ARI %s on channel %s failed", event.type, event.channel_id)


async def quietly(coro: Awaitable[Any]) -> None:
    """Tear-down steps (hang up, destroy, stop): the channel or bridge may already be gone, which is what we
    wanted; Asterisk unreachable is logged, as the reconnect's reconciliation will catch up."""
    try:
        await coro
    except AriNotFound:
        pass
    except (AriError, AriUnavailable) as exc:
        log.info("tear-down step failed: %s", exc)


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _decode(resp: aiohttp.ClientResponse, method: str, path: str) -> Any:
    if resp.status == 204:
        return None
    if resp.status >= 400:
        text = await resp.text()
        try:
            message = json.loads(text).get("message", text)
        except (ValueError, AttributeError):
            message = text
        cls = AriNotFound if resp.status == 404 else AriError
        raise cls(resp.status, method, path, message)
    if resp.content_type == "application/json":
        return await resp.json()
    return await resp.read()

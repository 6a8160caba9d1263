"""AriClient against a fake ARI server over real HTTP and websockets."""
from __future__ import annotations

import asyncio
import base64
import socket
import time

import pytest

from callcenter.ari.client import EVENT_TYPES, AriClient, AriError, AriNotFound, AriUnavailable
from callcenter.ari.events import Event

from .fake_ari import FakeAriServer, channel_json

APP = "callcenter-unit"


class Recorder:
    """on_event / on_connected handlers that note what happened, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = asyncio.Event()

    async def on_event(self, event: Event) -> None:
        self.seen.append(event.type + ":" + event.channel_id)
        self.changed.set()

    async def on_connected(self) -> None:
        self.seen.append("connected")
        self.changed.set()

    async def until(self, predicate, timeout: float = 5) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
def fake() -> FakeAriServer:
    return FakeAriServer()


@pytest.fixture
async def client(fake, aiohttp_server):
    server = await aiohttp_server(fake.app())
    ari = AriClient(str(server.make_url("")), "callcenter", "s3cret", APP, reconnect_max_delay=0.5)
    await ari.start()
    yield ari
    await ari.close()


@pytest.fixture
async def running(client):
    """Start client.run() with a Recorder; cancel it at the end."""
    tasks = []

    def start() -> Recorder:
        recorder = Recorder()
        tasks.append(asyncio.create_task(client.run(recorder.on_event, recorder.on_connected)))
        return recorder
    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(kind: str, n: str) -> dict:
    """An ARI event on channel `n` (the recorder notes type:channel)."""
    return {"type": kind, "application": APP, "channel": channel_json(n), "digit": "1"}


async def test_given_server_when_client_connects_then_websocket_asks_only_for_its_app_with_credentials(
        fake, client, running):
    recorder = running()

    await asyncio.wait_for(client.connected.wait(), 5)

    assert len(fake.connections) == 1
    connection = fake.connections[0]
    assert connection.query == {"app": APP, "subscribeAll": "false"}
    assert connection.authorization == "Basic " + base64.b64encode(b"callcenter:s3cret").decode()
    assert recorder.seen == ["connected"]
    assert client.connections == 1


async def test_given_server_when_client_connects_then_event_filter_allows_the_handled_events(
        fake, client, running):
    running()

    await asyncio.wait_for(client.connected.wait(), 5)

    assert len(fake.event_filters) == 1
    sent = fake.event_filters[0]
    assert sent["app"] == APP
    allowed = [entry["type"] for entry in sent["body"]["allowed"]]
    assert allowed == list(EVENT_TYPES)
    assert {"StasisStart", "StasisEnd", "ChannelDtmfReceived", "PlaybackFinished", "Dial"} <= set(allowed)
    assert set(sent["body"]) == {"allowed"}


async def test_given_events_waiting_on_connect_when_run_then_on_connected_first_and_events_in_order(
        fake, client, running):
    fake.events_per_connection = [[event("StasisStart", str(i)) if i % 2 == 0 else
                                   event("ChannelDtmfReceived", str(i)) for i in range(20)]]
    recorder = running()

    await recorder.until(lambda: len(recorder.seen) == 21)

    assert recorder.seen[0] == "connected"
    assert [item.split(":")[1] for item in recorder.seen[1:]] == [str(i) for i in range(20)]
    assert recorder.seen[1] == "StasisStart:0" and recorder.seen[2] == "ChannelDtmfReceived:1"


async def test_given_server_drops_socket_when_running_then_reconnects_with_backoff_and_reconciles_again(
        fake, client, running):
    fake.events_per_connection = [[event("StasisStart", "a")], [event("StasisStart", "b")]]
    fake.drop = [True, False]
    recorder = running()
    started = time.monotonic()

    await recorder.until(lambda: recorder.seen.count("connected") == 2)
    elapsed = time.monotonic() - started
    await recorder.until(lambda: "StasisStart:b" in recorder.seen)

    assert recorder.seen == ["connected", "StasisStart:a", "connected", "StasisStart:b"]
    assert client.connections == 2
    assert len(fake.connections) == 2
    assert len(fake.event_filters) == 2  # the filter is sent again on the new connection
    assert elapsed >= 0.15  # backoff: first delay is 0.2 s +-20 %, not an immediate retry loop
    await asyncio.wait_for(client.connected.wait(), 5)


async def test_given_on_connected_fails_when_running_then_client_retries_and_keeps_running(
        fake, client):
    attempts = []

    async def flaky_connected() -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RuntimeError("reconciliation failed")

    async def ignore(event: Event) -> None:
        pass

    task = asyncio.create_task(client.run(ignore, flaky_connected))
    try:
        await asyncio.wait_for(client.connected.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert len(attempts) == 2
    assert len(fake.connections) == 2


async def test_given_nothing_listens_when_run_then_loop_keeps_retrying_without_raising():
    ari = AriClient(f"http://127.0.0.1:{free_port()}", "u", "p", APP, reconnect_max_delay=0.2)
    await ari.start()
    recorder = Recorder()
    task = asyncio.create_task(ari.run(recorder.on_event, recorder.on_connected))
    try:
        await asyncio.sleep(0.6)
        assert not task.done()
        assert recorder.seen == [] and ari.connections == 0 and not ari.connected.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ari.close()


async def test_given_channels_when_listed_then_channel_objects_answer_domain_questions(fake, client):
    fake.channels = [channel_json("c1", number="+14155550101"),
                     channel_json("c2", app="Dial", app_data="PJSIP/1001", state="Ring")]

    channels = await client.channels()

    assert [c.id for c in channels] == ["c1", "c2"]
    assert channels[0].caller_number == "+14155550101" and channels[0].is_up
    assert channels[0].in_stasis_app("callcenter") and not channels[1].in_stasis_app("callcenter")
    assert not channels[1].is_up


async def test_given_unknown_channel_when_fetched_then_ari_not_found_with_status_and_message(client):
    with pytest.raises(AriNotFound) as caught:
        await client.channel("nope")

    assert caught.value.status == 404
    assert "Channel not found" in str(caught.value) and "/channels/nope" in str(caught.value)


async def test_given_channel_not_in_stasis_when_answered_then_ari_error_not_not_found(client):
    with pytest.raises(AriError) as caught:
        await client.answer("c1")

    assert caught.value.status == 409
    assert not isinstance(caught.value, AriNotFound)
    assert "Channel not in Stasis application" in str(caught.value)


async def test_given_server_error_with_plain_text_when_requested_then_ari_error_with_the_text(client):
    with pytest.raises(AriError) as caught:
        await client.asterisk_info()

    assert caught.value.status == 500
    assert "Internal Server Error" in str(caught.value)


async def test_given_no_content_when_hanging_up_then_none_and_reason_sent(fake, client):
    assert await client.hangup("c1", reason="busy") is None

    assert fake.requests == [("DELETE", "/ari/channels/c1", {"reason": "busy"}, None)]


async def test_given_prompts_when_playing_then_media_joined_and_language_sent(fake, client):
    playback_id = await client.play("c1", ["sound:a", "number:3"], lang="es", playback_id="pb1")

    assert playback_id == "pb1"
    assert fake.requests == [
        ("POST", "/ari/channels/c1/play/pb1", {"media": "sound:a,number:3", "lang": "es"}, None)]


async def test_given_originate_when_sent_then_unset_params_omitted_and_variables_in_body(fake, client):
    channel = await client.originate("Local/s@sim/n", channel_id="leg-1", app=APP, app_args="agent,c1",
                                     timeout=15, variables={"SIM_DIGITS": "2,1"})

    assert channel.id == "leg-1"
    method, path, query, body = fake.requests[0]
    assert (method, path) == ("POST", "/ari/channels")
    assert query == {"endpoint": "Local/s@sim/n", "channelId": "leg-1", "app": APP, "appArgs": "agent,c1",
                     "timeout": "15"}
    assert body == {"variables": {"SIM_DIGITS": "2,1"}}


async def test_given_nothing_listens_when_requesting_then_ari_unavailable():
    ari = AriClient(f"http://127.0.0.1:{free_port()}", "u", "p", APP)
    await ari.start()
    try:
        with pytest.raises(AriUnavailable) as caught:
            await ari.channels()
    finally:
        await ari.close()

    assert "connection failed" in str(caught.value)


async def test_given_a_handler_that_raises_and_a_malformed_event_when_running_then_the_websocket_stays_up(
        fake, client):
    malformed = {"type": "StasisEnd"}  # no channel
    fake.events_per_connection = [[event("StasisStart", "a"), malformed, event("StasisStart", "b")]]
    seen: list[str] = []

    async def fails_on_a(ev: Event) -> None:
        seen.append(ev.channel_id)
        if ev.channel_id == "a":
            raise RuntimeError("handler bug")

    async def connected() -> None:
        pass

    task = asyncio.create_task(client.run(fails_on_a, connected))
    try:
        deadline = time.monotonic() + 5
        while "b" not in seen and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert seen == ["a", "b"]  # the malformed event was dropped, the failing handler did not end the loop
    assert client.connections == 1 and len(fake.connections) == 1

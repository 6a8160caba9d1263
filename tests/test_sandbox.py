"""The Asterisk sandbox (scripts/asterisk-sandbox) and the test dialplan of asterisk_conf/ on a real Asterisk.

One instance, `sbtest` on port 8095, runs for this module. Each test listens to the ARI events of its own
websocket (apps `sbtest` and `callcenter`) and originates Local channels into the dialplan.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

pytestmark = pytest.mark.asterisk

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = PROJECT_ROOT / "scripts" / "asterisk-sandbox"
INSTANCE = "sbtest"
PORT = 8095
BASE_URL = f"http://127.0.0.1:{PORT}/ari"
APP = "sbtest"
HOTLINE_APP = "callcenter"


def sandbox(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(SCRIPT), *args], check=False, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"asterisk-sandbox {' '.join(args)} failed ({result.returncode}):\n{result.stdout}"
                    f"{result.stderr}", pytrace=False)
    return result


@pytest.fixture(scope="module")
def ari_password() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("the Asterisk sandbox runs Asterisk in a chroot: run the tests as root (scripts/test)",
                    pytrace=False)
    password = secrets.token_urlsafe(16)
    sandbox("provision", timeout=900)
    sandbox("stop", "--instance", INSTANCE)  # a leftover from an interrupted run has another password
    sandbox("install", "--instance", INSTANCE, "--http-port", str(PORT), "--ari-password", password)
    sandbox("start", "--instance", INSTANCE)
    yield password
    sandbox("stop", "--instance", INSTANCE, check=False)


class Ari:
    """REST calls and the event stream of one ARI websocket; hangs up what it originated when closed."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.originated: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.events.put_nowait(json.loads(message.data))

    async def request(self, method: str, path: str, **params: str) -> tuple[int, object]:
        async with self.session.request(method, BASE_URL + path, params=params) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body

    async def originate(self, endpoint: str, variables: dict[str, str] | None = None, **params: str) -> str:
        channel_id = f"sbtest-{uuid.uuid4().hex[:12]}"
        params = {"endpoint": endpoint, "channelId": channel_id, "formats": "ulaw", **params}
        if "context" not in params:
            params["app"] = APP
        async with self.session.post(BASE_URL + "/channels", params=params,
                                     json={"variables": variables or {}}) as response:
            assert response.status == 200, await response.text()
        self.originated.append(channel_id)
        return channel_id

    async def next_event(self, matches: Callable[[dict], bool], timeout: float = 5) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if matches(event):
                    return event

    async def no_event(self, matches: Callable[[dict], bool], within: float) -> None:
        with pytest.raises(TimeoutError):
            event = await self.next_event(matches, timeout=within)
            pytest.fail(f"unexpected event {event['type']}")

    async def close(self) -> None:
        for channel_id in self.originated:
            await self.request("DELETE", f"/channels/{channel_id}")
        await self.ws.close()
        self._reader.cancel()


def on_channel(event_type: str, channel_id: str, **fields: object) -> Callable[[dict], bool]:
    def matches(event: dict) -> bool:
        return (event["type"] == event_type and event.get("channel", {}).get("id") == channel_id
                and all(event.get(k) == v or event.get("channel", {}).get(k) == v for k, v in fields.items()))
    return matches


def of_type(event_type: str, app: str) -> Callable[[dict], bool]:
    return lambda event: event["type"] == event_type and event.get("application") == app


@pytest.fixture
async def ari(ari_password: str) -> AsyncIterator[Ari]:
    token = base64.b64encode(f"callcenter:{ari_password}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        ws = await session.ws_connect(f"ws://127.0.0.1:{PORT}/ari/events?app={APP},{HOTLINE_APP}")
        client = Ari(session, ws)
        await wait_until_registered(client, APP, HOTLINE_APP)
        yield client
        await client.close()


async def wait_until_registered(ari: Ari, *apps: str) -> None:
    """The websocket handshake returns before Asterisk has registered the applications."""
    async with asyncio.timeout(5):
        for app in apps:
            while (await ari.request("GET", f"/applications/{app}"))[0] != 200:
                await asyncio.sleep(0.05)


async def test_given_sandbox_instance_when_asking_ari_for_info_then_asterisk_22_answers(ari: Ari) -> None:
    status, info = await ari.request("GET", "/asterisk/info")

    assert status == 200
    assert info["system"]["version"].startswith("22.")


async def test_given_auto_agent_phone_when_dialed_then_it_rings_and_answers_in_ulaw(ari: Ari) -> None:
    started = time.monotonic()
    channel_id = await ari.originate("Local/auto-1001@agent-phones/n")

    await ari.next_event(on_channel("ChannelStateChange", channel_id, state="Ringing"))
    await ari.next_event(on_channel("StasisStart", channel_id), timeout=5)

    assert 0.8 <= time.monotonic() - started < 3
    status, variable = await ari.request("GET", f"/channels/{channel_id}/variable",
                                         variable="CHANNEL(audionativeformat)")
    assert (status, variable["value"]) == (200, "(ulaw)")


async def test_given_noanswer_agent_phone_when_dialed_then_it_keeps_ringing(ari: Ari) -> None:
    channel_id = await ari.originate("Local/noanswer-1002@agent-phones/n")

    await ari.next_event(on_channel("ChannelStateChange", channel_id, state="Ringing"))
    await ari.no_event(on_channel("StasisStart", channel_id), within=2.5)

    status, channel = await ari.request("GET", f"/channels/{channel_id}")
    assert (status, channel["state"]) == (200, "Ringing")


async def test_given_busy_agent_phone_when_dialed_then_the_dial_ends_busy(ari: Ari) -> None:
    channel_id = await ari.originate("Local/busy-1003@agent-phones/n")

    # The Local ;1 channel itself is destroyed with cause 0: the busy shows in the Dial event.
    dial = await ari.next_event(lambda e: e["type"] == "Dial" and e.get("dialstatus")
                                and e["peer"]["id"] == channel_id)
    await ari.next_event(on_channel("ChannelDestroyed", channel_id))

    assert dial["dialstatus"] == "BUSY"


async def test_given_sim_patient_with_digits_when_it_answers_then_it_presses_them_and_hangs_up_on_time(
        ari: Ari) -> None:
    channel_id = await ari.originate("Local/s@sim-patient/n", variables={
        "SIM_DIGITS": "4,#", "SIM_FIRST_DELAY": "0.3", "SIM_DIGIT_GAP": "0.3", "SIM_HANGUP_AFTER": "3"})

    await ari.next_event(on_channel("StasisStart", channel_id))
    answered = time.monotonic()
    digits = []
    while (event := await ari.next_event(lambda e: e.get("channel", {}).get("id") == channel_id))["type"] \
            != "StasisEnd":
        if event["type"] == "ChannelDtmfReceived":
            digits.append(event["digit"])

    assert digits == ["4", "#"]
    assert 2.5 <= time.monotonic() - answered < 4.5


async def test_given_hotline_call_when_the_app_answers_then_it_is_in_stasis_and_gets_the_patient_keys(
        ari: Ari) -> None:
    await ari.originate("Local/hotline@callcenter-hotline/n", context="sim-patient", extension="s",
                        variables={"SIM_DIGITS": "2", "SIM_FIRST_DELAY": "0.3", "SIM_HANGUP_AFTER": "5"})

    start = await ari.next_event(of_type("StasisStart", HOTLINE_APP))
    hotline_id = start["channel"]["id"]
    assert start["args"] == ["inbound", "hotline"]
    assert (await ari.request("POST", f"/channels/{hotline_id}/answer"))[0] == 204
    dtmf = await ari.next_event(on_channel("ChannelDtmfReceived", hotline_id), timeout=3)

    assert dtmf["digit"] == "2"


async def test_given_answered_channel_when_recorded_then_the_recording_is_fetched_over_ari(ari: Ari) -> None:
    channel_id = await ari.originate("Local/auto-1004@agent-phones/n")
    await ari.next_event(on_channel("StasisStart", channel_id))
    name = f"sbtest-{uuid.uuid4().hex[:12]}"

    status, _ = await ari.request("POST", f"/channels/{channel_id}/record", name=name, format="wav",
                                  maxDurationSeconds="1")
    finished = await ari.next_event(lambda e: e["type"] in ("RecordingFinished", "RecordingFailed")
                                    and e["recording"]["name"] == name)
    async with ari.session.get(f"{BASE_URL}/recordings/stored/{name}/file") as response:
        audio = await response.read()
    await ari.request("DELETE", f"/recordings/stored/{name}")

    assert status == 201
    assert finished["type"] == "RecordingFinished"
    assert audio[:4] == b"RIFF" and len(audio) > 8000


def test_given_sandbox_instance_when_listing_moh_then_the_default_class_has_the_chroot_files(
        ari_password: str) -> None:
    files = sandbox("cli", "--instance", INSTANCE, "moh", "show", "files").stdout

    assert "Class: default" in files
    assert "File: /usr/share/asterisk/moh/" in files


def test_given_running_instance_when_started_again_then_it_says_so_and_succeeds(ari_password: str) -> None:
    again = sandbox("start", "--instance", INSTANCE)

    assert "already running" in again.stdout
    assert sandbox("status", "--instance", INSTANCE).returncode == 0


def test_given_installed_instance_not_started_when_asking_status_then_exit_code_is_3(
        ari_password: str) -> None:
    idle = "sbtest-idle"
    sandbox("install", "--instance", idle, "--http-port", str(PORT + 1), "--ari-password", "idle-password")
    try:
        status = sandbox("status", "--instance", idle, check=False)
        stop = sandbox("stop", "--instance", idle, check=False)
    finally:
        sandbox("uninstall", "--instance", idle, check=False)

    assert status.returncode == 3
    assert (stop.returncode, "not running" in stop.stdout) == (0, True)

"""What a `say` node plays (callcenter/ivr/say.py) exists in the sandbox Asterisk for every language the flows
speak, and plays on a real channel: a missing sound is silence in the middle of a patient's reminder."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from callcenter.ari.client import AriClient
from callcenter.ari.events import Event
from callcenter.ivr.say import say_media

from . import harness

pytestmark = pytest.mark.asterisk

LANGUAGES = ("en", "es")


def sounds_said(language: str) -> set[str]:
    """Every sound file (not number: media) say.py names for a date, a time or both, over a whole year."""
    first = datetime(2027, 1, 1)
    moments = [first + timedelta(days=d, hours=d % 24, minutes=d % 60) for d in range(366)]
    media = {m for moment in moments for say_as in ("date", "time", "datetime")
             for m in say_media(moment, say_as, language)}
    return {m.removeprefix("sound:") for m in media if not m.startswith("number:")}


@pytest.fixture
async def ari(asterisk, tmp_path):
    cfg = harness.test_config(tmp_path, "sqlite://", asterisk)
    client = AriClient(cfg.ari.url, cfg.ari.username, cfg.ari.password, "callcenter-say-test")
    await client.start()
    yield client
    await client.close()


@pytest.mark.parametrize("language", LANGUAGES)
async def test_given_flow_language_when_say_sounds_looked_up_then_asterisk_has_each_in_that_language(
        ari, language):
    wanted = sounds_said(language)
    have = {s["id"] for s in await ari.request("GET", "/sounds", params={"lang": language})}

    assert "digits/mon-11" in wanted and (language != "es" or "digits/es-de" in wanted)
    assert sorted(wanted - have) == [], f"sounds missing for {language} on port {harness.TEST_PORT}"


async def test_given_spanish_channel_when_reminder_date_and_time_played_then_no_sound_fails(ari):
    events: asyncio.Queue[Event] = asyncio.Queue()

    async def on_event(event: Event) -> None:
        await events.put(event)

    async def on_connected() -> None:
        return None

    listener = asyncio.create_task(ari.run(on_event, on_connected))
    try:
        await asyncio.wait_for(ari.connected.wait(), 20)
        channel = await ari.originate("Local/15555550100@sim-callee/n", app=ari.app, timeout=20)
        await _next(events, "StasisStart")
        # "martes 5 de marzo a las 14 30": weekday, day, "de", month, "a las", hour, minute
        media = say_media(datetime(2027, 3, 9, 14, 30), "datetime", "es")
        outcomes = []
        for item in media:
            playback_id = await ari.play(channel.id, [item if ":" in item else "sound:" + item], lang="es")
            finished = await _next(events, "PlaybackFinished", playback_id)
            outcomes.append((item, finished.state))
        await ari.hangup(channel.id)
    finally:
        listener.cancel()

    assert "digits/es-de" in media
    assert [state for _, state in outcomes] == ["done"] * len(media), outcomes


async def _next(events: asyncio.Queue, kind: str, playback_id: str | None = None,
                timeout: float = 20) -> Event:
    async def find() -> Event:
        while True:
            event = await events.get()
            if event.type == kind and (playback_id is None or event.playback_id == playback_id):
                return event
    return await asyncio.wait_for(find(), timeout)

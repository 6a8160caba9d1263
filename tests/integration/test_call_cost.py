"""What one hotline call costs in ARI REST round trips, on a real call through the sandbox Asterisk, and the
recording that must stay complete when round trips are cut (docs/benchmarks.md)."""
from __future__ import annotations

import array
import hashlib
import math
import re
import wave
from pathlib import Path

import pytest

from .harness import asterisk_recordings_dir, seeded_center
from .test_hotline import ENGLISH, RESULTS, add_patient, receive

pytestmark = pytest.mark.asterisk

# answer; play and stop the language menu; play and stop the main menu; start the music; originate the agent's
# leg; stop the music; create the bridge; add both channels; record; hang up the agent's leg; destroy the
# bridge. Not: stopping the recording (destroying the bridge ends it) nor fetching and deleting the stored
# file (read from Asterisk's directory when we share its disk).
ROUND_TRIPS_PER_CALL = 13


def _on_asterisks_disk(cfg) -> None:
    cfg.recordings.asterisk_dir = str(asterisk_recordings_dir())


@pytest.fixture
async def shared_disk_center(asterisk, database_url, tmp_path):
    """The product on the same disk as its Asterisk: finished recordings are taken from Asterisk's own
    directory (recordings.asterisk_dir) instead of through ARI."""
    async with seeded_center(asterisk, database_url, tmp_path, _on_asterisks_disk) as center:
        yield center


async def test_given_asterisk_on_the_same_disk_when_a_call_is_recorded_then_13_round_trips_and_full_recording(
        shared_disk_center):
    center = shared_disk_center
    await add_patient(center, "MRN-C1", "+14155550177")
    ws = await center.agent_socket("1005")
    await center.set_agent("1005", "available")
    before = center.s.ari.requests

    await center.call("4155550177", f"{ENGLISH},{RESULTS}", hangup_after=40)
    await receive(ws, "screen_pop")
    row = await center.call_row("ended", timeout=90)
    recordings = await center.recordings()

    assert center.s.ari.requests - before <= ROUND_TRIPS_PER_CALL
    assert row.outcome == "completed" and len(recordings) == 1
    rec = recordings[0]
    path = Path(center.s.recordings.directory) / rec.path
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/" + rec.name + r"\.wav", rec.path), rec.path
    talk = (row.ended_at - row.answered_at).total_seconds()
    assert abs(rec.duration_seconds - talk) < 1.5, (rec.duration_seconds, talk)
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.size_bytes == path.stat().st_size
    with wave.open(str(path)) as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    assert math.sqrt(sum(x * x for x in samples) / max(1, len(samples))) > 50, "speech, not silence"
    assert not (asterisk_recordings_dir() / path.name).exists(), "Asterisk's copy goes once ours is safe"

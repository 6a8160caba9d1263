"""RecordingService taking a finished recording from Asterisk's own directory (recordings.asterisk_dir), with
a fake ARI: the same file, metadata and row as through ARI, and no REST round trip for it."""
from __future__ import annotations

import asyncio
import hashlib
import wave
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select

from callcenter.ari.events import parse_event
from callcenter.db.models import Recording
from callcenter.recording.services import RecordingService

from .fake_ari import FakeAri
from .test_call_router import call_row


def asterisk_wav(directory: Path, name: str, seconds: float) -> bytes:
    """What Asterisk leaves in its directory: 8 kHz mono 16-bit."""
    directory.mkdir(parents=True, exist_ok=True)
    with wave.open(str(directory / f"{name}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))
    return (directory / f"{name}.wav").read_bytes()


async def test_given_asterisk_on_the_same_disk_when_a_recording_finishes_then_moved_home_without_round_trips(
        seeded_db, events, tmp_path):
    ari, spool = FakeAri(), tmp_path / "asterisk-recording"
    service = RecordingService(ari, events, tmp_path / "recordings", asterisk_dir=spool)
    with seeded_db.session() as session:
        session.add(call_row("c" * 32, "caller-1", "connected", "general"))
    call = SimpleNamespace(id="c" * 32, agent=SimpleNamespace(id=1), legs=SimpleNamespace(bridge_id="call-x"),
                           media=SimpleNamespace(recording_name=None), log=lambda *a, **k: None)
    await service.start(call)
    data = asterisk_wav(spool, call.media.recording_name, 2.0)

    finished = {"type": "RecordingFinished", "recording": {"name": call.media.recording_name}}
    service.on_event(call, parse_event(finished))
    service.collect(call)
    await service.wait_idle()
    await events.flush()

    row = await seeded_db.run(lambda s: s.scalars(select(Recording)).one())
    home = tmp_path / "recordings" / row.path
    assert home.read_bytes() == data and row.sha256 == hashlib.sha256(data).hexdigest()
    assert (row.size_bytes, row.duration_seconds, row.call_id) == (len(data), 2.0, call.id)
    copy = spool / f"{call.media.recording_name}.wav"
    assert not copy.exists(), "Asterisk's copy is deleted once ours is safe"
    assert [method for method, _, _ in ari.calls] == ["record_bridge"]


async def test_given_asterisk_on_the_same_disk_when_a_lost_calls_recording_is_recovered_then_its_length_read(
        seeded_db, events, tmp_path):
    ari, spool = FakeAri(), tmp_path / "asterisk-recording"
    service = RecordingService(ari, events, tmp_path / "recordings", asterisk_dir=spool)
    asterisk_wav(spool, "call-lost-1", 3.0)
    with seeded_db.session() as session:
        session.add(call_row("l" * 32, "caller-1", "connected", "general"))

    assert await service.recover("l" * 32, 1, "call-lost-1", None) == 3.0
    assert await service.recover("m" * 32, 1, "call-never-recorded", None) is None
    assert ari.calls == [] and not (spool / "call-lost-1.wav").exists()
    await events.flush()
    rows = await seeded_db.run(lambda s: s.scalars(select(Recording)).all())
    assert [(r.call_id, r.duration_seconds) for r in rows] == [("l" * 32, 3.0)]


async def test_given_a_lost_calls_file_still_being_closed_when_recovered_then_read_once_it_is_there(
        seeded_db, events, tmp_path):
    # Reconciliation takes the bridge down just before: Asterisk writes the file's end a moment later.
    ari, spool = FakeAri(), tmp_path / "asterisk-recording"
    service = RecordingService(ari, events, tmp_path / "recordings", asterisk_dir=spool)
    with seeded_db.session() as session:
        session.add(call_row("l" * 32, "caller-1", "connected", "general"))

    async def closed_later():
        await asyncio.sleep(0.5)
        asterisk_wav(spool, "call-lost-2", 2.0)
    writer = asyncio.create_task(closed_later())

    assert await service.recover("l" * 32, 1, "call-lost-2", None) == 2.0
    await writer

"""Call recording: record each bridged conversation, then bring the file home with its metadata.

Asterisk writes the file into its own spool; we fetch it through ARI (so a remote Asterisk works the same),
or read it from Asterisk's directory when this process shares its disk (`asterisk_dir`: two round trips less
per call), store it under the recordings directory by date, and delete Asterisk's copy once ours is safe on
disk.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import wave
from datetime import timedelta
from pathlib import Path

from ..ari.client import AriClient, AriError, AriNotFound, AriUnavailable
from ..ari.events import RecordingFailed, RecordingFinished, RecordingStarted
from ..db.models import Recording
from ..eventlog import EventLog, utcnow
from ..private_files import write_private

log = logging.getLogger(__name__)

# How often a lost call's recording is looked for (about 3 s in all) before it counts as gone.
RECOVER_TRIES = 5
# How long tear-down waits for Asterisk's RecordingFinished before fetching the file regardless.
FINISH_WAIT = 5.0
# A spoken answer ends after this much silence (or '#', or the question's max_seconds).
SPOKEN_SILENCE = 4


def recording_name(call_id: str, agent_id: int) -> str:
    """The one name a call's recording with an agent gets in Asterisk: a restarted controller finds a
    recording by it, even one whose start it never logged."""
    return f"call-{call_id}-{agent_id}"


class RecordingService:
    def __init__(self, ari: AriClient, events: EventLog, directory: Path, fmt: str = "wav",
                 enabled: bool = True, asterisk_dir: Path | None = None):
        self._ari = ari
        self._asterisk_dir = asterisk_dir
        self._events = events
        self.directory = directory
        self._fmt = fmt
        self.enabled = enabled
        self._started: dict[str, object] = {}
        # Set when Asterisk reports the file complete (RecordingFinished/Failed), so it is fetched once
        # instead of being asked for again and again while Asterisk is still closing it.
        self._finished: dict[str, asyncio.Event] = {}
        self.pending: set[asyncio.Task] = set()

    async def start(self, call) -> None:
        if not self.enabled or not call.legs.bridge_id:
            return
        name = recording_name(call.id, call.agent.id)
        try:
            await self._ari.record_bridge(call.legs.bridge_id, name, self._fmt)
        except (AriError, AriUnavailable) as exc:
            log.error("call %s: recording did not start: %s", call.id, exc)
            call.log("recording_failed", error=str(exc)[:200])
            return
        call.media.recording_name = name
        self._started[name] = utcnow()
        call.log("recording_started", recording=name)

    def on_event(self, call, event: RecordingStarted) -> None:
        if isinstance(event, RecordingFailed) and call is not None:
            call.log("recording_failed", recording=event.name)
        if isinstance(event, (RecordingFinished, RecordingFailed)) and event.name in self._started:
            self._finished_flag(event.name).set()

    def _finished_flag(self, name: str) -> asyncio.Event:
        return self._finished.setdefault(name, asyncio.Event())

    async def stop(self, call) -> None:
        if call.media.recording_name:
            try:
                await self._ari.stop_recording(call.media.recording_name)
            except (AriNotFound, AriUnavailable):
                pass  # already stopped when the bridge emptied, or Asterisk is gone

    def collect(self, call) -> None:
        """Fetch the finished file in the background: the call's tear-down must not wait for it."""
        if not call.media.recording_name:
            return
        self._collect_soon(call.id, call.agent.id if call.agent else None, call.media.recording_name)

    def _collect_soon(self, call_id: str, agent_id: int | None, name: str) -> None:
        task = asyncio.create_task(self._collect(call_id, agent_id, name))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def record_spoken(self, call, name: str, max_seconds: int) -> bool:
        """A spoken answer (a follow-up question by phone): the caller's own channel, after a beep, until
        '#', SPOKEN_SILENCE s of silence or `max_seconds`. Returns when it ended; the file is brought home
        like a conversation's (a `recordings` row of the call under `name`) in the background, also when the
        caller hangs up meanwhile. Recorded whatever `enabled` says: the recording is the answer."""
        try:
            await self._ari.record_channel(call.channel.id, name, self._fmt, max_seconds, SPOKEN_SILENCE)
        except (AriError, AriUnavailable) as exc:
            log.error("call %s: spoken answer %s not recorded: %s", call.id, name, exc)
            call.log("recording_failed", recording=name, error=str(exc)[:200])
            return False
        except asyncio.CancelledError:  # hung up meanwhile: Asterisk may have begun it (else: recording_lost)
            self._collect_soon(call.id, None, name)
            raise
        self._started[name] = utcnow()
        call.log("recording_started", recording=name)
        try:
            finished = asyncio.shield(self._finished_flag(name).wait())
            await asyncio.wait_for(finished, max_seconds + FINISH_WAIT)
        except TimeoutError:
            pass  # the event got lost: the collection asks for the file anyway
        finally:
            self._collect_soon(call.id, None, name)
        return True

    async def wait_idle(self) -> None:
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    async def _collect(self, call_id: str, agent_id: int | None, name: str) -> None:
        try:
            await asyncio.wait_for(self._finished_flag(name).wait(), FINISH_WAIT)
        except TimeoutError:
            pass  # the event got lost (e.g. a reconnect): ask for the file anyway
        finally:
            self._finished.pop(name, None)
        data = await self._fetch(name)
        if data is None:
            self._events.event(call_id, "recording_lost", recording=name)
            return
        await self._save(call_id, agent_id, name, data, self._started.pop(name, None), utcnow())

    async def _save(self, call_id: str, agent_id: int | None, name: str, data: bytes, started, ended) -> dict:
        path = self.directory / utcnow().strftime("%Y/%m/%d") / f"{name}.{self._fmt}"
        meta = await asyncio.to_thread(_store, path, data)
        if ended is None and started is not None:  # recovered: the file says how long it ran
            ended = started + timedelta(seconds=meta["duration_seconds"])
        row = dict(call_id=call_id, agent_id=agent_id, name=name, format=self._fmt,
                   path=str(path.relative_to(self.directory)), started_at=started, ended_at=ended, **meta)
        self._events.insert(Recording.__table__, **row)
        self._events.event(call_id, "recording_saved", recording=name, duration=meta["duration_seconds"])
        await self._delete_stored(name)
        return meta

    # -- after a controller restart (calls/reconcile.py) -------------------------------------------------

    async def resume(self, call, name: str) -> bool:
        """A rebuilt call's recording, if Asterisk is still writing it: it is stopped and collected with the
        call as if this process had started it."""
        if not self.enabled:
            return False
        try:
            await self._ari.live_recording(name)
        except (AriError, AriUnavailable):
            return False
        call.media.recording_name = name
        self._started.setdefault(name, call.times.answered_at)
        return True

    async def recover(self, call_id: str, agent_id: int | None, name: str, started,
                      tries: int = RECOVER_TRIES) -> float | None:
        """The finished recording of a call that ended while no controller was running: brought home like any
        other. Returns its length in seconds (None if Asterisk has no such file), which tells when the
        conversation really ended."""
        data = None
        for attempt in range(tries):
            try:
                data = await self._stored_file(name)
                break
            except (AriNotFound, FileNotFoundError):
                # Reconciliation just took the call's bridge down: Asterisk may still be closing the file.
                await asyncio.sleep(0.2 * (attempt + 1))
            except (AriError, AriUnavailable, OSError):
                return None
        if data is None:
            return None
        meta = await self._save(call_id, agent_id, name, data, started, None)
        return meta["duration_seconds"]

    async def _fetch(self, name: str) -> bytes | None:
        # The file is complete a moment after the bridge ends; retry briefly rather than race it.
        for attempt in range(20):
            try:
                return await self._stored_file(name)
            except (AriNotFound, FileNotFoundError):
                await asyncio.sleep(0.1 * (attempt + 1))
            except AriUnavailable:
                await asyncio.sleep(0.5)
            except OSError as exc:  # Asterisk's directory is not ours to read: a configuration error
                log.error("recording %s cannot be read: %s", name, exc)
                return None
        log.error("recording %s never became available", name)
        return None

    def _asterisk_file(self, name: str) -> Path:
        return self._asterisk_dir / f"{name}.{self._fmt}"

    async def _stored_file(self, name: str) -> bytes:
        """Asterisk's finished file, from its directory when we share its disk, else over ARI."""
        if self._asterisk_dir is None:
            return await self._ari.stored_recording_file(name)
        return await asyncio.to_thread(self._asterisk_file(name).read_bytes)

    async def _delete_stored(self, name: str) -> None:
        try:
            if self._asterisk_dir is None:
                await self._ari.delete_stored_recording(name)
            else:
                await asyncio.to_thread(self._asterisk_file(name).unlink, missing_ok=True)
        except (AriError, AriUnavailable, OSError) as exc:
            log.info("could not delete Asterisk's copy of %s: %s", name, exc)


def _store(path: Path, data: bytes) -> dict:
    write_private(path, data)  # a conversation with a patient: owner-only, whatever the umask
    return {"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "duration_seconds": wav_duration(path)}


def wav_duration(path: Path) -> float:
    try:
        with wave.open(str(path)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError):
        return 0.0

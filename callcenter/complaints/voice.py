"""A resolved ticket's summary for the patient, spoken: what the hotline's self-service plays to a caller who
types the serial (and, for a ticket that names a patient, proved to be that patient: selfservice/actions.py).

When a handler resolves a ticket with a summary, it is rendered by espeak-ng + sox (speech.py) in the voice of
its language (the prompt catalog's voices) to `<dir>/<ticket id>.wav`; reopening the ticket removes the file,
resolving it again renders the new summary. The file is patient data: kept like recordings and attachments,
owner-only (or readable by Asterisk's group too, `[complaints] summary_audio_group`, since Asterisk plays it),
named by the ticket's id, never by its words; neither the words nor the file name go to a log or a URL.

Rendering runs off the event loop on one worker thread, so the jobs of one ticket run in the order they were
asked for: the latest resolution's words are the ones left on disk. A job that fails leaves no file (the old
one is removed first), and the IVR then says the status and offers a person instead (`media` is None).
"""
from __future__ import annotations

import asyncio
import grp
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from ..private_files import write_private
from ..speech import SpeechToolError, speak_to_bytes

log = logging.getLogger(__name__)

MAX_SUMMARY = 1000  # characters: about a minute of speech


class SummaryVoice:
    def __init__(self, root: Path, voices: Mapping[str, str], *, asterisk_dir: str = "", group: str = "",
                 default_language: str = "en"):
        self.root = Path(root)
        self.voices = dict(voices)
        self.default_language = default_language if default_language in self.voices else next(iter(voices))
        # Asterisk names the directory its own way when it runs in a chroot or a container.
        self.asterisk_dir = PurePosixPath(asterisk_dir or str(self.root))
        self.gid = group_id(group)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="summary-voice")
        self._jobs: set[asyncio.Future] = set()

    @property
    def languages(self) -> list[str]:
        return list(self.voices)

    def language(self, wanted: str | None) -> str:
        """The voice language for a summary written in `wanted` (one without a voice: the default)."""
        return wanted if wanted in self.voices else self.default_language

    def path(self, ticket_id: int) -> Path:
        return self.root / f"{int(ticket_id)}.wav"

    def media(self, ticket_id: int) -> str | None:
        """The ARI media URI of the ticket's spoken summary, or None when there is no file to play."""
        if not self.path(ticket_id).is_file():
            return None
        return f"sound:{self.asterisk_dir / str(int(ticket_id))}"  # Asterisk adds the extension

    # -- blocking work, on the worker thread --

    def render(self, ticket_id: int, text: str, language: str) -> Path:
        self.remove(ticket_id)  # a failed render must not leave the previous resolution's words
        data = speak_to_bytes(text, self.voices[self.language(language)])
        write_private(self.path(ticket_id), data, self.gid)
        return self.path(ticket_id)

    def remove(self, ticket_id: int) -> None:
        self.path(ticket_id).unlink(missing_ok=True)

    # -- from the event loop --

    async def rendered(self, ticket_id: int, text: str, language: str) -> bool:
        """Render (or, with no text, remove) the ticket's summary; False when it could not be made."""
        if not text.strip():
            await self.removed(ticket_id)
            return False
        try:
            await self._run(self.render, ticket_id, text, language)
        except (SpeechToolError, OSError) as exc:  # the message names the tool and its status, never the text
            log.warning("ticket %s: the spoken summary could not be made: %s", ticket_id, exc)
            return False
        log.info("ticket %s: spoken summary ready", ticket_id)
        return True

    async def removed(self, ticket_id: int) -> None:
        try:
            await self._run(self.remove, ticket_id)
        except OSError as exc:
            log.warning("ticket %s: the spoken summary could not be removed: %s", ticket_id, exc)

    async def _run(self, fn, *args):
        job = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return await job

    async def close(self) -> None:
        """Let the jobs asked for finish (a resolution's file is not left half made), then stop the thread."""
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)
        self._pool.shutdown(wait=False)


def group_id(group: str) -> int | None:
    """The gid of `group` (a name or a number); None for "" (owner-only). An unknown name stops the start."""
    group = group.strip()
    if not group:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"[complaints] summary_audio_group: no group {group!r} on this machine") from None

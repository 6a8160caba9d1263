"""Polling a FHIR R4 server's REST API (`[fhir] base_url`) for what changed since the last poll: a search
per resource type with `_lastUpdated=ge<cursor>`, following the Bundle's `next` links page by page, then one
import of everything through the shared patient feed (imports/services.py, each refused resource reported,
the others imported).

Authentication: `[fhir] token` as a bearer token, or OAuth2 client credentials (`token_url`, `client_id`,
`client_secret`, `scope`), the token fetched once and again shortly before it expires. The token is sent to
`base_url` only: a `next` link to another origin is refused, not followed.

AllergyIntolerance and Condition replace a patient's list when imported, so for every patient with a changed
one the poll reads that patient's whole list (`?patient=`), not only the changed resources.

The cursor (the newest `meta.lastUpdated` imported) is kept in STATE_DIR/fhir-poll.json, written only after
an import that committed; `ge`, not `gt`: a resource updated in the cursor's own second is read again, which
the feed's event-time rule makes harmless, rather than missed.

One poll at a time per state directory: the service's job and `callcenter fhir poll` run by hand or by cron
take STATE_DIR/fhir-poll.lock (an OS lock, released if the process dies), and a poll that finds it taken is
refused (`PollBusy`) instead of importing the same pages beside the other one. The saved cursor only moves
forward, whichever poll commits last.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from ..config import FhirConfig
from . import fhir
from .services import ImportOptions, ImportReport, ImportService

log = logging.getLogger(__name__)
LIST_TYPES = ("AllergyIntolerance", "Condition")
MAX_PAGES = 10_000  # a server whose `next` never ends cannot keep a poll running forever
TOKEN_MARGIN = 30.0  # s before expiry a client-credentials token is renewed


class PollBusy(Exception):
    """Another poll (the service's or a command's) holds the poll lock of this state directory."""


class FhirServerError(Exception):
    """The server refused or answered something that is no search result (status and URL path, no data)."""


@dataclass
class _Token:
    value: str
    expires: float


class FhirServer:
    """The REST API of one FHIR server: searches, page by page, with the configured authentication."""

    def __init__(self, settings: FhirConfig, http: aiohttp.ClientSession):
        if not settings.base_url:
            raise FhirServerError("[fhir] base_url is not set")
        self.settings, self.http = settings, http
        self.base = settings.base_url.rstrip("/")
        self._token: _Token | None = None

    async def search(self, resource_type: str, params: dict[str, str]) -> AsyncIterator[list[tuple]]:
        """Each page's entries as (fullUrl, resource), following `next` links on the same origin."""
        url, query = f"{self.base}/{resource_type}", params
        for _ in range(MAX_PAGES):
            page = await self._get(url, query)
            entries = [e for e in page.get("entry") or [] if isinstance(e, dict)]
            yield [(e.get("fullUrl"), e.get("resource")) for e in entries]
            url, query = _next(page), None
            if url is None:
                return
            if not _same_origin(url, self.base):
                raise FhirServerError("a next link points to another server: not followed")
        raise FhirServerError(f"more than {MAX_PAGES} pages of {resource_type}")

    async def _get(self, url: str, params: dict | None) -> dict:
        headers = {"Accept": "application/fhir+json"}
        token = await self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        async with self.http.get(url, params=params, headers=headers, timeout=timeout) as response:
            if response.status != 200:
                raise FhirServerError(f"{urlsplit(url).path} answered {response.status}")
            document = await response.json(content_type=None)
        if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
            raise FhirServerError(f"{urlsplit(url).path} answered no Bundle")
        return document

    async def _bearer(self) -> str | None:
        if self.settings.token:
            return self.settings.token
        if not self.settings.token_url:
            return None
        if self._token is None or self._token.expires - TOKEN_MARGIN < time.monotonic():
            self._token = await self._client_credentials()
        return self._token.value

    async def _client_credentials(self) -> _Token:
        s = self.settings
        form = {"grant_type": "client_credentials", "scope": s.scope}
        auth = {"Authorization": aiohttp.encode_basic_auth(s.client_id, s.client_secret)}
        async with self.http.post(s.token_url, data=form, headers=auth,
                                  timeout=aiohttp.ClientTimeout(total=s.timeout_seconds)) as response:
            if response.status != 200:
                raise FhirServerError(f"the token endpoint answered {response.status}")
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise FhirServerError("the token endpoint answered no access_token")
        return _Token(body["access_token"], time.monotonic() + float(body.get("expires_in", 300)))


def _next(page: dict) -> str | None:
    return next((link.get("url") for link in page.get("link") or []
                 if isinstance(link, dict) and link.get("relation") == "next"), None)


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


class FhirPoller:
    def __init__(self, importer: ImportService, server: FhirServer, state_file: Path, page_size: int = 200):
        self.importer, self.server, self.state_file, self.page_size = importer, server, state_file, page_size

    async def poll_once(self, since: str | None = None) -> ImportReport:
        with self._exclusive():
            return await self._poll(since)

    @contextlib.contextmanager
    def _exclusive(self):
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_file.with_suffix(".lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PollBusy("another FHIR poll is running (the service's, or a command's)") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def _poll(self, since: str | None) -> ImportReport:
        since = since or self.cursor()
        entries = await self._changed(since)
        entries = await self._whole_lists(entries)
        report = ImportReport("poll", "fhir", good_rows=True)
        report = await self.importer.import_entries(report, entries, ImportOptions(good_rows=True), None)
        newest = _newest(entries)
        if report.committed and newest:
            self._save(newest)
        log.info("FHIR poll: %d resources, %d applied, %d refused", report.total, report.applied,
                 report.rejected)
        return report

    async def run(self, interval: float) -> None:
        """A poll every `interval` seconds until cancelled; a failed one is logged and the next one tries
        again from the same cursor."""
        while True:
            try:
                await self.poll_once()
            except PollBusy as exc:
                log.info("FHIR poll skipped: %s", exc)
            except (TimeoutError, FhirServerError, aiohttp.ClientError) as exc:
                log.warning("FHIR poll failed: %s", exc)
            except Exception:  # the database, a bug: the job must outlive it, and say so
                log.exception("FHIR poll failed")
            await asyncio.sleep(interval)

    async def _changed(self, since: str | None) -> list[tuple]:
        entries: list[tuple] = []
        for resource_type in fhir.TYPES:
            params = {"_count": str(self.page_size), "_sort": "_lastUpdated"}
            if since:
                params["_lastUpdated"] = f"ge{since}"
            async for page in self.server.search(resource_type, params):
                entries += page
        return entries

    async def _whole_lists(self, entries: list[tuple]) -> list[tuple]:
        """Changed allergies and conditions replaced by the whole list of each patient they belong to."""
        kept = [e for e in entries if _type(e) not in LIST_TYPES]
        for resource_type in LIST_TYPES:
            patients = sorted({_patient_ref(e[1]) for e in entries if _type(e) == resource_type} - {None})
            for ref in patients:
                async for page in self.server.search(resource_type, {"patient": ref,
                                                                     "_count": str(self.page_size)}):
                    kept += page
        return kept

    def cursor(self) -> str | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state.get("since") if state.get("base_url") == self.server.base else None

    def _save(self, since: str) -> None:
        """Never backwards: a poll begun from an older cursor may commit after a newer one (the same
        format, so the strings compare as the instants do)."""
        saved = self.cursor()
        if saved and saved > since:
            return
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps({"base_url": self.server.base, "since": since}))
        partial.replace(self.state_file)


class FhirPollJob:
    """The FHIR poll of `callcenter serve` ([fhir] base_url and poll_interval_seconds): a task with its own
    HTTP session running `FhirPoller.run`; the server being down costs a logged warning per interval, and
    the cursor saved after each committed import keeps a restarted service from importing again."""

    def __init__(self, importer: ImportService, settings: FhirConfig, state_file: Path):
        self.importer, self.settings, self.state_file = importer, settings, state_file
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fhir-poll")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            poller = FhirPoller(self.importer, FhirServer(self.settings, http), self.state_file,
                                self.settings.page_size)
            await poller.run(self.settings.poll_interval_seconds)


def _type(entry: tuple) -> str | None:
    resource = entry[1]
    return resource.get("resourceType") if isinstance(resource, dict) else None


def _patient_ref(resource: dict) -> str | None:
    subject = resource.get("patient") or resource.get("subject") or {}
    return subject.get("reference") if isinstance(subject, dict) else None


def _newest(entries: list[tuple]) -> str | None:
    """The newest meta.lastUpdated (the server's clock, not ours) in UTC to the second, rounded down: the
    cursor of the next poll's `ge` (a '+' offset would need escaping in a URL)."""
    stamps = []
    for _url, resource in entries:
        stamp = resource.get("meta", {}).get("lastUpdated") if isinstance(resource, dict) else None
        try:
            stamps.append(fhir.parse_instant(stamp))
        except (TypeError, ValueError):
            continue
    return max(stamps).strftime("%Y-%m-%dT%H:%M:%SZ") if stamps else None

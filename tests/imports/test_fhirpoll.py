"""Polling a FHIR server (callcenter/imports/fhirpoll.py) against a real local HTTP server (aiohttp) that
serves paged searchset Bundles: bearer token and client credentials, `_lastUpdated` with the saved cursor,
`next` links followed page by page (never to another origin), whole allergy lists of changed patients.
SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from yarl import URL

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.config import FhirConfig, load
from callcenter.db.models import Encounter, Patient
from callcenter.imports.csvfile import CsvSettings
from callcenter.imports.fhirpoll import FhirPoller, FhirServer, FhirServerError, PollBusy
from callcenter.imports.services import ImportService
from callcenter.main import build, start, stop
from callcenter.patients.services import IdentityRule, PatientFeed

from .fhir_data import MRN_SYSTEM, allergy, bundle, encounter, patient

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class FakeFhir:
    """A FHIR server's search API: resources by type, searches filtered by _lastUpdated (ge) and patient,
    answered in pages of _count with `next` links; every request and its Authorization header recorded."""

    def __init__(self, token: str = "s3cret"):
        self.resources: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, dict, str | None]] = []
        self.token = token
        self.foreign_next = False
        self.gate: asyncio.Event | None = None  # when set, searches wait for it: a poll held mid-way

    def add(self, resource: dict, updated: str) -> None:
        resource["meta"] = {"lastUpdated": updated}
        self.resources.setdefault(resource["resourceType"], []).append(resource)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/oauth/token", self.issue_token)
        app.router.add_get("/fhir/{type}", self.search)
        return app

    async def issue_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (form["grant_type"] != "client_credentials"
                or request.headers["Authorization"] != aiohttp.encode_basic_auth("cc", "pw")):
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": self.token, "token_type": "bearer", "expires_in": 300})

    async def search(self, request: web.Request) -> web.Response:
        self.requests.append((request.match_info["type"], dict(request.query),
                              request.headers.get("Authorization")))
        if self.gate:
            await self.gate.wait()
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"resourceType": "OperationOutcome"}, status=401)
        found = self._matching(request.match_info["type"], request.query)
        count, offset = int(request.query.get("_count", "50")), int(request.query.get("_offset", "0"))
        page = found[offset:offset + count]
        next_url = None
        if offset + count < len(found):
            query = {**request.query, "_offset": str(offset + count)}
            origin = "http://elsewhere.example" if self.foreign_next else f"{request.scheme}://{request.host}"
            next_url = str(URL(f"{origin}{request.path}").with_query(query))
        return web.json_response(bundle(*page, next_url=next_url))

    def _matching(self, kind: str, query) -> list[dict]:
        found = self.resources.get(kind, [])
        since = query.get("_lastUpdated", "").removeprefix("ge")
        if since:
            since_at = datetime.fromisoformat(since)
            found = [r for r in found if datetime.fromisoformat(r["meta"]["lastUpdated"]) >= since_at]
        if "patient" in query:
            found = [r for r in found
                     if r.get("patient", r.get("subject", {})).get("reference") == query["patient"]]
        return sorted(found, key=lambda r: r["meta"]["lastUpdated"])


@pytest.fixture
def fake() -> FakeFhir:
    server = FakeFhir()
    for n in range(1, 6):  # five patients: three pages of two
        server.add(patient(f"p{n}", f"MRN-P{n}", family=f"Family{n}"), f"2026-11-20T10:0{n}:00Z")
    server.add(encounter("e1", "Patient/p1"), "2026-11-20T11:00:00Z")
    server.add(allergy("al1", "Patient/p1", "Penicillin"), "2026-11-20T09:00:00Z")
    return server


@pytest.fixture
async def poll(db, fake, aiohttp_server, tmp_path):
    server = await aiohttp_server(fake.app())
    base = f"http://127.0.0.1:{server.port}"
    feed = PatientFeed(IdentityRule(mrn_system=MRN_SYSTEM), DischargeFollowUp(), clock=lambda: NOW)
    importer = ImportService(db, feed, CsvSettings())
    async with aiohttp.ClientSession() as http:
        def make(**settings) -> FhirPoller:
            config = FhirConfig(base_url=f"{base}/fhir", **settings)
            config.token_url = config.token_url.replace("BASE", base)
            return FhirPoller(importer, FhirServer(config, http), tmp_path / "fhir-poll.json", page_size=2)
        yield make


def mrns(db) -> list[str]:
    with db.session() as session:
        return session.scalars(select(Patient.mrn).order_by(Patient.mrn)).all()


async def test_given_paged_server_when_polled_then_every_page_imported_and_cursor_saved(db, fake, poll):
    poller = poll(token="s3cret")
    report = await poller.poll_once()
    assert report.errors == [] and report.applied == 7  # 5 patients, 1 stay, p1's allergy list
    assert mrns(db) == [f"MRN-P{n}" for n in range(1, 6)]
    patient_pages = [q for kind, q, _ in fake.requests if kind == "Patient"]
    assert [q.get("_offset") for q in patient_pages] == [None, "2", "4"]
    assert all(auth == "Bearer s3cret" for _, _, auth in fake.requests)
    assert "_lastUpdated" not in patient_pages[0] and poller.cursor() == "2026-11-20T11:00:00Z"
    with db.session() as session:
        assert session.scalar(select(Encounter.visit_number)) == "V-e1"

    fake.requests.clear()
    fake.add(patient("p2", "MRN-P2", family="Renamed"), "2026-11-21T08:00:00Z")
    fake.add(allergy("al2", "Patient/p1", "Latex"), "2026-11-21T09:00:00Z")
    report = await poller.poll_once()
    assert {q["_lastUpdated"] for kind, q, _ in fake.requests if "_lastUpdated" in q} == {
        "ge2026-11-20T11:00:00Z"}
    # The changed allergy brought p1's whole list: the older allergy is kept with the new one.
    assert ("AllergyIntolerance", {"patient": "Patient/p1", "_count": "2"}, "Bearer s3cret") in fake.requests
    with db.session() as session:
        p1 = session.scalar(select(Patient).where(Patient.mrn == "MRN-P1"))
        assert sorted(a.substance for a in p1.allergies) == ["Latex", "Penicillin"]
        assert session.scalar(select(Patient.family_name).where(Patient.mrn == "MRN-P2")) == "Renamed"
    assert poller.cursor() == "2026-11-21T09:00:00Z"


async def test_given_client_credentials_when_polled_then_token_fetched_once_and_sent(db, fake, poll):
    poller = poll(token_url="BASE/oauth/token", client_id="cc", client_secret="pw")
    report = await poller.poll_once()
    assert report.applied == 7 and all(auth == "Bearer s3cret" for _, _, auth in fake.requests)
    bad = poll(token_url="BASE/oauth/token", client_id="cc", client_secret="wrong")
    with pytest.raises(FhirServerError, match="token endpoint answered 401"):
        await bad.poll_once()


async def test_given_wrong_token_or_foreign_next_link_when_polled_then_refused_and_nothing_imported(
        db, fake, poll):
    with pytest.raises(FhirServerError, match="answered 401"):
        await poll(token="wrong").poll_once()
    fake.foreign_next = True
    with pytest.raises(FhirServerError, match="another server"):
        await poll(token="s3cret").poll_once()
    assert mrns(db) == []


async def test_given_a_poll_running_when_a_second_poll_starts_then_refused_busy_and_cursor_never_backwards(
        db, fake, poll):
    first, second = poll(token="s3cret"), poll(token="s3cret")
    fake.gate = asyncio.Event()
    running = asyncio.create_task(first.poll_once())
    await until(lambda: fake.requests)  # the first poll is waiting on the server, holding the lock
    with pytest.raises(PollBusy, match="another FHIR poll is running"):
        await second.poll_once()
    fake.gate.set()
    assert (await running).applied == 7 and first.cursor() == "2026-11-20T11:00:00Z"
    # A poll from an older point (`--since`) whose newest resource is older than the saved cursor (the
    # server lost or re-dated some) leaves the saved cursor where it was: it never moves backwards.
    first.state_file.write_text(first.state_file.read_text().replace("2026-11-20T11:00:00Z",
                                                                      "2026-11-23T00:00:00Z"))
    report = await second.poll_once(since="2026-11-20T10:00:00Z")
    assert report.committed and second.cursor() == "2026-11-23T00:00:00Z"
    assert mrns(db) == [f"MRN-P{n}" for n in range(1, 6)]


async def until(condition, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_given_serve_with_poll_interval_when_server_goes_down_and_back_then_new_resource_imported_once(
        database_url, db, fake, aiohttp_server, tmp_path, caplog):
    server = await aiohttp_server(fake.app())
    port = server.port
    cfg = load(tmp_path / "absent.toml", env={})
    cfg.state_dir, cfg.database.url = str(tmp_path / "state"), database_url
    cfg.fhir = FhirConfig(base_url=f"http://127.0.0.1:{port}/fhir", token="s3cret", mrn_system=MRN_SYSTEM,
                          poll_interval_seconds=0.2, page_size=2)
    services = build(cfg)
    await start(services, ari=False)
    try:
        await until(lambda: len(mrns(db)) == 5)
        await server.close()  # the FHIR server goes down: each poll fails, logged, the service goes on
        await until(lambda: "FHIR poll failed" in caplog.text)
        fake.add(patient("p6", "MRN-P6", family="Newcomer"), "2026-11-22T08:00:00Z")
        fake.requests.clear()
        await aiohttp_server(fake.app(), port=port)
        await until(lambda: "MRN-P6" in mrns(db))
        polls = len([q for kind, q, _ in fake.requests if kind == "Patient"])
        await until(lambda: len([q for kind, q, _ in fake.requests if kind == "Patient"]) >= polls + 2)
    finally:
        await stop(services)
    assert mrns(db) == [f"MRN-P{n}" for n in range(1, 7)]  # every patient once, p1-p5 not imported again
    assert {q.get("_lastUpdated") for kind, q, _ in fake.requests if kind == "Patient"} <= {
        "ge2026-11-20T11:00:00Z", "ge2026-11-22T08:00:00Z"}  # from the cursor on, never from the start
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Encounter)) == 1

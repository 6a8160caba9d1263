"""The campaign JSON API on the real application (API token): plan, run through the wired dialer (503 when
none is), report JSON and CSV, do-not-call import refused whole on a bad row."""
from __future__ import annotations

from pathlib import Path

from callcenter.main import build, init_app

from ..browser.live import API_TOKEN, console_config
from .conftest import HOSPITAL_ZONE

PROJECT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


class FakeDialer:
    def __init__(self):
        self.runs: list[tuple[str, str]] = []

    async def run(self, name: str, *, worker: str) -> dict:
        self.runs.append((name, worker))
        return {"dialed": 0}

    async def stop(self) -> None:
        pass


async def _client(tmp_path, sqlite_url, aiohttp_client, dialer):
    cfg = console_config(tmp_path, sqlite_url)
    cfg.site.time_zone = HOSPITAL_ZONE
    cfg.campaigns.worker = "test-worker"
    services = build(cfg)
    services.db.upgrade()
    services.dialer = dialer
    client = await aiohttp_client(init_app(cfg, services, ari=False))
    await services.campaigns.load_file(PROJECT / "campaigns" / "appointment-reminders.yaml")
    return client, services


async def test_given_a_dialer_when_run_is_asked_with_wait_then_planned_and_dialed(tmp_path, sqlite_url,
                                                                                  aiohttp_client):
    dialer = FakeDialer()
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, dialer)

    response = await client.post("/api/campaigns/appointment-reminders/run?wait=1", headers=AUTH)
    body = await response.json()

    assert response.status == 200, body
    assert body["plan"]["campaign"] == "appointment-reminders" and body["run"] == {"dialed": 0}
    assert dialer.runs == [("appointment-reminders", "test-worker")]


async def test_given_no_dialer_when_run_is_asked_then_503_says_so(tmp_path, sqlite_url, aiohttp_client):
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, None)

    response = await client.post("/api/campaigns/appointment-reminders/run", headers=AUTH)

    assert response.status == 503
    assert "no dialer" in (await response.json())["error"]


async def test_given_a_campaign_when_reports_are_asked_then_json_and_csv(tmp_path, sqlite_url, aiohttp_client):
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    assert (await client.post("/api/campaigns/appointment-reminders/plan", headers=AUTH)).status == 200

    report = await (await client.get("/api/campaigns/appointment-reminders/report", headers=AUTH)).json()
    csv = await client.get("/api/campaigns/appointment-reminders/report.csv", headers=AUTH)

    assert report["targets"] == 0 and report["kind"] == "appointment_reminder"
    assert csv.status == 200 and (await csv.text()).startswith("target_id,patient_id,subject_kind")


async def test_given_a_dnc_import_with_a_bad_row_then_400_lists_it_and_nothing_is_stored(tmp_path, sqlite_url,
                                                                                       aiohttp_client):
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    body = "number,reason\n+14155550100,asked\nnonsense,\n"

    refused = await client.post("/api/do-not-call/import", data=body, headers=AUTH)
    listed = await (await client.get("/api/do-not-call", headers=AUTH)).json()

    assert refused.status == 400 and "row 3" in (await refused.json())["error"]
    assert listed["entries"] == []

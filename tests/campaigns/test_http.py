"""The campaign JSON API on the real application (API token): plan, run through the wired dialer (503 when
none is), report JSON and CSV, do-not-call import refused whole on a bad row, removals only with a reason."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from callcenter.db.models import AuditEvent
from callcenter.main import build, init_app

from ..audit_faults import audit_rows_refused
from ..browser.live import API_TOKEN, add_test_client, console_config
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
    add_test_client(sqlite_url)
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


async def test_given_a_campaign_when_reports_are_asked_then_json_and_csv(tmp_path, sqlite_url,
                                                                         aiohttp_client):
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    assert (await client.post("/api/campaigns/appointment-reminders/plan", headers=AUTH)).status == 200

    report = await (await client.get("/api/campaigns/appointment-reminders/report", headers=AUTH)).json()
    csv = await client.get("/api/campaigns/appointment-reminders/report.csv", headers=AUTH)

    assert report["targets"] == 0 and report["kind"] == "appointment_reminder"
    assert csv.status == 200 and (await csv.text()).startswith("target_id,patient_id,subject_kind")


async def test_given_audit_rows_refused_when_the_report_csv_or_dnc_list_is_read_then_500_and_no_data(
        tmp_path, sqlite_url, aiohttp_client):
    client, services = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    added = await client.post("/api/do-not-call", json={"mrn": "", "number": "+14155550100",
                                                        "reason": "asked by phone"}, headers=AUTH)
    assert added.status == 201

    with audit_rows_refused(services.db):
        csv = await client.get("/api/campaigns/appointment-reminders/report.csv", headers=AUTH)
        listed = await client.get("/api/do-not-call", headers=AUTH)

    assert csv.status == 500 and "target_id" not in await csv.text()
    assert listed.status == 500 and "+14155550100" not in await listed.text()
    csv = await client.get("/api/campaigns/appointment-reminders/report.csv", headers=AUTH)
    listed = await client.get("/api/do-not-call", headers=AUTH)
    assert (csv.status, listed.status) == (200, 200)
    with services.db.session() as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ("campaign_report_csv", "dnc_list_view"))).order_by(AuditEvent.id)).all()
    assert [(a.action, a.actor_user_id, a.detail.get("via")) for a in reads] == [
        ("campaign_report_csv", None, "api"), ("dnc_list_view", None, "api")]  # the API client, named as such


async def test_given_a_dnc_import_with_a_bad_row_then_400_lists_it_and_nothing_is_stored(tmp_path, sqlite_url,
                                                                                       aiohttp_client):
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    body = "number,reason\n+14155550100,asked\nnonsense,\n"

    refused = await client.post("/api/do-not-call/import", data=body, headers=AUTH)
    listed = await (await client.get("/api/do-not-call", headers=AUTH)).json()

    assert refused.status == 400 and "row 3" in (await refused.json())["error"]
    assert listed["entries"] == []


async def test_given_a_dnc_entry_when_removed_without_a_reason_then_400_and_with_one_then_audited(
        tmp_path, sqlite_url, aiohttp_client):
    client, services = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    added = await client.post("/api/do-not-call", json={"number": "+14155550100", "reason": "asked by phone"},
                              headers=AUTH)
    entry = (await added.json())["id"]

    refused = await client.delete(f"/api/do-not-call/{entry}", headers=AUTH)
    removed = await client.delete(f"/api/do-not-call/{entry}", json={"reason": "added by mistake"},
                                  headers=AUTH)
    listed = await (await client.get("/api/do-not-call", headers=AUTH)).json()

    assert added.status == 201
    assert refused.status == 400 and "say why" in (await refused.json())["error"]
    assert removed.status == 200 and listed["entries"] == []
    with services.db.session() as session:
        audits = session.scalars(select(AuditEvent).where(AuditEvent.action.like("dnc_%"))
                                 .order_by(AuditEvent.id)).all()
    [removal] = [a for a in audits if a.action == "dnc_removed"]
    assert (removal.reason, removal.detail["entry"], removal.detail["by"]) == ("added by mistake", entry,
                                                                              "number")
    assert "+14155550100" not in str([(a.detail, a.reason) for a in audits]), "no numbers in the audit log"


async def test_given_no_reason_when_a_dnc_entry_is_added_by_hand_then_400_names_it(tmp_path, sqlite_url,
                                                                                   aiohttp_client):
    client, _ = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    refused = await client.post("/api/do-not-call", json={"number": "+14155550100"}, headers=AUTH)
    assert refused.status == 400 and "say why" in (await refused.json())["error"]


def test_given_a_cell_a_spreadsheet_would_run_when_the_report_csv_is_made_then_it_is_quoted():
    from callcenter.campaigns.http import rows_to_csv

    text = rows_to_csv([{"target_id": 1, "outcome": "=HYPERLINK(\"x\")", "status": "completed"}])

    header, row = text.splitlines()
    assert header.startswith("target_id,patient_id,subject_kind")
    assert "'=HYPERLINK" in row and row.startswith("1,")


async def test_given_an_api_client_when_it_saves_a_campaign_then_the_audit_row_names_the_client(
        tmp_path, sqlite_url, aiohttp_client):
    client, services = await _client(tmp_path, sqlite_url, aiohttp_client, None)
    text = (PROJECT / "campaigns" / "appointment-reminders.yaml").read_text(encoding="utf-8")

    saved = await client.put("/api/campaigns/appointment-reminders", data=text + "\n# edited\n", headers=AUTH)

    assert saved.status == 200, await saved.text()
    with services.db.session() as session:
        row = session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign_edited")).one()
    assert row.actor_user_id is None and row.actor_client_id is not None
    assert row.detail["api_client"] and row.detail["campaign"] == "appointment-reminders"

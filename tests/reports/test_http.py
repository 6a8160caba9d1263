"""The reports over HTTP (aiohttp test client, SQLite and PostgreSQL): the catalogue, a report's page, JSON,
CSV and PDF give the service's numbers for the synthetic month; supervisors and admins only; the overdue
list's reads audited naming the signed-in user; bad parameters refused with a message."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from callcenter.db.database import Database
from callcenter.db.models import AuditEvent, User
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import QuestionnaireService
from callcenter.main import build, init_app
from callcenter.reports.services import ReportService

from ..browser.live import ROLE_USERS, console_config, seed_role_users, sign_in
from . import synthetic as month
from .test_services import cfg as report_cfg
from .test_services import clock

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
async def app(tmp_path, database_url, aiohttp_client):
    seed_role_users(database_url)
    seeding = Database(database_url)
    with seeding.session() as session:
        month.seed(session)
    seeding.close()
    cfg = console_config(tmp_path, database_url)
    cfg.site, cfg.reports = report_cfg().site, report_cfg().reports
    services = build(cfg)
    services.reports = ReportService(services.db, cfg, clock=clock)
    bank = load_bank()
    await QuestionnaireService(services.db).load(bank, [(q, Path(q.path).read_text())
                                                        for q in load_questionnaires(bank=bank).values()])
    return await aiohttp_client(init_app(cfg, services, ari=False)), services


async def signed_in(app, role: str = "supervisor"):
    client, services = app
    await sign_in(client, ROLE_USERS[role].username)
    return client


async def test_given_a_supervisor_when_the_catalogue_and_a_report_page_are_opened_then_the_figures_show(app):
    client = await signed_in(app)

    catalogue = await (await client.get("/supervisor/reports")).text()
    page = await client.get("/supervisor/reports/followup-rate", params=NOVEMBER | {"by": "ward"})

    for title in ("Follow-up rate", "Timeliness", "Authenticity", "Overdue follow-ups", "Outcomes",
                  "Red flags in follow-ups", "Satisfaction by department", "Answers by question code",
                  "Care-plan adherence"):
        assert title in catalogue
    assert page.status == 200
    text = await page.text()
    assert 'data-key="C1"' in text and "55.6%" in text  # 5 of 9


async def test_given_the_synthetic_month_when_asked_as_json_csv_and_pdf_then_all_hold_the_same_figures(app):
    client = await signed_in(app)

    data = await (await client.get("/api/reports/timeliness", params=NOVEMBER)).json()
    csv_answer = await client.get("/api/reports/timeliness/csv", params=NOVEMBER)
    pdf_answer = await client.get("/api/reports/timeliness/pdf", params=NOVEMBER)

    assert data["total"]["on_time"] == 4 and data["total"]["timely_rate"] == round(4 / 9, 4)
    lines = list(csv.reader(io.StringIO(await csv_answer.text())))
    assert lines[0] == ["Department", "Within (days)", "Discharged", "On time", "Late", "Overdue",
                        "Not yet due", "Timely rate"]
    assert lines[1] == ["Cardiology", "3", "4", "2", "1", "1", "0", "0.5"]
    assert lines[-1] == ["Total", "", "9", "4", "1", "3", "1", "0.4444"]
    assert csv_answer.headers["Content-Disposition"] == (
        'attachment; filename="timeliness-department-2026-11-01-to-2026-11-30.csv"')
    assert pdf_answer.content_type == "application/pdf"
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf_answer.read())).pages)
    assert "Timeliness" in pdf_text and "2026-11-01 to 2026-11-30" in pdf_text
    assert "Cardiology 3 4 2 1 1 0 50.0%" in pdf_text and "Total – 9 4 1 3 1 44.4%" in pdf_text


async def test_given_the_overdue_list_when_a_supervisor_reads_it_then_each_patient_is_audited_naming_him(app):
    client = await signed_in(app)
    _, services = app

    answer = await client.get("/api/reports/overdue", params=NOVEMBER)

    names = [r["label"] for r in (await answer.json())["rows"]]
    assert names == ["Pat Number3", "Pat Number6", "Pat Number10"]
    with services.db.session() as session:
        supervisor = session.scalar(select(User.id).where(User.username == ROLE_USERS["supervisor"].username))
        rows = session.execute(select(AuditEvent.patient_id, AuditEvent.actor_user_id).where(
            AuditEvent.action == "report_overdue_list").order_by(AuditEvent.patient_id)).all()
    assert [tuple(r) for r in rows] == [(3, supervisor), (6, supervisor), (10, supervisor)]


@pytest.mark.parametrize("role", ["agent", "nurse"])
async def test_given_a_desk_role_when_a_report_is_asked_for_then_forbidden(app, role):
    client = await signed_in(app, role)

    assert (await client.get("/api/reports/overdue", params=NOVEMBER)).status == 403
    assert (await client.get("/supervisor/reports", headers={"Accept": "application/json"})).status == 403


async def test_given_bad_parameters_when_a_report_is_asked_for_then_refused_with_what_is_wrong(app):
    client = await signed_in(app)

    unknown = await client.get("/api/reports/no-such-report")
    bad_cut = await client.get("/api/reports/followup-rate", params={"by": "colour"})
    backwards = await client.get("/api/reports/followup-rate",
                                 params={"from": "2026-11-30", "to": "2026-11-01"})
    no_code = await client.get("/api/reports/answers", params=NOVEMBER)

    assert unknown.status == 404
    assert bad_cut.status == 400 and "'by' must be one of" in (await bad_cut.json())["error"]
    assert backwards.status == 400 and "is after" in (await backwards.json())["error"]
    assert no_code.status == 400 and "'code'" in (await no_code.json())["error"]


@pytest.mark.parametrize("name", ["followup-rate", "timeliness", "authenticity", "overdue", "outcomes",
                                  "red-flags", "satisfaction", "answers", "care-plan-adherence"])
async def test_given_each_report_of_the_catalogue_when_shown_and_printed_then_page_and_pdf_render(app, name):
    client = await signed_in(app)
    params = NOVEMBER | ({"code": "recommend_hospital"} if name == "answers" else {})

    page = await client.get(f"/supervisor/reports/{name}", params=params)
    pdf = await client.get(f"/api/reports/{name}/pdf", params=params)

    assert page.status == 200, await page.text()
    assert 'id="report-data"' in await page.text()
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")

"""The follow-up reports in the real browser, on the synthetic month of tests/reports/synthetic.py whose
figures were worked out by hand: the catalogue, the follow-up rate's page with its chart (the KPI dashboard's
SVG bars) and table for November, then its CSV and PDF downloads holding the same figures (the PDF's text read
back with pypdf)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from callcenter.db.database import Database

from ..reports import synthetic as month
from ..reports.test_services import cfg as report_cfg
from .live import LiveConsole, console_config, seed_role_users


@pytest.fixture
def reports_console(tmp_path) -> Iterator[LiveConsole]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    seed_role_users(url)
    db = Database(url)
    try:
        with db.session() as session:
            month.seed(session)
    finally:
        db.close()
    cfg = console_config(tmp_path, url)
    cfg.site, cfg.reports = report_cfg().site, report_cfg().reports
    live = LiveConsole(cfg).start()
    yield live
    live.stop()


def test_given_a_month_of_follow_ups_when_the_follow_up_rate_is_opened_then_chart_table_csv_and_pdf_agree(
        signed_in, reports_console, screenshot):
    page = signed_in("supervisor", reports_console)
    page.click("nav.mainnav >> text=Reports")
    expect(page.locator("#report-catalogue .report-entry")).to_have_count(9)
    page.click("#report-catalogue >> text=Follow-up rate")

    page.fill("input[name=from]", "2026-11-01")
    page.fill("input[name=to]", "2026-11-30")
    page.select_option("select[name=by]", "department")
    page.click("#report-filters button[type=submit]")

    expect(page.locator(".report-range")).to_have_text("2026-11-01 to 2026-11-30 (America/New_York)")
    expect(page.locator("#report-chart .kpi-chart-body[data-drawn='bars']")).to_have_count(1)
    # two bars (discharged, followed up) for each of three departments, and their legend
    expect(page.locator("#report-chart svg rect.bar")).to_have_count(6)
    expect(page.locator("#report-chart .chart-legend li")).to_have_text(["Discharged", "Followed up"])
    cardiology = page.locator("#report-table tr[data-key='Cardiology']")
    expect(cardiology.locator("td[data-column='followup_rate']")).to_have_text("75.0%")
    expect(page.locator("#report-table tfoot td[data-column='followup_rate']")).to_have_text("55.6%")
    screenshot(page, "reports-followup-rate")

    with page.expect_download() as csv_download:
        page.click("#report-csv")
    lines = list(csv.reader(io.StringIO(csv_download.value.path().read_text(encoding="utf-8"))))
    assert csv_download.value.suggested_filename == "followup-rate-department-2026-11-01-to-2026-11-30.csv"
    assert lines[1:] == [["Cardiology", "4", "3", "1", "0.75"], ["Medicine", "2", "0", "2", "0.0"],
                         ["Surgery", "3", "2", "1", "0.6667"], ["Total", "9", "5", "4", "0.5556"]]

    with page.expect_download() as pdf_download:
        page.click("#report-pdf")
    pdf = PdfReader(pdf_download.value.path())
    text = " ".join(p.extract_text() for p in pdf.pages)
    assert "Follow-up rate" in text and "2026-11-01 to 2026-11-30" in text
    for figures in ("Cardiology 4 3 1 75.0%", "Medicine 2 0 2 0.0%", "Surgery 3 2 1 66.7%",
                    "Total 9 5 4 55.6%"):
        assert figures in text

"""The admin import page in the real browser (no Asterisk): upload a CSV file, read the report of bad rows,
import the good rows, and no patient data in any URL the browser requested."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.db.models import Patient

GOOD_ROWS = ("mrn,family_name,given_name,birth_date,mobile_phone,home_phone\n"
             "BRW-1,Quillfeather,Ottilie,1950-12-10,(415) 555-0161,415 555 0162\n"
             "BRW-2,Marchbanks,Rupert,1961-02-03,,\n")
FILE = GOOD_ROWS + "BRW-3,Thistlewood,,1970-13-01,12,\n"


def _imported(console) -> list[str]:
    with console.services.db.session() as session:
        query = select(Patient.mrn).where(Patient.mrn.like("BRW-%")).order_by(Patient.mrn)
        return list(session.scalars(query))


def _upload(page, *, good_rows: bool = False) -> None:
    page.select_option("#kind", "patients")
    page.set_input_files("#file", files=[{"name": "ward-export.csv", "mimeType": "text/csv",
                                          "buffer": FILE.encode()}])
    if good_rows:
        page.check("#good_rows")
    page.click("#import-form button[type=submit]")


def test_given_admin_when_uploading_file_with_a_bad_row_then_report_then_good_rows_imported(
        signed_in, console, screenshot):
    page = signed_in("admin")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto("/admin")
    page.keyboard.press("Alt+M")
    page.wait_for_url("**/admin/imports")
    _upload(page)

    expect(page.locator("#import-outcome")).to_contain_text("Nothing was written")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(3)
    expect(errors.nth(0)).to_contain_text("4birth_dateno such day")
    expect(page.locator("#import-errors")).to_contain_text("given_name")
    expect(page.locator("#import-errors")).to_contain_text("mobile_phone")
    assert _imported(console) == []
    screenshot(page, "admin-import-errors")

    _upload(page, good_rows=True)
    expect(page.locator("#import-outcome")).to_have_text("Imported.")
    expect(page.locator('#import-counts [data-count="created"]')).to_have_text("2")
    expect(page.locator('#import-counts [data-count="rejected"]')).to_have_text("1")
    assert _imported(console) == ["BRW-1", "BRW-2"]
    screenshot(page, "admin-import-good-rows")
    # The file went in the POST bodies only: no URL (request, page, link) names a patient or the file.
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map((a) => a.href)")
    for url in [*urls, page.url, *hrefs]:
        assert not any(word in url for word in ("BRW", "Quillfeather", "5550161", "ward-export")), url

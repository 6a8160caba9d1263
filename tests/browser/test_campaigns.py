"""The campaign console in the real browser: progress list and detail with the right counts, the CSV,
"Run now" for supervisors; for admins the YAML editor (errors with their line, text kept; a valid edit bumps
the version), switching off, and the do-not-call list. Agents are refused."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import select

from callcenter.db.models import Campaign, CampaignAttempt, CampaignTarget, DoNotCall, Patient
from callcenter.eventlog import utcnow

NAME = "cardio-followup-calls"
SOURCE = f"""name: {NAME}
kind: discharge_followup
title: Cardiology follow-up calls
version: 1
review: "Example content, requires clinical review before production use."
target: {{rule: discharged, department: Cardiology, within_days: 2}}
mode: progressive
queue: general
script: outbound_followup
pacing: {{max_channels: 2, calls_per_second: 1, abandon_cap: 0.03}}
"""
# target statuses, and the attempts of each target (result, outcome)
TARGETS = [
    ("completed", [("no_answer", None), ("person", "confirmed")]),
    ("completed", [("person", "red_flag_chest_pain")]),
    ("opted_out", [("person", "opted_out")]),
    ("pending", [("busy", None), ("abandoned", None)]),
    ("pending", [("machine", "message_left")]),
    ("pending", []),
]


def _seed(console) -> None:
    now = utcnow()
    with console.services.db.session() as session:
        session.add(Campaign(name=NAME, kind="discharge_followup", title="Cardiology follow-up calls",
                             source_yaml=SOURCE, version=1, enabled=True, updated_at=now))
        for i, (status, attempts) in enumerate(TARGETS):
            patient = Patient(mrn=f"MRN-CP{i}", given_name="Pat", family_name=f"Camp{i}",
                              date_of_birth=date(1950, 1, 1 + i), sex="F", language="en")
            session.add(patient)
            session.flush()
            target = CampaignTarget(campaign_name=NAME, patient_id=patient.id, subject_kind="patient",
                                    subject_id=patient.id, status=status, attempts=len(attempts),
                                    phone_e164=f"+1415555020{i}",
                                    outcome={"outcome": "=1+1"} if i == 5 else {})
            session.add(target)
            session.flush()
            for j, (result, outcome) in enumerate(attempts):
                session.add(CampaignAttempt(target_id=target.id, campaign_name=NAME, patient_id=patient.id,
                                            result=result, outcome=outcome,
                                            started_at=now - timedelta(hours=5 - j)))


def test_given_seeded_campaign_when_supervisor_opens_list_and_detail_then_counts_and_csv_are_right(
        signed_in, console, screenshot):
    _seed(console)
    page = signed_in("supervisor")
    page.click("nav.mainnav >> text=Campaigns")
    row = page.locator(f"#campaigns-table tr[data-name='{NAME}']")
    counts = {key: row.locator(f"td[data-key='{key}']").inner_text() for key in (
        "targets", "reached", "completed", "confirmed", "cancelled", "opted_out", "red_flags", "attempts")}
    assert counts == {"targets": "6", "reached": "3", "completed": "2", "confirmed": "1", "cancelled": "0",
                      "opted_out": "1", "red_flags": "1", "attempts": "7"}
    # 1 abandoned of 4 answered by a person (3 person + the abandoned one): over the 3% cap, shown as such
    assert "25.0%" in row.locator("td[data-key='abandon_rate']").inner_text()
    assert row.locator(".cp-over").count() == 1
    screenshot(page, "campaigns-list")

    row.locator("a").first.click()
    page.wait_for_url(f"**/campaigns/{NAME}")
    results = {r: page.locator(f"#attempts tr[data-result='{r}'] td").inner_text()
               for r in ("person", "machine", "no_answer", "busy", "failed", "abandoned")}
    assert results == {"person": "3", "machine": "1", "no_answer": "1", "busy": "1", "failed": "0",
                       "abandoned": "1"}
    assert page.locator("#attempts-total").inner_text() == "7"
    assert page.locator("#edit-link").count() == 0, "supervisors do not edit campaigns"
    screenshot(page, "campaign-detail-supervisor")

    with page.expect_download() as download:
        page.click("#csv-link")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == 6
    assert sorted(r["status"] for r in rows) == sorted(s for s, _ in TARGETS)
    assert sorted(int(r["attempts"]) for r in rows) == sorted(len(a) for _, a in TARGETS)
    assert {r["outcome"] for r in rows} >= {"'=1+1"}, "a formula-looking cell is quoted"
    assert "Camp" not in download.value.path().read_text(), "the CSV names no patient"


def test_given_supervisor_when_run_now_then_run_starts_and_is_audited(signed_in, console):
    _seed(console)
    page = signed_in("supervisor")
    page.goto(f"/campaigns/{NAME}")
    page.click("#run-now")
    page.wait_for_selector("#cp-notice")
    assert "run started" in page.inner_text("#cp-notice")
    assert "campaign_run" in console.audit_actions()


def test_given_admin_when_editing_yaml_with_error_then_line_shown_text_kept_and_valid_edit_bumps_version(
        signed_in, console, screenshot):
    _seed(console)
    page = signed_in("admin")
    page.goto(f"/campaigns/{NAME}")
    page.click("#edit-link")
    broken = SOURCE.replace("mode: progressive", "mode: telepathic")
    broken = broken.replace("title: Cardiology follow-up calls", "title: Edited title")
    page.fill("#source", broken)
    page.click("#save")
    page.wait_for_selector("#problems")
    problems = page.inner_text("#problems")
    assert "Line 7" in problems and "telepathic" in problems
    assert page.input_value("#source") == broken, "nothing typed is lost"
    assert page.locator(".cp-gutter .bad").inner_text().strip() == "7"
    screenshot(page, "campaign-edit-error")

    page.fill("#source", broken.replace("mode: telepathic", "mode: progressive"))
    page.click("#save")
    page.wait_for_url(f"**/campaigns/{NAME}")
    assert "version 2" in page.inner_text("#cp-notice")
    assert page.inner_text("#version") == "2"
    assert page.inner_text("h1") == "Edited title"
    assert "campaign_edited" in console.audit_actions()

    page.click("#toggle-enabled")
    page.wait_for_selector("#cp-notice")
    assert "off" in page.inner_text("#enabled-state")
    assert page.locator("#run-now").is_disabled()
    with console.services.db.session() as session:
        assert session.scalar(select(Campaign.enabled).where(Campaign.name == NAME)) is False


def test_given_admin_when_adding_and_removing_do_not_call_entries_then_list_and_audit_follow(
        signed_in, console, screenshot):
    _seed(console)
    page = signed_in("admin")
    page.goto(f"/campaigns/{NAME}")
    page.click("#dnc-link")
    page.fill("#number", "not a number")
    page.fill("#reason", "asked us on the phone")
    page.click("#dnc-add")
    assert "not a valid phone number" in page.inner_text("#dnc-error")
    assert page.input_value("#reason") == "asked us on the phone", "the typed reason is kept"

    page.fill("#number", "(415) 555-0123")
    page.click("#dnc-add")
    page.wait_for_selector("#cp-notice")
    page.fill("#mrn", "MRN-CP1")
    page.select_option("#campaign_kind", "satisfaction_survey")
    page.fill("#reason", "no surveys please")
    page.click("#dnc-add")
    page.wait_for_selector("#cp-notice")
    table = page.inner_text("#dnc-table")
    assert "+14155550123" in table and "MRN-CP1" in table and "satisfaction survey" in table
    screenshot(page, "campaign-dnc")

    entry = page.locator("#dnc-table tr", has_text="+14155550123")
    entry.locator("input[name=reason]").fill("added by mistake")
    entry.locator("button").click()
    page.wait_for_selector("#cp-notice")
    assert "+14155550123" not in page.inner_text("#dnc-table")
    with console.services.db.session() as session:
        left = session.scalars(select(DoNotCall)).all()
    assert [(d.e164, d.campaign_kind, d.source) for d in left] == [(None, "satisfaction_survey", "admin")]
    actions = console.audit_actions()
    assert actions.count("dnc_added") == 2 and actions.count("dnc_removed") == 1


def test_given_agent_when_opening_campaign_pages_then_refused(signed_in, console):
    _seed(console)
    page = signed_in("agent")
    for path in ("/campaigns", f"/campaigns/{NAME}", f"/campaigns/{NAME}/report.csv", "/do-not-call",
                 f"/campaigns/{NAME}/edit"):
        assert page.goto(path).status == 403, path
    assert page.locator("nav.mainnav >> text=Campaigns").count() == 0

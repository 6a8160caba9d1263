"""Follow-up questionnaires in the real browser (issue 16): the agent-guided form on the desk during a real
call through the sandbox Asterisk (skip logic live, a reload mid-form, an out-of-range answer shown on its
field, a red flag escalating through the triage panel), a paper sheet (created, printed, typed in) and the
designer (skip logic, a cycle shown on its field, a new version saved)."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from callcenter.db.models import FollowUpAnswer, FollowUpQuestionnaireVersion, User
from callcenter.followup.schema import load_bank, load_questionnaires

from .desk import DESK, add_patient, answered_call, open_desk, prepare_desk_for_calls
from .live import ROLE_USERS

PHONE = "+14155550177"
WOUND = "post_surgery_wound_check"


async def load_shipped(services) -> None:
    bank = load_bank()
    items = [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()]
    await services.questionnaires.load(bank, items)


def question(page: Page, code: str):
    return page.locator(f'#followup-items [data-code="{code}"]')


def answers(live, username: str) -> tuple[list[FollowUpAnswer], int]:
    with live.services.db.session() as session:
        rows = list(session.scalars(select(FollowUpAnswer).order_by(FollowUpAnswer.id)))
        session.expunge_all()
        return rows, session.scalar(select(User.id).where(User.username == username))


@pytest.mark.asterisk
def test_given_a_real_call_when_agent_fills_the_form_reloads_and_caller_hangs_up_then_answers_kept_flag_owed(
        live, signed_in, screenshot):
    live.run(load_shipped(live.services))
    add_patient(live, "MRN-FU2", PHONE)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    caller = answered_call(live, page, PHONE, "#followup")
    call_id = live.services.queues.agent(DESK).call_id

    page.select_option("#followup-questionnaire", WOUND)
    page.click("#btn-followup-start")
    expect(page.locator("#followup-review")).to_contain_text("requires clinical review")
    question(page, "wound_redness").locator('button[data-value="yes"]').click()
    question(page, "wound_discharge").locator('button[data-value="clear"]').click()
    expect(question(page, "wound_discharge").locator(".fu-answer")).to_have_text("A little clear fluid")
    expect(question(page, "body_temperature")).to_be_hidden()

    page.reload()  # mid-form: the answers come back from the server
    expect(question(page, "wound_redness").locator(".fu-answer")).to_have_text("Yes", timeout=30_000)
    expect(question(page, "wound_discharge").locator(".fu-answer")).to_have_text("A little clear fluid")
    question(page, "wound_opening").locator('button[data-value="no"]').click()
    question(page, "fever_since_discharge").locator('button[data-value="yes"]').click()
    temperature = question(page, "body_temperature")
    expect(temperature).to_be_visible()  # skip logic: fever and redness both said yes

    temperature.locator("input").fill("45")
    temperature.locator('button[data-value="Save"]').click()
    expect(temperature.locator(".field-error")).to_have_text("45 is out of range 34..43 °C")
    expect(temperature.locator("input")).to_have_attribute("aria-invalid", "true")
    expect(temperature.locator("input")).to_have_value("45")  # kept, to correct
    screenshot(page, "followup-desk-out-of-range")
    temperature.locator("input").fill("38.4")
    temperature.locator("input").press("Enter")
    expect(temperature.locator(".fu-answer")).to_have_text("38.4 °C")
    expect(question(page, "body_temperature").locator(".fu-red-flag")).to_contain_text("nurse now")

    # The red flag governs the call as a triage red flag does: the checklist's disposition and its buttons.
    expect(page.locator("#followup-flag")).to_be_visible()
    expect(page.locator("#triage-disposition")).to_be_visible()
    expect(page.locator("#disp-label")).to_contain_text("Nurse now")
    expect(page.locator("#btn-esc-callback")).to_be_visible()  # no nurse free: the urgent callback
    screenshot(page, "followup-desk-red-flag")

    rows, agent_user = answers(live, ROLE_USERS["agent"].username)
    assert [(a.question_code, a.value["value"], a.channel, a.agent_user_id, a.call_id) for a in rows] == [
        ("wound_redness", True, "console", agent_user, call_id),
        ("wound_discharge", "clear", "console", agent_user, call_id),
        ("wound_opening", False, "console", agent_user, call_id),
        ("fever_since_discharge", True, "console", agent_user, call_id),
        ("body_temperature", 38.4, "console", agent_user, call_id)]
    assert rows[-1].red_flag_disposition == "nurse_now"

    live.run(live.services.ari.hangup(caller.id))  # the patient hangs up mid-form
    expect(page.locator("#followup-ended")).to_be_visible(timeout=30_000)
    expect(question(page, "pain_score").locator('button[data-value="3"]')).to_be_disabled()
    expect(page.locator("#disp-ended")).to_be_visible()  # the triage panel: the escalation is still owed
    screenshot(page, "followup-desk-hung-up")


def test_given_a_paper_sheet_when_printed_and_typed_in_then_pdf_has_the_questions_and_answers_are_paper(
        console, signed_in, screenshot):
    console.run(load_shipped(console.services))
    add_patient(console, "MRN-FU3", "+14155550178", given="Olga", family="Petrova")
    page = signed_in("nurse", console)
    page.goto("/followup/paper")
    page.select_option("#paper-questionnaire", WOUND)
    page.fill("#paper-mrn", "MRN-FU3")
    page.click("#btn-paper-new")
    page.wait_for_url("**/followup/responses/*")
    assert "MRN-FU3" not in page.url

    pdf = page.request.get(page.locator("#sheet-pdf").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert "Olga Petrova" in text and "MRN-FU3" in text
    items = page.locator("#paper-items .fu-text")
    expect(items.first).to_be_visible()
    for shown in items.all_text_contents():
        words = shown.split(". ", 1)[1].split(" (")[0]  # "3. Text (limits)": the question's own words
        assert " ".join(words.split()) in text, shown

    pain = page.locator('#paper-items [data-code="pain_score"]')
    pain.locator('button[data-value="7"]').click()
    expect(pain.locator(".fu-answer")).to_have_text("7")
    redness = page.locator('#paper-items [data-code="wound_redness"]')
    redness.locator('button[data-value="no"]').click()
    expect(redness.locator(".fu-answer")).to_have_text("No")
    screenshot(page, "followup-paper-typed")
    rows, nurse_user = answers(console, ROLE_USERS["nurse"].username)
    assert [(a.question_code, a.channel, a.answered_by, a.agent_user_id, a.call_id) for a in rows] == [
        ("pain_score", "paper", "agent", nurse_user, None),
        ("wound_redness", "paper", "agent", nurse_user, None)]


def test_given_the_designer_when_a_cycle_is_saved_then_shown_on_its_field_and_fixed_it_saves_a_version(
        console, signed_in, screenshot):
    page = signed_in("nurse", console)
    page.goto("/followup/designer")
    page.fill("#d-id", "fever_check")
    page.fill("#d-version", "1")
    page.fill("#d-title-en", "Fever check")
    page.fill("#d-title-es", "Control de fiebre")
    page.fill("#d-source", "NHS.uk: High temperature (fever) in adults")
    for code in ("fever_since_discharge", "body_temperature"):
        page.select_option("#d-bank", code)
        page.click("#btn-d-add")
    temperature = page.locator('#d-questions li[data-code="body_temperature"]')
    temperature.locator(".d-add-condition").click()  # on the earlier question, fever_since_discharge
    temperature.locator(".d-cond-value").fill("yes")
    fever = page.locator('#d-questions li[data-code="fever_since_discharge"]')
    fever.locator(".d-add-condition").click()  # on itself: a cycle
    fever.locator(".d-cond-value").fill("yes")

    page.click("#btn-d-save")
    problem = fever.locator('[data-field="questions.0.show_if"] > .field-error')
    expect(problem).to_contain_text("cannot depend on its own answer (a cycle)")
    screenshot(page, "followup-designer-cycle")
    with console.services.db.session() as session:
        assert session.scalars(select(FollowUpQuestionnaireVersion)).all() == []

    fever.locator('[aria-label="Remove condition"]').click()
    page.click("#btn-d-save")
    expect(page.locator("#d-saved")).to_have_text(
        "Saved: fever_check version 1 (example content, requires clinical review).")
    screenshot(page, "followup-designer-saved")
    with console.services.db.session() as session:
        stored = session.scalar(select(FollowUpQuestionnaireVersion))
        assert stored.definition["items"][1]["show_if"] == [
            {"question": "fever_since_discharge", "op": "equals", "value": True}]

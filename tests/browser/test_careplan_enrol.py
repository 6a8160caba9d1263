"""Care-plan enrolment on the follow-up desk's page in the real browser (issue 16, item 3): a nurse enrols a
patient by MRN (a bad schedule shown on its field first, nothing stored), a second submit of the same plan is
refused on its field, and the plan is ended from a follow-up's preview; each step audited as the API's."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from callcenter.db.models import CarePlan
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import QuestionnaireService

from .desk import add_patient
from .live import ROLE_USERS
from .test_followup_desk import audits


def load_forms(app) -> None:
    bank = load_bank()
    items = [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()]
    app.run(QuestionnaireService(app.services.db).load(bank, items))


def plans(app) -> list[CarePlan]:
    with app.services.db.session() as session:
        return list(session.scalars(select(CarePlan).order_by(CarePlan.id)))


def fill_plan(page: Page, today: str, nurse: int) -> None:
    page.fill("#ep-mrn", "MRN-EP1")
    page.select_option("#ep-kind", "chronic")
    page.fill("#ep-condition", "COPD")
    page.fill("#ep-department", "Respiratory")
    page.fill("#ep-starts", today)
    page.select_option("#ep-questionnaire", "copd")
    page.select_option("#ep-channel", "agent")
    page.fill("#ep-tries", "2")
    page.select_option("#ep-nurse", str(nurse))


def field_error(page: Page, name: str):
    return page.locator(f'.ep-field[data-field="{name}"] .field-error')


def test_given_a_nurse_when_enrolling_with_a_bad_schedule_then_again_twice_then_one_plan_ended_from_the_desk(
        console, signed_in, screenshot):
    patient_id = add_patient(console, "MRN-EP1", "+14155550171")
    load_forms(console)
    today = console.services.careplans.clock().date().isoformat()
    nurse = console.user("nurse1").id
    page = signed_in("nurse", console)
    page.goto("/followups")

    fill_plan(page, today, nurse)
    page.select_option("#ep-schedule-kind", "rrule")
    page.fill("#ep-rrule", "FREQ=HOURLY")
    page.click("#btn-ep-enrol")
    expect(field_error(page, "schedule")).to_contain_text("planned by day")
    screenshot(page, "careplan-enrol-bad-schedule")
    expect(page.locator("#ep-every-label")).to_be_hidden()
    assert plans(console) == []

    page.select_option("#ep-schedule-kind", "every")
    page.fill("#ep-every", "14")
    page.click("#btn-ep-enrol")
    expect(page.locator("#fu-message")).to_contain_text("enrolled")
    expect(field_error(page, "schedule")).to_be_hidden()
    [plan] = plans(console)
    signed_in_nurse = console.user(ROLE_USERS["nurse"].username).id
    assert (plan.patient_id, plan.condition, plan.schedule, plan.questionnaire_code, plan.channel,
            plan.nurse_user_id, plan.max_tries, plan.created_by_user_id) == (
        patient_id, "COPD", "FREQ=DAILY;INTERVAL=14", "copd", "agent", nurse, 2, signed_in_nurse)
    [enrolled] = audits(console, "care_plan_enrolled")
    assert (enrolled.patient_id, enrolled.actor_user_id) == (patient_id, signed_in_nurse)

    # The same plan sent again (the form is empty after a success: filled in again): refused on its field.
    fill_plan(page, today, nurse)
    page.click("#btn-ep-enrol")
    expect(field_error(page, "condition")).to_contain_text("already has an active care plan")
    assert len(plans(console)) == 1

    # Ended from the preview of its first follow-up (due today): withdrawn, audited.
    console.run(console.services.careplans.plan())
    page.goto("/followups")
    page.locator("#fu-list tr", has_text="Ada Lovelace").get_by_role("button").click()
    page.select_option("#fu-end-reason", "patient_request")
    page.click("#btn-fu-end")
    expect(page.locator("#fu-message")).to_contain_text(f"Care plan {plan.id} ended")
    expect(page.locator("#fu-empty")).to_be_visible()
    assert [(p.status, p.end_reason) for p in plans(console)] == [("ended", "patient_request")]
    assert [a.actor_user_id for a in audits(console, "care_plan_ended")] == [signed_in_nurse]

"""The follow-up desk in the real browser: a care plan's follow-up on the work list, its preview (patient
summary and questionnaire before any call), a REAL call placed through the console's click-to-dial on the
sandbox Asterisk, the outcome recorded; unreachable with a retry, escalation out of the agent's list, a
reschedule and a reload mid-flow (no Asterisk)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from callcenter.careplans.services import Enrolment
from callcenter.db.models import AuditEvent, Call, CarePlanFollowUp
from callcenter.db.queries import AuditActor
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import QuestionnaireService

from .desk import DESK, add_patient, api, bridged, live_call, open_desk, prepare_desk_for_calls
from .live import wait_until

PHONE = "+14155550166"


def enrol(app, patient_id: int, max_tries: int = 3) -> int:
    """Questionnaires loaded, the patient in a monthly plan from today, planned: one follow-up due now."""
    services = app.services
    bank = load_bank()
    items = [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()]
    app.run(QuestionnaireService(services.db).load(bank, items))
    nurse = app.user("nurse1").id
    today = services.careplans.clock().date()
    plan_id = app.run(services.careplans.enrol(Enrolment(
        patient_id=patient_id, condition="Heart failure", department="Cardiology", starts_on=today,
        schedule="monthly", questionnaire="hypertension", channel="agent", nurse_user_id=nurse,
        max_tries=max_tries), AuditActor(app.user("supervisor1").id)))
    app.run(services.careplans.plan())
    return plan_id


def followup(app) -> CarePlanFollowUp:
    with app.services.db.session() as session:
        return session.scalars(select(CarePlanFollowUp)).one()


def audits(app, action: str) -> list[AuditEvent]:
    with app.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def open_preview(page: Page, name: str = "Ada Lovelace") -> None:
    page.goto("/followups")
    row = page.locator("#fu-list tr", has_text=name)
    expect(row).to_have_count(1)
    row.get_by_role("button", name=name).click()
    expect(page.locator("#fu-patient-name")).to_have_text(name)


@pytest.mark.asterisk
def test_given_a_due_follow_up_when_previewed_and_called_then_a_real_call_bridges_and_the_outcome_is_kept(
        live, signed_in, screenshot):
    patient_id = add_patient(live, "MRN-FU1", PHONE)
    enrol(live, patient_id)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    page.keyboard.press("p")
    expect(page.locator("#state-pill")).to_have_text("Paused · Break")   # click-to-dial needs a pause

    open_preview(page)
    expect(page.locator("#fu-phone")).to_have_text(PHONE)
    expect(page.locator("#fu-allergies")).to_have_text("Penicillin")
    expect(page.locator("#fu-questions li").first).to_be_visible()
    expect(page.locator("#fu-review")).to_contain_text("clinical review")
    assert [a.patient_id for a in audits(live, "care_followup_preview")] == [patient_id]
    with live.services.db.session() as session:
        assert session.scalars(select(Call)).all() == []       # the preview places no call
    screenshot(page, "followup-desk-preview")

    page.click("#btn-fu-call")
    expect(page.locator("#fu-call-status")).to_contain_text(f"Calling from desk {DESK}")
    call_id = wait_until(lambda: followup(live).last_call_id, 15, "the follow-up names its call")
    with live.services.db.session() as session:
        row = session.get(Call, call_id)
    assert row.direction == "outbound" and row.patient_id == patient_id and row.caller_e164 == PHONE
    call = live_call(live, call_id)
    wait_until(lambda: call.legs.agent_channel_id
               and bridged(live, call.legs.agent_channel_id, call.channel.id), 60,
               "the agent's phone bridged with the patient's")
    api(live, "POST", f"/api/calls/{call_id}/hangup")

    page.select_option("#fu-outcome", "completed")
    page.click("#btn-fu-outcome")
    expect(page.locator("#fu-message")).to_have_text(f"Follow-up {followup(live).id}: completed")
    expect(page.locator("#fu-empty")).to_be_visible()
    done = followup(live)
    assert done.status == "completed" and done.last_call_id == call_id
    [outcome] = audits(live, "care_followup_outcome")
    assert outcome.call_id == call_id and outcome.patient_id == patient_id


def test_given_an_unreachable_patient_when_tried_twice_then_escalated_off_the_agents_list_onto_the_nurses(
        console, signed_in):
    patient_id = add_patient(console, "MRN-FU2", PHONE)
    enrol(console, patient_id, max_tries=2)
    page = signed_in("agent", console)

    open_preview(page)
    page.select_option("#fu-outcome", "unreachable")
    page.click("#btn-fu-outcome")
    expect(page.locator("#fu-message")).to_contain_text(": pending")
    page.select_option("#fu-view", "upcoming")               # tried again tomorrow
    page.click("#fu-filters button[type=submit]")
    page.locator("#fu-list tr", has_text="Ada Lovelace").get_by_role("button").click()
    page.reload()                                            # a reload mid-flow: the list is the server's
    page.select_option("#fu-view", "all")
    page.click("#fu-filters button[type=submit]")
    page.locator("#fu-list tr", has_text="Ada Lovelace").get_by_role("button").click()
    expect(page.locator("#fu-plan-line")).to_contain_text("try 2")
    page.select_option("#fu-outcome", "unreachable")
    page.click("#btn-fu-outcome")

    expect(page.locator("#fu-message")).to_contain_text(": escalated")
    expect(page.locator("#fu-empty")).to_be_visible()
    assert followup(console).escalated_to_user_id == console.user("nurse1").id
    nurse = signed_in("nurse", console)
    nurse.goto("/followups")
    nurse.select_option("#fu-view", "escalated")
    nurse.click("#fu-filters button[type=submit]")
    expect(nurse.locator("#fu-list tr", has_text="Ada Lovelace")).to_contain_text("escalated")


def test_given_a_follow_up_when_rescheduled_in_the_browser_then_it_leaves_today_for_that_day(
        console, signed_in):
    patient_id = add_patient(console, "MRN-FU3", PHONE)
    enrol(console, patient_id)
    page = signed_in("agent", console)
    open_preview(page)

    page.fill("#fu-when", "2030-01-15T10:30")
    page.click("#btn-fu-reschedule")

    expect(page.locator("#fu-message")).to_have_text(f"Follow-up {followup(console).id} rescheduled to "
                                                     "2030-01-15 10:30")
    expect(page.locator("#fu-empty")).to_be_visible()        # no longer due today
    page.select_option("#fu-view", "upcoming")
    page.click("#fu-filters button[type=submit]")
    expect(page.locator("#fu-list tr", has_text="Ada Lovelace")).to_contain_text("2030-01-15 10:30")
    assert followup(console).due_at.date() == date(2030, 1, 15)

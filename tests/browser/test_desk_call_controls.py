"""The desk's call-control buttons in the real browser, on real calls through the sandbox Asterisk: hold and
resume (button and H), blind transfer to a queue, warm transfer to an agent, hang up (X), and click-to-dial
from the patient card. What the agent sees is checked on the page, what happened in the call is asked of the
API and of Asterisk itself (bridges)."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from callcenter.complaints import serial
from callcenter.db.models import Call, CallEvent, CallSurvey, Complaint, PatientFlag

from .desk import (
    DESK,
    add_patient,
    api,
    bridged,
    call_reaches_desk,
    call_state,
    live_call,
    open_desk,
    prepare_desk_for_calls,
)
from .live import wait_until

pytestmark = pytest.mark.asterisk

PHONE = "+14155550177"
SECOND_DESK = "1001"  # a demo scheduler (skills general, results) on an auto-answer phone


def connected_call(live, page: Page) -> tuple[str, str]:
    """A known (VIP) patient's call taken by the desk (auto-answer phone) with the identity confirmed:
    (call id, the caller's channel in the product's app: the other half of the Local channel placed)."""
    patient_id = add_patient(live, "MRN-CTRL1", PHONE)
    with live.services.db.session() as session:
        session.add(PatientFlag(patient_id=patient_id, flag="vip", note="Board member"))
    prepare_desk_for_calls(live, "auto")
    open_desk(page)
    call_reaches_desk(live, page, PHONE, "#identity-check")
    # The pop names the candidate and its flag codes; the record (allergies) waits for the identity check.
    expect(page.locator("#id-flags")).to_have_text("vip")
    expect(page.locator("#identity-check")).not_to_contain_text("Board member")
    expect(page.locator("#record")).to_be_hidden()
    page.click("#btn-confirm")
    expect(page.locator("#record")).to_contain_text("Penicillin")
    expect(page.locator("#record-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#call-state")).to_have_text("Connected", timeout=30_000)
    call_id = live.services.queues.agent(DESK).call_id
    assert call_state(live, call_id) == "connected"
    return call_id, live_call(live, call_id).channel.id


def expect_wrapup(page: Page, label: str) -> None:
    expect(page.locator("#call-state")).to_have_text(label, timeout=15_000)
    expect(page.locator("#wrapup")).to_be_visible(timeout=15_000)
    expect(page.locator("#state-pill")).to_have_text("Wrap-up")
    for button in ("#btn-hold", "#btn-blind", "#btn-warm", "#btn-hangup"):
        expect(page.locator(button)).to_be_disabled()


def test_given_connected_call_when_agent_holds_with_button_and_h_then_held_and_resumed(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, caller = connected_call(live, page)

    screenshot(page, "desk-call-connected")
    page.click("#btn-hold")
    expect(page.locator("#call-state")).to_have_text("On hold")
    expect(page.locator("#btn-unhold")).to_be_visible()
    expect(page.locator("#btn-hold")).to_be_hidden()
    assert call_state(live, call_id) == "held"
    screenshot(page, "desk-call-held")
    page.click("#btn-unhold")
    expect(page.locator("#call-state")).to_have_text("Connected")
    assert call_state(live, call_id) == "connected"

    page.locator("#main").focus()
    page.keyboard.press("h")
    expect(page.locator("#call-state")).to_have_text("On hold")
    assert call_state(live, call_id) == "held"
    page.keyboard.press("h")
    expect(page.locator("#call-state")).to_have_text("Connected")
    assert call_state(live, call_id) == "connected"
    agent_leg = live_call(live, call_id).legs.agent_channel_id
    assert bridged(live, caller, agent_leg), "agent and caller still bridged"
    expect(page.locator("#desk-error")).to_be_hidden()


def test_given_connected_call_when_blind_transfer_to_queue_then_second_desk_takes_it_and_first_wraps_up(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, caller = connected_call(live, page)
    api(live, "POST", f"/api/agents/{SECOND_DESK}/state", {"state": "available"})

    page.select_option("#transfer-target", "general")
    page.click("#btn-blind")
    expect_wrapup(page, "Transferred")
    screenshot(page, "desk-call-transferred")

    call = live_call(live, call_id)
    wait_until(lambda: call.agent is not None and call.agent.number == SECOND_DESK
               and bridged(live, caller, call.legs.agent_channel_id), 30, "the caller bridged with desk 1001")
    assert live.services.queues.agent(SECOND_DESK).state == "on_call"
    assert call_state(live, call_id) == "connected"
    expect(page.locator("#desk-error")).to_be_hidden()


def test_given_connected_call_when_warm_transfer_to_agent_and_complete_then_caller_with_that_agent(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, caller = connected_call(live, page)
    api(live, "POST", f"/api/agents/{SECOND_DESK}/state", {"state": "available"})

    page.fill("#transfer-agent", SECOND_DESK)
    page.click("#btn-warm")
    expect(page.locator("#call-state")).to_have_text(f"Consulting {SECOND_DESK}")
    expect(page.locator("#btn-complete")).to_be_visible()
    expect(page.locator("#btn-cancel")).to_be_visible()
    assert call_state(live, call_id) == "consulting"
    wait_until(lambda: live.services.queues.agent(SECOND_DESK).state == "on_call", 30, "desk 1001 to answer")
    screenshot(page, "desk-call-consulting")

    page.click("#btn-complete")
    expect_wrapup(page, "Transferred")
    call = live_call(live, call_id)
    wait_until(lambda: call.agent.number == SECOND_DESK and bridged(live, caller, call.legs.agent_channel_id),
               15,
               "the caller bridged with desk 1001")
    assert call_state(live, call_id) == "connected"
    expect(page.locator("#desk-error")).to_be_hidden()


def test_given_connected_call_when_agent_presses_x_then_call_ends_and_wrapup_required(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, caller = connected_call(live, page)

    page.locator("#main").focus()
    page.keyboard.press("x")
    expect_wrapup(page, "Ended")
    screenshot(page, "desk-call-hung-up")
    wait_until(lambda: call_state(live, call_id) == "ended", 15, "the call to end")
    with live.services.db.session() as session:
        row = session.get(Call, call_id)
        assert (row.status, row.end_reason) == ("ended", "agent_hangup")


def test_given_patient_card_when_agent_clicks_call_then_agent_and_patient_bridged_outbound(
        live, signed_in, screenshot):
    patient_id = add_patient(live, "MRN-DIAL1", PHONE)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    page.keyboard.press("p")
    expect(page.locator("#state-pill")).to_have_text("Paused · Break")
    page.fill("#search-mrn", "MRN-DIAL1")
    page.click("#search-form button[type=submit]")
    page.locator("#search-results button").click()
    expect(page.locator("#record-name")).to_have_text("Ada Lovelace")

    page.locator("#record .phone button", has_text="Call").click()
    expect(page.locator("#call-state")).to_have_text("Connected", timeout=30_000)
    expect(page.locator("#pop-caller")).to_have_text(PHONE)
    expect(page.locator("#btn-survey")).to_be_disabled()  # the survey after the call is for inbound callers
    screenshot(page, "desk-outbound-connected")
    with live.services.db.session() as session:
        [row] = session.scalars(select(Call).where(Call.direction == "outbound")).all()
    assert row.patient_id == patient_id and row.caller_e164 == PHONE
    call = live_call(live, row.id)
    wait_until(lambda: bridged(live, call.legs.agent_channel_id, call.channel.id), 15,
               "the agent's phone bridged with the simulated patient")
    assert call_state(live, row.id) == "connected"

    page.click("#btn-hangup")
    expect_wrapup(page, "Ended")


def test_given_connected_call_when_agent_asks_for_the_survey_and_hangs_up_then_the_caller_is_surveyed(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, _ = connected_call(live, page)
    expect(page.locator("#btn-survey")).to_be_enabled()

    page.click("#btn-survey")
    expect(page.locator("#btn-survey")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#btn-survey")).to_be_disabled()
    screenshot(page, "desk-call-survey-asked")
    page.click("#btn-hangup")

    # The agent is done at once (wrap-up) while the caller is asked the survey's questions.
    expect_wrapup(page, "Ended")
    assert call_state(live, call_id) == "surveying"
    expect(page.locator("#btn-survey")).to_be_disabled()
    # The simulated caller presses nothing: both questions go unanswered and the survey ends the call.
    wait_until(lambda: call_state(live, call_id) == "ended", 120, "the survey to end the call")
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        [survey] = session.scalars(select(CallSurvey)).all()
        types = list(session.scalars(select(CallEvent.type).where(CallEvent.call_id == call_id)
                                     .order_by(CallEvent.id)))
    assert (survey.call_id, survey.agent_id, survey.queue_name) == (
        call_id, live.services.queues.agent(DESK).id, "results")
    assert (survey.satisfaction, survey.resolved) == (None, None)
    assert types.count("survey_requested") == 1
    assert types.index("survey_started") < types.index("survey_ended") < types.index("ended")
    expect(page.locator("#desk-error")).to_be_hidden()


def test_given_connected_call_when_agent_opens_a_ticket_then_its_serial_shows_and_is_read_to_the_caller(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, caller = connected_call(live, page)

    page.click("#ticket-box summary")
    page.select_option("#ticket-category", "waiting_time")
    page.select_option("#ticket-department", "radiology")
    page.fill("#ticket-text", "Waited <b>four</b> hours for the scan.")
    page.click("#btn-ticket")

    result = page.locator("#ticket-result")
    expect(result).to_contain_text("being read to the caller")
    number = result.get_attribute("data-serial")
    assert serial.is_valid(number)
    expect(result).to_contain_text(serial.display(number))
    screenshot(page, "desk-ticket-from-call")
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        ticket = session.scalars(select(Complaint)).one()
        read = session.scalars(select(CallEvent).where(CallEvent.call_id == call_id,
                                                       CallEvent.type == "ticket_read_out")).one()
    assert (ticket.serial, ticket.call_id, ticket.channel) == (number, call_id, "phone")
    assert ticket.text == "Waited <b>four</b> hours for the scan." and read.data["complaint_id"] == ticket.id
    assert call_state(live, call_id) == "connected"
    agent_leg = live_call(live, call_id).legs.agent_channel_id
    assert bridged(live, caller, agent_leg), "agent and caller still bridged"
    expect(page.locator("#desk-error")).to_be_hidden()

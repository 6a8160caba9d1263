"""An escalation owed when the caller hangs up (issue 13, defect 3), in the real browser on a real call
through the sandbox Asterisk: the panel keeps the owed escalation and offers what still works (an urgent
callback, or recording that the emergency service was reached by other means), also after a reload; once one
is done the agent finishes the wrap-up. And with no nurse free, a "nurse now" offers only what works without
one (defect 4)."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from callcenter.db.models import AuditEvent, Callback, CallEvent, Disposition

from .desk import DESK, add_patient, answered_call, open_desk, prepare_desk_for_calls
from .live import wait_until
from .test_triage_console import NURSE_DESK, PHONE, connected_call_with_red_flag

pytestmark = pytest.mark.asterisk


def caller_hangs_up(console, call) -> None:
    """The caller's phone hangs up (a real hang-up of their channel): the desk goes to wrap-up."""
    console.run(console.services.ari.hangup(call.channel.id))
    wait_until(lambda: console.services.queues.agent(DESK).state == "wrapup", 30, "the desk in wrap-up")


def expect_task_choices(page: Page) -> None:
    expect(page.locator("#triage")).to_be_visible(timeout=15_000)
    expect(page.locator("#disp-ended")).to_be_visible(timeout=15_000)
    expect(page.locator("#btn-esc-callback")).to_be_visible()
    expect(page.locator("#other-means-form")).to_be_visible()
    for gone in ("#btn-esc-emergency", "#btn-esc-nurse", "#btn-esc-read", "#triage-pick"):
        expect(page.locator(gone)).to_be_hidden()


def finish_wrapup(page: Page) -> None:
    page.select_option("#disposition-code", "referred_emergency")
    page.fill("#disposition-notes", "Red flag; the caller hung up.")
    page.click("#btn-save-available")
    expect(page.locator("#state-pill")).to_have_text("Available", timeout=10_000)


def test_given_an_emergency_owed_when_the_caller_hangs_up_then_after_a_reload_reached_otherwise_ends_wrapup(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, call = connected_call_with_red_flag(live, page)

    caller_hangs_up(live, call)

    expect_task_choices(page)
    page.reload()   # the console forgot the panel; the server did not
    expect_task_choices(page)
    expect(page.locator("#disp-label")).to_contain_text("emergency")
    screenshot(page, "triage-owed-after-hangup")
    page.fill("#other-means-reason", "Her son called the emergency number from home; ambulance on the way")
    page.click("#btn-other-means")
    expect(page.locator("#disp-status")).to_contain_text("reached by other means")
    expect(page.locator("#other-means-form")).to_be_hidden()
    finish_wrapup(page)

    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        [performed] = session.scalars(select(CallEvent).where(CallEvent.call_id == call_id,
                                                              CallEvent.type == "escalation_performed")).all()
        [audit] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "triage_escalation_other_means")).all()
        [saved] = session.scalars(select(Disposition)).all()
    assert performed.data["by"] == "other_means" and audit.call_id == call_id == saved.call_id


def test_given_an_emergency_owed_when_the_caller_hangs_up_then_an_urgent_callback_frees_the_desk(
        live, signed_in, screenshot):
    page = signed_in("agent", live)
    call_id, call = connected_call_with_red_flag(live, page)
    caller_hangs_up(live, call)
    expect_task_choices(page)
    page.click("#btn-save-available")   # the wrap-up is refused while the escalation is owed
    page.select_option("#disposition-code", "referred_emergency")
    page.fill("#disposition-notes", "Red flag; the caller hung up.")
    page.click("#btn-save-available")
    expect(page.locator("#state-pill")).to_have_text("Wrap-up")

    page.click("#btn-esc-callback")

    expect(page.locator("#disp-status")).to_contain_text("Urgent callback made")
    expect(page.locator("#btn-esc-callback")).to_be_hidden()
    page.reload()
    expect(page.locator("#disp-status")).to_contain_text("dialing the patient", timeout=15_000)
    expect(page.locator("#disp-ended")).to_be_hidden()
    screenshot(page, "triage-urgent-callback-made")
    finish_wrapup(page)
    with live.services.db.session() as session:
        [callback] = session.scalars(select(Callback)).all()
    assert (callback.origin_call_id, callback.urgent, callback.phone_e164) == (call_id, True, PHONE)


def test_given_nurse_now_and_no_nurse_free_when_the_red_flag_shows_then_only_what_works_is_offered(
        live, signed_in, screenshot):
    add_patient(live, "MRN-TRI2", PHONE)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    answered_call(live, page, PHONE)
    page.select_option("#triage-protocol", "chest_pain")
    page.click("#btn-triage-start")
    for question in (2, 3, 4, 5):
        page.click("#btn-no")
        expect(page.locator("#triage-count")).to_contain_text(f"Question {question} of")
    page.click("#btn-yes")  # pain that has gone now: nurse now, and no nurse is free

    expect(page.locator("#disp-label")).to_contain_text("Nurse now")
    expect(page.locator("#btn-esc-callback")).to_be_visible()
    expect(page.locator("#btn-esc-emergency")).to_be_visible()
    expect(page.locator("#btn-esc-nurse")).to_be_hidden()
    expect(page.locator("#btn-esc-read")).to_be_hidden()
    screenshot(page, "triage-no-nurse-free")
    page.click("#btn-esc-callback")
    expect(page.locator("#disp-status")).to_contain_text("Urgent callback made")


def test_given_a_nurse_with_an_emergency_owed_when_the_caller_hangs_up_then_after_a_reload_she_can_override(
        live, signed_in, screenshot):
    """Defect 3's last part: after a reload the nurse's override form was not shown at all."""
    add_patient(live, "MRN-TRI3", PHONE)
    nurse = live.services.queues.agent(NURSE_DESK)
    nurse.skills = frozenset({"general", "results"})
    nurse.endpoint = f"Local/auto-{NURSE_DESK}@agent-phones/n"
    page = signed_in("nurse", live)
    open_desk(page)
    answered_call(live, page, PHONE)
    page.select_option("#triage-protocol", "chest_pain")
    page.click("#btn-triage-start")
    page.click("#btn-no")
    expect(page.locator("#triage-count")).to_contain_text("Question 2 of")
    page.click("#btn-yes")  # the red flag: call the emergency number now
    expect(page.locator("#disp-label")).to_contain_text("emergency")
    call_id = nurse.call_id
    live.run(live.services.ari.hangup(live.services.router.find(call_id).channel.id))
    wait_until(lambda: nurse.state == "wrapup", 30, "the nurse desk in wrap-up")

    page.reload()

    expect(page.locator("#override-form")).to_be_visible(timeout=15_000)
    expect(page.locator("#btn-esc-callback")).to_be_visible()
    screenshot(page, "triage-nurse-override-after-reload")
    page.fill("#override-reason", "Spoke to her GP: pain reproduced on palpation, known costochondritis")
    page.click("#btn-override")
    expect(page.locator("#disp-status")).to_contain_text("overridden by a nurse")
    expect(page.locator("#override-form")).to_be_hidden()
    finish_wrapup(page)
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        [overridden] = session.scalars(select(CallEvent).where(
            CallEvent.call_id == call_id, CallEvent.type == "escalation_overridden")).all()
        [audit] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "triage_escalation_override")).all()
    assert overridden.data["disposition"] and audit.call_id == call_id

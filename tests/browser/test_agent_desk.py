"""The agent desk in the real browser: status, a real call's screen pop before answer, identity check,
audited record, required disposition; patient search (no Asterisk)."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from callcenter.db.models import Call, Disposition

from .desk import (
    DESK,
    add_patient,
    audits,
    call_reaches_desk,
    go_available,
    hotline_call,
    open_desk,
    prepare_desk_for_calls,
)
from .live import ROLE_USERS, wait_until

PHONE = "+14155550188"


@pytest.mark.asterisk
def test_given_available_agent_when_known_patient_calls_then_pop_before_answer_identity_audit_and_disposition(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    patient_id = add_patient(live, "MRN-DESK1", PHONE)
    prepare_desk_for_calls(live)
    page = signed_in("agent", live)
    open_desk(page)
    go_available(page)
    screenshot(page, "desk-available")

    caller = hotline_call(live, PHONE)
    expect(page.locator("#identity-check")).to_be_visible(timeout=90_000)

    # Still ringing: the agent's phone has not answered, and the record is not shown yet.
    assert live.services.queues.agent(DESK).state == "ringing"
    expect(page.locator("#id-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#pop-queue")).to_have_text("results")
    expect(page.locator("#pop-ivr")).to_contain_text("Test results")
    expect(page.locator("#record")).to_be_hidden()
    screenshot(page, "desk-pop-ringing")
    assert live.services.queues.agent(DESK).state == "ringing", "the pop must be on screen before answer"

    page.click("#btn-confirm")
    expect(page.locator("#record-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#record")).to_contain_text("Penicillin")
    call_id = live.services.queues.agent(DESK).call_id
    viewed = audits(live, "patient_viewed")
    assert [(a.patient_id, a.call_id, a.detail["via"]) for a in viewed] == [(patient_id, call_id, "pop")]

    wait_until(lambda: live.services.queues.agent(DESK).state == "on_call", 30, "the agent's phone to answer")
    expect(page.locator("#call-state")).to_have_text("Connected")
    screenshot(page, "desk-record-connected")
    live.run(live.services.ari.hangup(caller.id))  # the patient hangs up

    expect(page.locator("#wrapup")).to_be_visible(timeout=15_000)
    expect(page.locator("#state-pill")).to_have_text("Wrap-up")
    page.locator("#main").focus()
    page.keyboard.press("a")  # not before the disposition
    expect(page.locator("#desk-error")).to_contain_text("409")
    expect(page.locator("#desk-error")).to_contain_text("disposition")
    screenshot(page, "desk-wrapup-required")

    page.keyboard.press("d")
    expect(page.locator("#disposition-code")).to_be_focused()
    page.select_option("#disposition-code", "results_given")
    page.fill("#disposition-notes", "Explained the blood test results; no follow-up needed.")
    page.click("#btn-save-available")
    expect(page.locator("#state-pill")).to_have_text("Available")
    expect(page.locator("#wrapup")).to_be_hidden()
    screenshot(page, "desk-after-disposition")

    with live.services.db.session() as session:
        [row] = session.scalars(select(Disposition)).all()
        call = session.get(Call, call_id)
    assert (row.call_id, row.code, row.patient_id) == (call_id, "results_given", patient_id)
    assert call.answered_at is not None and call.patient_id == patient_id


def test_given_unknown_caller_when_agent_searches_by_mrn_then_opens_audited_record(
        console, signed_in, screenshot):
    page = signed_in("agent", console)
    open_desk(page)
    page.keyboard.press("/")
    expect(page.locator("#search-name")).to_be_focused()
    page.fill("#search-mrn", "MRN100001")
    page.click("#search-form button[type=submit]")
    result = page.locator("#search-results button")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("Emily Johnson")
    screenshot(page, "desk-search")
    result.click()
    expect(page.locator("#record-name")).to_have_text("Emily Johnson")
    screenshot(page, "desk-search-record")

    searches = audits(console, "patient_search")
    assert searches[0].detail["fields"] == ["mrn"] and "MRN100001" not in str(searches[0].detail)
    assert [a.detail["via"] for a in audits(console, "patient_viewed")] == ["search"]


def test_given_a_stale_search_result_when_opened_then_only_a_written_break_the_glass_reason_opens_it_audited(
        console_searches_lapse, signed_in, screenshot):
    live = console_searches_lapse
    page = signed_in("agent", live)
    open_desk(page)
    page.fill("#search-mrn", "MRN100001")
    page.click("#search-form button[type=submit]")
    page.locator("#search-results button").click()

    # Refused as a search result: the desk offers the glass, and shows nothing of the record.
    expect(page.locator("#break-glass")).to_contain_text("not open to you")
    expect(page.locator("#glass-reason")).to_be_focused()
    expect(page.locator("#record-name")).to_have_count(0)
    screenshot(page, "desk-break-glass")
    page.fill("#glass-reason", "   ")  # blank: the server wants words
    page.click("#btn-break-glass")
    expect(page.locator("#desk-error")).to_contain_text("reason")
    expect(page.locator("#record-name")).to_have_count(0)

    why = "caller cut off mid-call, urgent lab result to pass on"
    page.fill("#glass-reason", why)
    page.click("#btn-break-glass")
    expect(page.locator("#record-name")).to_have_text("Emily Johnson")
    expect(page.locator("#glass-notice")).to_contain_text("breaking the glass")
    screenshot(page, "desk-break-glass-record")

    agent = live.user(ROLE_USERS["agent"].username)
    [glass] = audits(live, "patient_break_glass")
    assert (glass.actor_user_id, glass.actor_agent_id, glass.reason, glass.detail) == (
        agent.id, live.services.queues.agent(DESK).id, why, {"via": "break_glass"})
    assert audits(live, "patient_viewed") == [], "the refused view showed nothing and logged no view"


def test_given_desk_when_pressing_question_mark_then_shortcuts_listed(console, signed_in, screenshot):
    page = signed_in("agent", console)
    open_desk(page)
    page.keyboard.press("?")
    dialog = page.locator("dialog.shortcuts-dialog")
    expect(dialog).to_be_visible()
    for text in ("Go available", "Hang up", "Identity confirmed", "Go to the disposition",
                 "Search for a patient"):
        expect(dialog).to_contain_text(text)
    screenshot(page, "desk-shortcuts")
    page.keyboard.press("Escape")
    page.keyboard.press("p")
    expect(page.locator("#state-pill")).to_have_text("Paused · Break")


@pytest.mark.asterisk
def test_given_pop_on_screen_when_agent_reloads_while_ringing_then_pop_shown_again_and_call_followed(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    patient_id = add_patient(live, "MRN-DESK3", PHONE)
    prepare_desk_for_calls(live)
    page = signed_in("agent", live)
    open_desk(page)
    caller = call_reaches_desk(live, page, PHONE, "#identity-check")

    page.reload()   # the slow phone still rings: the reloaded console must not lose who is calling

    expect(page.locator("#id-name")).to_have_text("Ada Lovelace", timeout=10_000)
    assert live.services.queues.agent(DESK).state == "ringing", "the pop must come back before answer"
    screenshot(page, "desk-pop-after-reload")
    wait_until(lambda: live.services.queues.agent(DESK).state == "on_call", 30, "the agent's phone to answer")
    expect(page.locator("#call-state")).to_have_text("Connected")
    page.reload()   # connected: the pop and the call's state come back
    expect(page.locator("#id-name")).to_have_text("Ada Lovelace", timeout=10_000)
    expect(page.locator("#call-state")).to_have_text("Connected")
    live.run(live.services.ari.hangup(caller.id))

    pops = audits(live, "screen_pop")
    assert [(a.patient_id, bool(a.detail.get("replayed"))) for a in pops] == [
        (patient_id, False), (patient_id, True), (patient_id, True)]


@pytest.mark.asterisk
def test_given_a_desk_in_wrapup_when_the_agent_reloads_then_the_ended_call_with_its_disposition_and_script(
        live, signed_in, screenshot):
    """The bug: a reload in wrap-up showed 'No call' and the script select's first entry (Chronic check)."""
    patient_id = add_patient(live, "MRN-DESK4", PHONE)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    caller = call_reaches_desk(live, page, PHONE, "#identity-check")
    call_id = live.services.queues.agent(DESK).call_id
    expect(page.locator("#call-state")).to_have_text("Connected", timeout=30_000)
    live.run(live.services.ari.hangup(caller.id))  # the patient hangs up
    expect(page.locator("#wrapup")).to_be_visible(timeout=15_000)

    page.reload()

    expect(page.locator("#state-pill")).to_have_text("Wrap-up", timeout=10_000)
    expect(page.locator("#no-call")).to_be_hidden()
    expect(page.locator("#call-state")).to_have_text("Ended")
    expect(page.locator("#pop-queue")).to_have_text("results")
    expect(page.locator("#pop-ivr")).to_contain_text("Test results")
    expect(page.locator("#id-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#wrapup")).to_be_visible()
    expect(page.locator("#script-type")).to_have_value("results")  # the results queue's own script
    expect(page.locator("#script-steps li").first).to_contain_text("Ada Lovelace")
    screenshot(page, "desk-wrapup-after-reload")
    page.select_option("#disposition-code", "results_given")
    page.fill("#disposition-notes", "Gave the results; reloaded the console during wrap-up.")
    page.click("#btn-save-available")
    expect(page.locator("#state-pill")).to_have_text("Available")
    expect(page.locator("#no-call")).to_be_visible()

    with live.services.db.session() as session:
        [row] = session.scalars(select(Disposition)).all()
    assert (row.call_id, row.code, row.patient_id) == (call_id, "results_given", patient_id)
    pops = audits(live, "screen_pop")
    assert [(a.patient_id, a.detail.get("replayed", False), a.detail.get("ended", False)) for a in pops] == [
        (patient_id, False, False), (patient_id, True, True)]


class SlowDeskSnapshot:
    """Holds the desk's snapshot (GET /api/agents/<desk>/desk) on its way to the page: it is read from the
    server when asked for, and delivered only when the test says so, as a loaded server or network would."""

    def __init__(self, page: Page):
        self.page = page
        self.held: list = []
        page.route(f"**/api/agents/{DESK}/desk", self._hold)

    def _hold(self, route) -> None:
        self.held.append((route, route.fetch()))  # the snapshot as the server had it when the page asked

    def wait_asked(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.held:  # Playwright runs the route handler while the page is waited on
            assert time.monotonic() < deadline, "the desk never asked for its snapshot"
            self.page.wait_for_timeout(20)

    def deliver(self) -> None:
        route, response = self.held.pop(0)
        route.fulfill(response=response)
        # load() fills the pause reasons and applies the snapshot's state in one go.
        expect(self.page.locator("#pause-reason option").first).to_be_attached()


def open_desk_slowly(live, signed_in) -> tuple[Page, SlowDeskSnapshot]:
    """The agent's desk opened, its snapshot asked for and held on its way."""
    page = signed_in("agent", live)
    slow = SlowDeskSnapshot(page)
    page.goto("/agent")  # not open_desk: that waits for the snapshot held here
    slow.wait_asked()
    return page, slow


def test_given_a_slow_desk_snapshot_when_the_agent_presses_available_meanwhile_then_the_desk_stays_available(
        console, signed_in):
    page, slow = open_desk_slowly(console, signed_in)

    page.locator("#btn-available").click()
    expect(page.locator("#state-pill")).to_have_text("Available")
    slow.deliver()  # it says 'Logged out': older than the agent's own key

    expect(page.locator("#state-pill")).to_have_text("Available")
    assert console.services.queues.agent(DESK).state == "available"


def test_given_a_slow_desk_snapshot_when_a_wrapup_is_pushed_meanwhile_then_the_desk_shows_the_wrapup(
        console, signed_in):
    from .test_desk_wrapup import call_ended_at_desk
    page, slow = open_desk_slowly(console, signed_in)
    wait_until(lambda: console.services.notifier.connected(DESK), 10, "the desk's console socket")

    call_ended_at_desk(console)  # pushed: available, ringing, on a call, wrap-up
    expect(page.locator("#state-pill")).to_have_text("Wrap-up")
    slow.deliver()  # it says 'Logged out'

    expect(page.locator("#state-pill")).to_have_text("Wrap-up")
    expect(page.locator("#wrapup")).to_be_visible()


def test_given_a_slow_desk_snapshot_when_the_agent_presses_pause_meanwhile_then_no_pause_without_its_reason(
        console, signed_in):
    """The race behind 'Paused' without ' · Break': P pressed before the pause reasons came sent an empty
    reason. Now Pause waits for the snapshot, and the same key afterwards pauses with the reason shown."""
    page, slow = open_desk_slowly(console, signed_in)
    expect(page.locator("#btn-pause")).to_be_disabled()

    page.keyboard.press("p")
    slow.deliver()

    expect(page.locator("#btn-pause")).to_be_enabled()
    expect(page.locator("#state-pill")).to_have_text("Logged out")
    assert console.services.queues.agent(DESK).state == "logged_out", "no pause was sent"
    page.keyboard.press("p")
    expect(page.locator("#state-pill")).to_have_text("Paused · Break")
    assert console.services.queues.agent(DESK).pause_reason == "break"

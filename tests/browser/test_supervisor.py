"""The supervisor page in the real browser, with a real call through the sandbox Asterisk: the wallboard
follows the call without a reload, monitoring starts from its row, and afterwards the recording is found,
played after a reason (audited), and served with HTTP Range."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from callcenter.db.models import AuditEvent, Patient, PatientPhone, Recording, User
from callcenter.simulate import place_call

from .live import ROLE_USERS, wait_until

pytestmark = pytest.mark.asterisk

ENGLISH, NURSE = "1", "4"
CALLER = "+14155550188"
MRN = "MRN-SV1"
SUPERVISOR_PHONE = "Local/auto-7001@agent-phones/n"


def add_patient_and_phone(live) -> int:
    with live.services.db.session() as session:
        patient = Patient(mrn=MRN, given_name="Grace", family_name="Hopper", date_of_birth=date(1956, 12, 9),
                          sex="F", language="en")
        session.add(patient)
        session.flush()
        session.add(PatientPhone(patient_id=patient.id, e164=CALLER, kind="mobile", is_primary=True))
        session.execute(update(User).where(User.username == ROLE_USERS["supervisor"].username)
                        .values(phone_endpoint=SUPERVISOR_PHONE))
        return patient.id


def place(live, hangup_after: float) -> None:
    s = live.services
    live.run(place_call(s.ari, s.cfg.telephony, caller=CALLER, digits=f"{ENGLISH},{NURSE}",
                        hangup_after=hangup_after, first_delay=1.5, digit_gap=1))


def set_available(live, number: str) -> None:
    async def go():
        live.services.queues.request_state(number, "available")
    live.run(go())


def saved_recording(live) -> Recording | None:
    live.run(live.services.recordings.wait_idle())
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        return session.scalars(select(Recording)).first()


def play_audits(live) -> list[AuditEvent]:
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "recording_played")))


def test_given_real_call_when_supervisor_watches_then_wallboard_follows_and_recording_plays_after_reason(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    patient_id = add_patient_and_phone(live)
    page = signed_in("supervisor", live)
    page.goto("/supervisor")
    page.wait_for_selector("#connection-status[data-state=open]")
    nurse_queue = page.locator(".queue-card[data-queue=nurse]")
    assert nurse_queue.locator(".waiting-count").text_content() == "0"
    screenshot(page, "supervisor-wallboard-idle")

    # Nobody is available: the caller waits in the nurse queue, and the board shows it, live.
    place(live, hangup_after=40)
    page.wait_for_function(
        "() => document.querySelector('.queue-card[data-queue=nurse] .waiting-count')?.textContent === '1'",
        timeout=60_000)
    page.wait_for_function(  # the wait time counts up in the browser
        "() => (document.querySelector('.queue-card[data-queue=nurse] .waiting-list .timer')?.textContent"
        " || '0:00') !== '0:00'", timeout=5_000)
    screenshot(page, "supervisor-wallboard-waiting")

    # A nurse becomes available: the call is offered and connected; the board shows it in progress.
    set_available(live, "1005")
    row = page.locator("#calls tbody tr[data-status=connected]")
    row.wait_for(timeout=30_000)
    assert "1005" in row.locator("td").first.text_content()
    assert nurse_queue.locator(".waiting-count").text_content() == "0"
    assert page.locator("#agents tr[data-agent='1005']").get_attribute("data-state") == "on_call"

    # Listen from the row: the supervisor's phone (users.phone_endpoint) rings and answers by itself.
    row.get_by_role("button", name="Listen").click()
    page.wait_for_function(
        "() => document.querySelector('#monitor-text')?.textContent.startsWith('Listening')", timeout=20_000)
    assert page.locator("#calls tbody tr[data-status=connected]").count() == 1
    screenshot(page, "supervisor-wallboard-listening")
    page.keyboard.press("Alt+S")
    page.wait_for_function("() => document.querySelector('#monitor-text')?.textContent.includes('stopped')",
                           timeout=10_000)
    assert page.locator("#calls tbody tr[data-status=connected]").count() == 1, "stopping leaves the call up"

    # The caller hangs up: the call leaves the board; its recording is stored.
    page.wait_for_function("() => document.querySelectorAll('#calls tbody tr').length === 0", timeout=60_000)
    recording = wait_until(lambda: saved_recording(live), 30, "the recording")

    # Recordings: search by MRN, play: a reason first, then the audio plays.
    page.keyboard.press("Alt+2")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.fill("#recording-search input[name=patient]", MRN)
    page.click("#recording-search button[type=submit]")
    result = page.locator(f"#recordings tbody tr[data-recording='{recording.id}']")
    result.wait_for(timeout=10_000)
    assert "Grace Hopper" in result.text_content()
    assert urls and not [u for u in urls if MRN in u], "the MRN searched for went into a URL"
    assert MRN not in page.url
    screenshot(page, "supervisor-recordings-results")

    result.get_by_role("button", name="Play").click()
    dialog = page.locator("#reason-dialog")
    assert dialog.is_visible()
    page.click("#reason-submit")  # no reason: refused, nothing played, nothing audited
    assert dialog.is_visible() and page.locator("#player-audio").get_attribute("src") is None
    assert play_audits(live) == []
    page.fill("#reason-text", "Quality review of a nurse callback request")
    screenshot(page, "supervisor-recordings-reason")
    page.click("#reason-submit")
    page.wait_for_function(
        "() => { const a = document.querySelector('#player-audio'); return !a.paused && a.currentTime > 0; }",
        timeout=15_000)
    page.wait_for_function("() => document.querySelector('#player-audio').currentTime > 1", timeout=5_000)
    screenshot(page, "supervisor-recordings-playing")

    audits = play_audits(live)
    assert [(a.recording_id, a.call_id, a.patient_id, a.reason) for a in audits] == [
        (recording.id, recording.call_id, patient_id, "Quality review of a nurse callback request")]
    assert audits[0].actor_user_id == live.user(ROLE_USERS["supervisor"].username).id

    # The audio URL answers Range requests with 206; without the grant, 403.
    src = page.locator("#player-audio").get_attribute("src")
    part = page.request.get(src, headers={"Range": "bytes=0-99"})
    assert part.status == 206
    assert part.headers["content-range"].startswith("bytes 0-99/")
    assert len(part.body()) == 100 and part.body()[:4] == b"RIFF"
    assert page.request.get(f"/api/recordings/{recording.id}/audio").status == 403
    assert page.request.get(f"/api/recordings/{recording.id}/audio?grant=forged").status == 403


def test_given_a_call_put_on_hold_when_supervisor_watches_then_no_monitoring_buttons_until_it_is_resumed(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    controls = live.services.controls
    set_available(live, "1005")
    page = signed_in("supervisor", live)
    page.goto("/supervisor")
    page.wait_for_selector("#connection-status[data-state=open]")
    place(live, hangup_after=60)
    row = page.locator("#calls tbody tr[data-status=connected]")
    row.wait_for(timeout=60_000)
    call_id = row.get_attribute("data-call")
    monitoring = ("Listen", "Whisper", "Barge")
    assert [row.get_by_role("button", name=name).is_enabled() for name in monitoring] == [True] * 3

    # On hold the server refuses to monitor (409): the row offers no button that would only be refused.
    live.run(controls.hold(call_id))
    held = page.locator(f"#calls tbody tr[data-call='{call_id}'][data-status=held]")
    held.wait_for(timeout=10_000)
    assert [held.get_by_role("button", name=name).count() for name in monitoring] == [0, 0, 0]
    assert "on hold" in held.locator(".sv-not-monitorable").text_content()
    screenshot(page, "supervisor-wallboard-held")

    # Resumed: caller and agent talk again, and the buttons are back.
    live.run(controls.unhold(call_id))
    talking = page.locator(f"#calls tbody tr[data-call='{call_id}'][data-status=connected]")
    talking.wait_for(timeout=10_000)
    assert [talking.get_by_role("button", name=name).is_enabled() for name in monitoring] == [True] * 3


def test_given_agent_when_opening_supervisor_page_then_403(console, signed_in, screenshot):
    page = signed_in("agent", console)
    response = page.goto("/supervisor")

    assert response.status == 403
    assert page.locator("#panel-wallboard").count() == 0
    screenshot(page, "supervisor-refused-agent")

"""Tickets in the real browser (issue 17): a patient sends the public web form without signing in and sees
the serial number; the patient-relations team (role relations: only Home and Patient relations in its
navigation) finds it in the queue and works it in the handler console to
resolved (HTML typed by the patient shown as text); an overdue ticket escalates with a moved clock and the
queue and the console show who holds it now."""
from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Browser, expect

from callcenter.complaints import serial

from .conftest import VIEWPORT

SCRIPT = "<script>document.title='pwned'</script><b>rude</b> at the desk"


def test_given_the_public_form_when_a_patient_sends_it_then_the_serial_shows_and_the_handler_resolves_it(
        browser: Browser, console, signed_in, screenshot):
    patient = browser.new_context(viewport=VIEWPORT, base_url=console.url).new_page()
    patient.goto("/complaints/new")
    patient.check("input[name=kind][value=complaint]")
    patient.select_option("#category", "staff_attitude")
    patient.select_option("#department", "radiology")
    patient.fill("#text", SCRIPT)
    patient.fill("#contact_name", "<i>Pat</i>")
    patient.click("#complaint-send")

    shown = patient.locator("#ticket-serial")
    expect(shown).to_be_visible()
    number = shown.get_attribute("data-serial")
    assert serial.is_valid(number)
    expect(shown).to_have_text(serial.display(number))
    screenshot(patient, "complaint-web-form-serial")

    team = signed_in("relations", console)   # the patient-relations team's own role (issue 17)
    expect(team.locator(".mainnav a")).to_have_text(["Home", "Patient relations"])  # tickets only
    team.goto("/complaints")
    row = team.locator(f'#complaints-table tr[data-serial="{number}"]')
    expect(row).to_contain_text("Patient relations")
    row.locator("a").click()
    expect(team.locator("#ticket-text")).to_have_text(SCRIPT)  # as text: no script ran, no bold
    assert team.title() != "pwned" and team.locator("#ticket-text b").count() == 0
    team.click('form[data-step="assign"] button')
    expect(team.locator("#ticket-status")).to_have_text("assigned")
    team.click('form[data-step="start"] button')
    team.fill("#resolution-text", "We spoke with the radiology desk team and apologised.")
    team.select_option("#communicated-by", "phone")
    team.fill("#patient-summary", "We are sorry: the radiology desk has been told. <b>Thank you</b>.")
    team.select_option("#summary-language", "en")
    team.click('form[data-step="resolve"] button')
    expect(team.locator("#ticket-status")).to_have_text("resolved")
    expect(team.locator("#ticket-resolution")).to_contain_text("told by phone")
    # The summary for the patient (spoken by the hotline) is shown apart from the notes, as text.
    expect(team.locator("#ticket-patient-summary")).to_have_text(
        "We are sorry: the radiology desk has been told. <b>Thank you</b>.")
    # received, assign, start, resolve (the spoken summary's own event may follow while the page loads)
    expect(team.locator('#ticket-history li:not([data-type^="summary_audio"])')).to_have_count(4)
    screenshot(team, "complaint-handler-console")
    assert "complaint_viewed" in console.audit_actions()


def test_given_an_overdue_ticket_when_the_clock_moves_past_due_then_queue_and_console_show_the_escalation(
        console, signed_in, screenshot):
    tickets = console.services.complaints
    ticket = console.run(tickets.create_ticket("letter", text="No answer for weeks.", category="care",
                                               department="surgery", severity="critical"))
    received = tickets.clock()
    tickets.clock = lambda: received + timedelta(hours=25)   # due after 24 h
    assert console.run(console.services.complaint_escalation.tick()) == [ticket.id]

    team = signed_in("relations", console)   # the patient-relations team's own role (issue 17)
    expect(team.locator(".mainnav a")).to_have_text(["Home", "Patient relations"])  # tickets only
    team.goto("/complaints")
    row = team.locator(f'#complaints-table tr[data-id="{ticket.id}"]')
    expect(row).to_have_attribute("data-level", "1")
    expect(row.locator(".holder")).to_contain_text("Department head")
    expect(team.locator('[data-kpi="escalated"]')).to_have_text("1")
    row.locator("a").click()
    expect(team.locator("#ticket-holder")).to_contain_text("Department head")
    expect(team.locator('#ticket-history li[data-type="escalated"]')).to_contain_text("department head")

    tickets.clock = lambda: received + timedelta(hours=25 + 49)
    assert console.run(console.services.complaint_escalation.tick()) == [ticket.id]
    team.reload()
    expect(team.locator("#ticket-holder")).to_contain_text("Patient-relations director")
    expect(team.locator('#ticket-history li[data-type="escalated"]')).to_have_count(2)
    screenshot(team, "complaint-escalated")

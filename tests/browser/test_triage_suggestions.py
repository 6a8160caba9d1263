"""Protocol suggestions and the patient's age in the real browser on a real call through the sandbox Asterisk
(issue 13): the agent types the caller's reason on the desk, the matching protocol comes first in the list,
survives a reload of the console, and can be started; an age-dependent protocol asks the age, or takes it
from the record of the patient the agent confirmed."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .desk import add_patient, answered_call, open_desk, prepare_desk_for_calls

pytestmark = pytest.mark.asterisk

PHONE = "+14155550168"


def test_given_a_call_when_the_agent_types_the_reason_then_the_suggested_protocol_is_first_and_starts(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    add_patient(live, "MRN-SUGG1", PHONE)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    caller = answered_call(live, page, PHONE)
    first = page.locator("#triage-protocol option").first
    expect(first).not_to_have_attribute("value", "infant_fever")

    page.fill("#triage-reason", "my baby is hot and won't feed")

    expect(first).to_have_attribute("value", "infant_fever")
    expect(first).to_contain_text("★")
    expect(page.locator("#triage-protocol")).to_have_value("infant_fever")
    expect(page.locator("#triage-suggested")).to_contain_text("the caller said “baby hot”")
    assert page.locator("#triage-protocol option").count() == len(live.services.triage.protocols), \
        "every protocol stays available"
    screenshot(page, "triage-suggested-from-reason")

    page.reload()  # mid-flow: the reason and its suggestion come back from the server
    expect(page.locator("#triage")).to_be_visible(timeout=30_000)
    expect(page.locator("#triage-reason")).to_have_value("my baby is hot and won't feed")
    expect(page.locator("#triage-protocol option").first).to_have_attribute("value", "infant_fever")

    page.click("#btn-triage-start")
    expect(page.locator("#triage-review")).to_contain_text("Fever in an infant under 3 months")
    # No confirmed patient: the age is asked first, an infant's in weeks.
    expect(page.locator("#triage-age-question")).to_have_text("How old is the baby, in weeks or months?")
    expect(page.locator("#triage-age-unit")).to_have_value("weeks")
    expect(page.locator("#triage-question")).to_be_hidden()
    page.reload()  # mid-flow again: the age is still what the protocol waits for
    expect(page.locator("#triage-age-question")).to_have_text("How old is the baby, in weeks or months?",
                                                              timeout=30_000)
    expect(page.locator("#triage-pick")).to_be_hidden()
    page.fill("#triage-age-value", "6")
    page.click("#btn-triage-age")
    expect(page.locator("#triage-age-known")).to_have_text("Age: 1 month (as the caller said).")
    expect(page.locator("#triage-count")).to_contain_text("Question 1 of")

    page.fill("#triage-reason", "ahora dice: quiero quitarme la vida")  # Spanish, typed mid-protocol
    expect(page.locator("#triage-suggested")).to_contain_text("Suicidal thoughts")
    live.run(live.services.ari.hangup(caller.id))


def test_given_a_confirmed_patient_when_an_age_dependent_protocol_starts_then_the_age_comes_from_the_record(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    add_patient(live, "MRN-SUGG2", PHONE)  # born 1960-12-10 (desk.add_patient)
    prepare_desk_for_calls(live, "auto")
    page = signed_in("agent", live)
    open_desk(page)
    caller = answered_call(live, page, PHONE)
    page.click("#btn-confirm")
    expect(page.locator("#record")).to_be_visible()

    page.select_option("#triage-protocol", "infant_fever")
    page.click("#btn-triage-start")

    expect(page.locator("#triage-count")).to_contain_text("Question 1 of")  # no age step
    expect(page.locator("#triage-age")).to_be_hidden()
    known = page.locator("#triage-age-known")
    expect(known).to_contain_text("(from the patient's record)")
    expect(known).to_contain_text("This protocol is written for ages under 3 months")
    expect(known).to_have_class("muted alert")
    screenshot(page, "triage-age-from-record")
    live.run(live.services.ari.hangup(caller.id))

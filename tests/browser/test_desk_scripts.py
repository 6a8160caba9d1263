"""The call script panel in the real browser on a real call: while the phone rings the script knows only who
may be calling (names, as the pop shows them), no appointment and no [missing] markers; once the agent
confirmed the identity it learns the record's fields (the next appointment)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from callcenter.db.models import Appointment

from .desk import DESK, add_patient, call_reaches_desk, open_desk, prepare_desk_for_calls

pytestmark = pytest.mark.asterisk

PHONE = "+14155550177"


def test_given_a_ringing_call_when_the_script_shows_then_no_appointment_until_the_identity_is_confirmed(
        console_with_asterisk, signed_in, screenshot):
    live = console_with_asterisk
    live.services.cfg.site.hospital_name = "City Hospital"
    patient_id = add_patient(live, "MRN-SCRIPT1", PHONE)
    starts = (datetime.now(UTC) + timedelta(days=9)).replace(hour=10, minute=30, second=0, microsecond=0)
    with live.services.db.session() as session:
        session.add(Appointment(patient_id=patient_id, department="Cardiology", starts_at=starts))
    shown = starts.strftime("%d %b %Y %H:%M")
    prepare_desk_for_calls(live)  # the slow phone: about 6 s of ringing
    page = signed_in("agent", live)
    open_desk(page)

    caller = call_reaches_desk(live, page, PHONE, "#identity-check")
    steps = page.locator("#script-steps")
    expect(steps.locator("li").first).to_contain_text("Am I speaking with Ada Lovelace?")
    expect(page.locator("#script-type")).to_have_value("results")  # the results queue's own script
    expect(steps.locator("mark.script-missing")).to_have_count(0)
    page.select_option("#script-type", "scheduling")
    expect(steps.locator("li[data-step=need]")).to_contain_text("an appointment you already have")
    assert live.services.queues.agent(DESK).state == "ringing", "checked while the phone still rings"
    assert shown not in steps.inner_text()
    expect(steps.locator("mark.script-missing")).to_have_count(0)
    screenshot(page, "desk-script-ringing")

    page.click("#btn-confirm")

    expect(steps.locator("li[data-step=need]")).to_contain_text(f"your appointment on {shown}")
    expect(steps.locator("mark.script-missing")).to_have_count(0)
    screenshot(page, "desk-script-confirmed")
    live.run(live.services.ari.hangup(caller.id))

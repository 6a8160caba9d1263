"""The HL7 inbound log in the real browser (issue 15): messages sent over MLLP to the console's listener
appear with their outcome, the admin filters by outcome, and applies a failed update again once its patient
has been registered; the page shows ids and field names, never patient data."""
from __future__ import annotations

from playwright.sync_api import expect

from callcenter.hl7.client import exchange
from callcenter.patients.services import find_patient
from tests.hl7.messages import MORNING, adt

from .conftest import _seeded_config
from .live import LiveConsole

UNKNOWN_UPDATE = adt("A08", "UPD1", mrn="M7001", family="Okafor", dob="", when=MORNING)


def send(live: LiveConsole, *messages: bytes) -> list[bytes]:
    """Over a real MLLP connection to the console's listener (the client runs in the console's loop: the
    test's thread has Playwright's)."""
    async def go():
        return [a async for a in exchange("127.0.0.1", live.services.hl7_listener.port, messages)]
    return live.run(go())


def test_given_failed_update_in_log_when_patient_registered_and_admin_applies_again_then_applied(
        tmp_path, signed_in, screenshot):
    cfg = _seeded_config(tmp_path, "Local/auto-{number}@agent-phones/n")
    cfg.hl7.listen, cfg.hl7.mrn_system = "127.0.0.1:0", "GENHOSP"
    live = LiveConsole(cfg).start()
    try:
        acks = send(live, adt("A01", "ADM1", mrn="M7000", family="Lindqvist"), UNKNOWN_UPDATE,
                    b"not HL7 at all")
        assert [b"MSA|AA|" in acks[0], b"MSA|AE|" in acks[1], b"MSA|AR|" in acks[2]] == [True] * 3
        page = signed_in("admin", live)
        page.goto("/admin")
        page.keyboard.press("Alt+I")
        page.wait_for_url("**/admin/hl7")
        expect(page.locator("#hl7-table tbody tr")).to_have_count(3)
        expect(page.locator("main")).not_to_contain_text("Lindqvist")
        page.click('a[data-outcome="failed"]')
        page.wait_for_url("**/admin/hl7?outcome=failed")
        failed = page.locator("#hl7-table tbody tr")
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text("birth date required")
        expect(failed).not_to_contain_text("Okafor")
        screenshot(page, "admin-hl7-failed")

        # A second attempt before the fix fails again, and says so.
        page.click("#hl7-table button[data-reapply]")
        expect(page.locator("#admin-notice")).to_contain_text("failed (AE)")
        # The registration arrives; applied again, the update now finds its patient.
        assert b"MSA|AA|" in send(live, adt("A04", "REG1", mrn="M7001", family="Okafor-Registered",
                                            when=MORNING.replace(hour=8)))[0]
        page.click("#hl7-table button[data-reapply]")
        page.wait_for_url("**/admin/hl7?outcome=failed")
        expect(page.locator("#admin-notice")).to_contain_text("applied (AA)")
        expect(page.locator("#hl7-table tbody tr")).to_have_text("No messages failed.")
        page.click('a[data-outcome="applied"]')
        expect(page.locator("#hl7-table tbody tr")).to_have_count(3)
        screenshot(page, "admin-hl7-applied")
        with live.services.db.session() as session:
            assert find_patient(session, "M7001").family_name == "Okafor"
        assert "hl7_reapplied" in live.audit_actions()
    finally:
        live.stop()

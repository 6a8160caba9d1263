"""Real calls whose caller ID arrives as trunks deliver it, not as E.164."""
from __future__ import annotations

import pytest

from .test_hotline import ENGLISH, RESULTS, add_patient, receive

pytestmark = pytest.mark.asterisk


async def test_given_patient_on_file_when_caller_id_has_the_international_prefix_then_known_patient_pop(
        center):
    patient_id = await add_patient(center, "MRN-IDD", "+442079460018")
    ws = await center.agent_socket("1005")
    await center.set_agent("1005", "available")

    # A US trunk (the default region) delivers a call from London as 011 44 ...
    await center.call("011442079460018", f"{ENGLISH},{RESULTS}", hangup_after=25)
    pop, _ = await receive(ws, "screen_pop")

    assert pop["known"] is True
    assert [p["id"] for p in pop["patients"]] == [patient_id]
    assert pop["caller"] == {"number": "+442079460018", "status": "valid"}
    row = await center.call_row("ended", timeout=60)
    assert (row.caller_status, row.caller_e164, row.patient_id) == ("valid", "+442079460018", patient_id)

"""A ticket opened from a real call through the sandbox Asterisk (issue 17): the agent opens it from the call
on the desk, the ticket links the call, the caller's number and the patient, and its serial is read out to
the caller: Asterisk itself reports the playback of the serial's digits on the caller's channel, to its
end."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.complaints import serial
from callcenter.db.models import Complaint

from .harness import poll
from .test_call_controls import nurse_call, post
from .test_hotline import add_patient

pytestmark = pytest.mark.asterisk

CALLER = "+14155550171"


async def test_given_a_connected_call_when_the_agent_opens_a_ticket_then_it_is_linked_and_its_serial_read_out(
        center):
    patient_id = await add_patient(center, "MRN-TICKET-1", CALLER)
    call, row = await nurse_call(center, caller=CALLER)

    status, body = await post(center, f"/api/calls/{row.id}/complaint", {
        "kind": "complaint", "category": "staff_attitude", "department": "emergency", "severity": "high",
        "text": "The caller was treated rudely at the front desk."})

    assert status == 201 and body["read_out"]["playing"] is True, body
    assert serial.is_valid(body["serial"]) and body["display"] == serial.display(body["serial"])
    playback_id = body["read_out"]["playback_id"]

    async def digits_playing():  # asked of Asterisk: what the caller's channel is hearing now
        playback = await center.ari.playback(playback_id)
        return playback if playback["media_uri"] == f"digits:{body['serial']}" else None
    playback = await poll(digits_playing, 30, "the serial's digits to play")
    assert playback["target_uri"] == f"channel:{call.channel.id}"

    async def finished():
        events = [e for e in await center.events(row.id) if e.type == "ticket_read_out_finished"]
        return events[0] if events else None
    done = await center.wait_for(finished, 40, "the read-out to finish")
    assert (done.data["state"], done.data["complaint_id"], done.data["playback_id"]) == (
        "done", body["id"], playback_id)

    ticket = await center.s.db.run(lambda s: s.scalars(select(Complaint)).one())
    assert (ticket.channel, ticket.call_id, ticket.contact_phone) == ("phone", row.id, CALLER)
    assert (ticket.patient_id, ticket.handling_group) == (row.patient_id, "emergency_quality")
    assert row.patient_id in (None, patient_id)

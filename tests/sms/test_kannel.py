"""Texts through a real Kannel (bearerbox + smsbox) and its fake SMSC: a reminder reaching the handset and
its delivery report stored, the patient's C confirming the appointment, STOP stopping texts and calls, the
gateway down then up with nothing lost. Both databases."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from callcenter.db.models import (
    Appointment,
    AuditEvent,
    CampaignTarget,
    Complaint,
    ComplaintEvent,
    DoNotCall,
    TextDeliveryReport,
    TextMessage,
)
from callcenter.main import build, init_app

from .conftest import new_number, reminder_campaign, sms_config, until
from .kannel import UNROUTABLE
from .live import add_patient, midday_zone


def _rows(db, model, *where):
    with db.session() as session:
        return list(session.scalars(select(model).where(*where)))


async def _texted(kannel, number: str, words: str, db, center) -> TextMessage:
    """The handset sends `words`; the contact center's incoming row once it has it (then the link closes)."""
    handset = kannel.text_from(number, words)
    try:
        return (await until(lambda: _rows(db, TextMessage, TextMessage.direction == "in",
                                          TextMessage.e164 == number, TextMessage.body == words)))[0]
    finally:
        await asyncio.to_thread(kannel.hang_up, handset)


async def test_given_a_planned_reminder_when_the_patient_replies_c_then_the_appointment_is_confirmed(
        kannel, center, db):
    number = new_number()
    patient_id, appointment_id = add_patient(db, number, zone=midday_zone())
    await center.campaigns.save_text("sms-reminders", reminder_campaign(), None)

    await center.campaigns.plan("sms-reminders")

    [reminder] = await until(lambda: kannel.texts_to(number))
    assert "Reply C to confirm" in reminder and "Cardiology" not in reminder
    sent = (await until(lambda: _rows(db, TextMessage, TextMessage.e164 == number,
                                      TextMessage.status == "delivered")))[0]
    reports = _rows(db, TextDeliveryReport, TextDeliveryReport.message_id == sent.id)
    assert 1 in {r.code for r in reports} and sent.purpose == "reminder"

    await _texted(kannel, number, "C", db, center)

    confirmed = await until(lambda: [t for t in kannel.texts_to(number) if "is confirmed" in t])
    assert len(confirmed) == 1
    [appointment] = _rows(db, Appointment, Appointment.id == appointment_id)
    assert appointment.status == "confirmed"
    [audit] = _rows(db, AuditEvent, AuditEvent.action == "appointment_confirmed_by_patient")
    assert audit.patient_id == patient_id and audit.detail["via"] == "sms"
    [target] = _rows(db, CampaignTarget, CampaignTarget.subject_id == appointment_id)
    assert target.status == "completed" and target.outcome["outcome"] == "confirmed"  # no call needed now


async def test_given_stop_texted_when_reminders_are_planned_then_no_text_and_no_call(kannel, center, db):
    number = new_number()
    patient_id, appointment_id = add_patient(db, number, zone=midday_zone())

    await _texted(kannel, number, "STOP", db, center)

    await until(lambda: [t for t in kannel.texts_to(number) if "no more texts" in t])
    [entry] = _rows(db, DoNotCall, DoNotCall.e164 == number)
    assert entry.source == "patient_request" and entry.campaign_kind is None
    await center.campaigns.save_text("sms-reminders", reminder_campaign(), None)
    await center.campaigns.plan("sms-reminders")
    [reminder] = await until(lambda: _rows(db, TextMessage, TextMessage.purpose == "reminder",
                                           TextMessage.e164 == number, TextMessage.status == "suppressed"))
    assert reminder.last_error == "do_not_call"
    assert await center.campaigns.claim("sms-reminders", "test-worker", 10) == []
    [target] = _rows(db, CampaignTarget, CampaignTarget.subject_id == appointment_id)
    assert target.status == "excluded" and target.outcome["reason"] == "do_not_call"

    await _texted(kannel, number, "START", db, center)

    await until(lambda: [t for t in kannel.texts_to(number) if "on again" in t])
    assert _rows(db, DoNotCall, DoNotCall.e164 == number) == []
    assert not [t for t in kannel.texts_to(number) if "Reply C" in t]


async def test_given_the_gateway_down_when_a_reminder_is_due_then_it_is_sent_once_the_gateway_is_back(
        kannel, center, db):
    number = new_number()
    add_patient(db, number, zone=midday_zone())
    await center.campaigns.save_text("sms-reminders", reminder_campaign(), None)
    await asyncio.to_thread(kannel.stop_smsbox)
    try:
        await center.campaigns.plan("sms-reminders")
        [waiting] = await until(lambda: _rows(db, TextMessage, TextMessage.e164 == number,
                                              TextMessage.attempts >= 2))
        assert waiting.status == "queued" and "ClientConnectorError" in waiting.last_error
    finally:
        await asyncio.to_thread(kannel.start_smsbox)

    await until(lambda: kannel.texts_to(number))
    [sent] = await until(lambda: _rows(db, TextMessage, TextMessage.e164 == number,
                                       TextMessage.status == "delivered"))
    assert len(kannel.texts_to(number)) == 1 and sent.sent_at is not None


async def test_given_an_unknown_word_when_texted_then_a_helpful_answer_comes_back(kannel, center, db):
    number = new_number()
    add_patient(db, number)

    inbound = await _texted(kannel, number, "Hello?", db, center)

    [answer] = await until(lambda: kannel.texts_to(number))
    assert inbound.keyword == "unknown"
    assert "Reply C to confirm, X to cancel, STOP" in answer and "+1 415 555 0100" in answer


async def test_given_a_complaint_texted_when_it_arrives_then_the_handset_gets_the_ticket_serial(
        kannel, center, db):
    number = new_number()
    add_patient(db, number)

    await _texted(kannel, number, "COMPLAINT the lift in building B has been broken for a week", db, center)

    [answer] = await until(lambda: kannel.texts_to(number))
    [ticket] = _rows(db, Complaint)
    assert ticket.channel == "sms" and ticket.contact_phone == number
    assert f"opened case {ticket.serial[:4]} {ticket.serial[4:8]} {ticket.serial[8:]}" in answer


async def test_given_a_ticket_acknowledgement_kannel_cannot_deliver_when_reported_then_the_ticket_shows_it(
        kannel, center, db):
    # The patient's own zone where it is midday now: the text's calling window is open whatever the hour the
    # suite runs (in the hospital's zone the acknowledgement would wait for the morning).
    number = UNROUTABLE + "7700900123"
    patient_id, _ = add_patient(db, number, zone=midday_zone())
    ticket = await center.complaints.create_ticket("phone", text="Nobody called me back.",
                                                   contact_phone=number, patient_id=patient_id)

    failed = (await until(lambda: _rows(db, TextMessage, TextMessage.purpose == "ticket_ack",
                                        TextMessage.status == "failed"), timeout=30))[0]

    reports = _rows(db, TextDeliveryReport, TextDeliveryReport.message_id == failed.id)
    assert {r.code for r in reports} & {2, 16}, "Kannel's own failed delivery report"
    events = _rows(db, ComplaintEvent, ComplaintEvent.complaint_id == ticket.id,
                   ComplaintEvent.type == "text_failed")
    assert [(e.detail["text_id"], e.detail["purpose"]) for e in events] == [(failed.id, "ticket_ack")]
    assert _rows(db, Complaint, Complaint.id == ticket.id)[0].status == "received", "status unchanged"


async def test_given_a_reminder_queued_while_the_gateway_is_down_when_the_contact_center_restarts_then_sent(
        kannel, db, database_url, tmp_path, aiohttp_server):
    number = new_number()
    add_patient(db, number, zone=midday_zone())
    cfg = sms_config(tmp_path, database_url, kannel)
    first = build(cfg)
    server = await aiohttp_server(init_app(cfg, first, ari=False), port=kannel.ports["app"])
    await first.campaigns.save_text("sms-reminders", reminder_campaign(), None)
    await asyncio.to_thread(kannel.stop_smsbox)
    try:
        await first.campaigns.plan("sms-reminders")
        await until(lambda: _rows(db, TextMessage, TextMessage.e164 == number, TextMessage.attempts >= 1))
        await server.close()  # the contact center stops: its worker hands back what it held
    finally:
        await asyncio.to_thread(kannel.start_smsbox)
    [waiting] = _rows(db, TextMessage, TextMessage.e164 == number)
    assert waiting.status == "queued" and waiting.claimed_by is None and kannel.texts_to(number) == []

    await aiohttp_server(init_app(cfg, build(cfg), ari=False), port=kannel.ports["app"])

    [reminder] = await until(lambda: kannel.texts_to(number))
    assert "Reply C to confirm" in reminder
    await until(lambda: _rows(db, TextMessage, TextMessage.e164 == number, TextMessage.status == "delivered"))

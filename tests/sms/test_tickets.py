"""Tickets and texts (both databases): a COMPLAINT/SUGGESTION text opens a ticket of the sms channel and the
answer carries its serial; a ticket from another channel texts the serial to the patient's mobile, and its
resolution says the answer is ready (never what it is)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from callcenter.complaints import routing
from callcenter.complaints.services import Actor, ComplaintService
from callcenter.config import Config
from callcenter.db.models import Complaint, ComplaintEvent, Patient, PatientPhone, TextMessage
from callcenter.db.queries import AuditActor
from callcenter.sms.services import ComplaintDesk, SmsService
from callcenter.sms.templates import load

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
MOBILE = "+14155550177"


@pytest.fixture
def wired(db, database_url):
    cfg = Config()
    cfg.database.url = database_url
    cfg.site.hospital_name, cfg.site.callback_number = "St. Example", "+1 415 555 0100"
    sms = SmsService(db, cfg, load(), clock=lambda: NOW)
    rules = routing.load()
    complaints = ComplaintService(db, rules, clock=lambda: NOW, listener=sms.ticket_event)
    sms.tickets = ComplaintDesk(rules, sms.ticket_event)
    return sms, complaints


def _patient(db) -> int:
    with db.session() as session:
        row = Patient(mrn="T1", given_name="Ann", family_name="Lee",
                      date_of_birth=datetime(1960, 1, 1).date())
        row.phones.append(PatientPhone(e164=MOBILE, kind="mobile", is_primary=True))
        session.add(row)
        session.flush()
        return row.id


def _texts(db, *where) -> list[TextMessage]:
    with db.session() as session:
        return list(session.scalars(select(TextMessage).where(*where).order_by(TextMessage.id)))


async def test_given_a_complaint_texted_when_received_then_a_ticket_is_opened_and_its_serial_told(db, wired):
    sms, _ = wired
    patient_id = _patient(db)

    received = await sms.receive(MOBILE, "Complaint: nobody answered the phone at reception for an hour")

    with db.session() as session:
        [ticket] = session.scalars(select(Complaint))
    [answer] = _texts(db, TextMessage.direction == "out")
    assert (ticket.channel, ticket.kind, ticket.patient_id, ticket.contact_phone) == ("sms", "complaint",
                                                                                      patient_id, MOBILE)
    assert ticket.text == "nobody answered the phone at reception for an hour"
    assert received.keyword == "complaint" and answer.purpose == "reply"
    assert f"{ticket.serial[:4]} {ticket.serial[4:8]} {ticket.serial[8:]}" in answer.body


async def test_given_a_suggestion_texted_when_received_then_the_ticket_is_a_suggestion(db, wired):
    sms, _ = wired

    await sms.receive("+14155550999", "SUGGESTION more parking for visitors")

    with db.session() as session:
        [ticket] = session.scalars(select(Complaint))
    assert ticket.kind == "suggestion" and ticket.patient_id is None


async def test_given_a_ticket_taken_by_phone_when_created_and_resolved_then_two_texts_without_its_content(
        db, wired):
    _, complaints = wired
    patient_id = _patient(db)

    ticket = await complaints.create_ticket("phone", patient_id=patient_id, text="Rude answer at the desk")
    await complaints.step(ticket.id, "start", Actor(AuditActor()))
    await complaints.resolve(ticket.id, "We apologised and retrained the desk staff", "phone",
                             Actor(AuditActor()))

    ack, result = _texts(db, TextMessage.direction == "out")
    assert (ack.purpose, result.purpose) == ("ticket_ack", "ticket_result")
    assert ticket.display in ack.body and ticket.display in result.body
    assert ack.e164 == result.e164 == MOBILE and ack.send_window == "08:00-21:00"
    assert "retrained" not in result.body and "Rude" not in ack.body


async def test_given_a_text_quoting_the_patients_own_ticket_when_received_then_it_joins_it(db, wired):
    sms, complaints = wired
    patient_id = _patient(db)
    ticket = await complaints.create_ticket("phone", patient_id=patient_id, text="Lost glasses in ward 3")

    received = await sms.receive(MOBILE, f"About case {ticket.display}: they are brown, in a red case")
    stranger = await sms.receive("+14155550888", f"About case {ticket.display}: I have them")

    with db.session() as session:
        events = list(session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == ticket.id,
                                                                   ComplaintEvent.type == "patient_message")))
    assert received.keyword == "ticket_message" and stranger.keyword == "free_text"
    assert [e.detail["text"] for e in events] == [
        f"About case {ticket.display}: they are brown, in a red case"]
    assert events[0].detail["channel"] == "sms"

"""The complaints mailbox end to end against a real IMAP server (dovecot) and both databases: new emails
become tickets with serials, a reply quoting the serial joins its ticket, nothing is lost or taken twice,
hostile messages are kept and refused in words."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from callcenter.complaints import routing
from callcenter.complaints import serial as serials
from callcenter.complaints.attachments import AttachmentStore
from callcenter.complaints.services import Actor, step
from callcenter.db.models import Complaint, ComplaintAttachment, ComplaintEvent, InboundMessage
from callcenter.mail.imap import MailboxError
from callcenter.mail.services import MailIntake, Tickets

from .test_imap import config
from .test_parse import nested, simple

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


async def until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def intake(db, server, store=None, listener=None, **overrides) -> MailIntake:
    tickets = Tickets(routing.load(), store, listener)
    return MailIntake(db, config(server, **overrides), tickets, clock=lambda: NOW)


def tickets(db) -> list[Complaint]:
    with db.session() as session:
        return list(session.scalars(select(Complaint).order_by(Complaint.id)))


def log_rows(db) -> list[InboundMessage]:
    with db.session() as session:
        return list(session.scalars(select(InboundMessage).where(InboundMessage.protocol == "email")
                                    .order_by(InboundMessage.id)))


async def test_given_two_emails_when_polled_then_two_tickets_with_serials_and_both_marked_seen(db, dovecot):
    dovecot.deliver(simple(body="Waited four hours in A&E <b>no one came</b>", message_id="<m1@x>"))
    dovecot.deliver(simple(body="Lost my glasses on ward 5", subject="Lost property",
                           sender="Tom <tom@example.org>", message_id="<m2@x>"))
    results = await intake(db, dovecot).poll()
    assert [(r.outcome, r.joined) for r in results] == [("applied", False), ("applied", False)]
    first, second = tickets(db)
    assert (first.channel, first.contact_email, first.contact_name) == ("email", "maria.lopez@example.org",
                                                                        "Maria Lopez")
    assert first.text == "Complaint about ward 5\n\nWaited four hours in A&E <b>no one came</b>"  # as written
    assert second.contact_email == "tom@example.org"
    assert serials.normalize(first.serial) == first.serial and first.serial != second.serial
    assert dovecot.seen() == 2
    assert [r.outcome for r in log_rows(db)] == ["applied", "applied"]
    assert all(r.raw.startswith(b"From:") or b"From:" in r.raw for r in log_rows(db))
    assert await intake(db, dovecot).poll() == []  # nothing unseen: nothing taken twice


async def test_given_a_reply_quoting_the_serial_when_polled_then_it_joins_the_ticket_and_wakes_it(
        db, dovecot):
    dovecot.deliver(simple(message_id="<first@x>"))
    [created] = await intake(db, dovecot).poll()
    ticket = tickets(db)[0]
    with db.session() as session:
        step(session, ticket.id, "start", Actor(origin="test"), NOW)
        step(session, ticket.id, "wait_patient", Actor(origin="test"), NOW)
    quoted = serials.display(ticket.serial).replace(" ", "-")
    dovecot.deliver(simple(body="Here is the ward name you asked for.", subject=f"Re: your ticket {quoted}",
                           message_id="<reply@x>"))
    # Another address quoting the same serial opens a ticket of its own.
    dovecot.deliver(simple(body="me too", subject=f"Re: {ticket.serial}", sender="other@example.org",
                           message_id="<other@x>"))
    joined, other = await intake(db, dovecot).poll()
    assert (joined.joined, joined.ticket_id) == (True, ticket.id)
    assert (other.joined, other.ticket_id != ticket.id) == (False, True)
    with db.session() as session:
        event = session.scalar(select(ComplaintEvent).where(ComplaintEvent.complaint_id == ticket.id,
                                                            ComplaintEvent.type == "patient_message"))
        assert event.detail["channel"] == "email" and "ward name" in event.detail["text"]
        assert (event.from_status, event.to_status) == ("waiting_patient", "in_progress")
        assert session.get(Complaint, ticket.id).status == "in_progress"


async def test_given_the_same_message_read_again_after_a_crash_then_it_is_a_duplicate_not_a_second_ticket(
        db, dovecot):
    raw = simple(message_id="<once@x>")
    service = intake(db, dovecot)
    dovecot.deliver(raw)
    await service.poll()
    dovecot.deliver(raw)  # as if the first reading crashed before \\Seen reached the server
    [again] = await service.poll()
    assert again.outcome == "duplicate"
    assert len(tickets(db)) == 1 and [r.outcome for r in log_rows(db)] == ["applied", "duplicate"]


async def test_given_hostile_and_automatic_mail_when_polled_then_each_kept_and_refused_a_good_one_applied(
        db, dovecot):
    dovecot.deliver(nested(60))
    dovecot.deliver(simple(extra={"Auto-Submitted": "auto-replied"}, message_id="<ooo@x>"))
    dovecot.deliver(b"garbage without headers\r\n")
    dovecot.deliver(simple(body="x" * 6000, message_id="<long@x>"))
    dovecot.deliver(simple(body="A real complaint", message_id="<real@x>"))
    results = await intake(db, dovecot, max_message_bytes=5000).poll()
    assert [r.outcome for r in results] == ["rejected", "rejected", "rejected", "rejected", "applied"]
    rows = log_rows(db)
    assert [r.error for r in rows[:4]] == [
        "the message nests parts more than 8 deep", "an automatic reply or a bounce: no ticket",
        "the message has no usable From address",
        f"the message is {results[3].reason.split()[3]} bytes, over [mail] max_message_bytes"]
    assert rows[3].raw == b"" and rows[0].raw  # the oversized one was never fetched; the others are kept
    assert [t.text for t in tickets(db)] == ["Complaint about ward 5\n\nA real complaint"]
    assert dovecot.seen() == 5


async def test_given_the_mailbox_server_down_when_polled_then_a_clear_error_and_nothing_stored(db, dovecot):
    with pytest.raises(MailboxError, match="127.0.0.1:1"):
        await intake(db, dovecot, port=1).poll()
    assert log_rows(db) == []


async def test_given_the_server_loop_when_the_mailbox_is_down_then_warned_each_poll_and_mail_taken_later(
        db, dovecot, caplog):
    """`callcenter serve`'s loop (the one periodic loop): a refusing server is a warning per poll, not the
    end of the loop; the same intake takes the mail once the server answers (its config is read per poll)."""
    loop = intake(db, dovecot, port=1, poll_seconds=0.01)
    loop.start()
    try:
        await until(lambda: caplog.text.count("complaints mailbox: ") >= 2)
        dovecot.deliver(simple(body="Lost my glasses on ward 5", message_id="<m1@x>"))
        loop.cfg = config(dovecot, poll_seconds=0.01)
        await until(lambda: len(tickets(db)) == 1)
    finally:
        await loop.stop()
    assert "a run failed" not in caplog.text
    assert [t.text for t in tickets(db)][0].endswith("Lost my glasses on ward 5")


async def test_given_a_scan_and_a_document_attached_when_polled_then_the_scan_is_kept_the_other_stays_raw(
        db, dovecot, tmp_path):
    message = EmailMessage()
    message["From"] = "maria@example.org"
    message["Subject"] = "My letter"
    message["Message-ID"] = "<att@x>"
    message.set_content("Please see the scan of my letter.")
    scan = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
    message.add_attachment(scan, maintype="application", subtype="pdf", filename="letter.pdf")
    message.add_attachment(b"PK\x03\x04 a word file", maintype="application", subtype="msword",
                           filename="x.doc")
    dovecot.deliver(message.as_bytes())
    events = []
    store = AttachmentStore(tmp_path / "attachments", 1024 * 1024)
    [result] = await intake(db, dovecot, store, lambda session, kind, ticket_id, serial: events.append(
        (kind, ticket_id))).poll()
    assert (result.outcome, result.attached, result.not_attached) == ("applied", 1, 1)
    with db.session() as session:
        [kept] = session.scalars(select(ComplaintAttachment)).all()
        assert (kept.complaint_id, kept.filename, kept.content_type) == (result.ticket_id, "letter.pdf",
                                                                          "application/pdf")
        assert store.read(kept.path) == scan
    assert events == [("complaint.created", result.ticket_id)]  # webhooks and the SMS acknowledgement hear it

"""Emails to patients about their tickets (issue 17), against a real SMTP server on a socket (aiosmtpd, with
STARTTLS and a certificate of a test CA) and both databases: a ticket opened by an email read from a real
IMAP server (dovecot) is acknowledged with its serial, its resolution is announced without its text; an SMTP
server that is down, or one whose certificate is not the configured CA's, leaves the email queued and tried
again later, and nothing is lost; an address refused for good is dead at once."""
from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from callcenter.complaints import routing
from callcenter.complaints import serial as serials
from callcenter.complaints.services import Actor, step
from callcenter.config import MailConfig, SiteConfig
from callcenter.db.models import MailOutbox
from callcenter.mail.outbox import MailNotices, MailWorker
from callcenter.mail.services import MailIntake, Tickets
from tests.pki import make_pki

from .dovecot import free_port
from .test_imap import config
from .test_parse import simple

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
SITE = SiteConfig(hospital_name="Saint Example Hospital", callback_number="+1 415 555 0100")
COMPLAINT = "The nurse was rude to my mother."
RESULT = "Your mother's blood test was normal; we apologised to her."


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Inbox:
    """aiosmtpd's handler: keeps what it is given; refuses one address for good."""
    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_servers(tmp_path):
    """start(port) -> a running SMTP server that offers STARTTLS with a certificate of the test CA."""
    pki = make_pki(tmp_path)
    started = []

    def start(port: int):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                                require_starttls=True)
        controller.start()
        started.append(controller)
        return inbox

    start.pki = pki
    yield start
    for controller in started:
        controller.stop()


def smtp_config(port: int, ca_file) -> MailConfig:
    return MailConfig(**dict(
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="starttls", ca_file=str(ca_file),
        smtp_from="Patient Relations <relations@hospital.example>", smtp_backoff_seconds=60,
        smtp_timeout_seconds=5))


def outbox(db) -> list[MailOutbox]:
    with db.session() as session:
        return list(session.scalars(select(MailOutbox).order_by(MailOutbox.id)))


async def email_ticket(db, dovecot, notices: MailNotices, clock: Clock):
    dovecot.deliver(simple(body=COMPLAINT, message_id=f"<{free_port()}@example.org>"))
    intake = MailIntake(db, config(dovecot), Tickets(routing.load(), None, notices.ticket_event), clock=clock)
    [result] = await intake.poll()
    return result.ticket_id


async def test_given_a_ticket_from_an_email_when_sent_and_resolved_then_serial_acknowledged_result_not_told(
        db, dovecot, smtp_servers):
    port, clock = free_port(), Clock()
    inbox = smtp_servers(port)
    cfg = smtp_config(port, smtp_servers.pki.ca_file)
    notices, worker = MailNotices(cfg, SITE, clock=clock), MailWorker(db, cfg, clock=clock)
    ticket_id = await email_ticket(db, dovecot, notices, clock)
    await worker.round(None)
    with db.session() as session:
        for name in ("start", "resolve"):
            step(session, ticket_id, name, Actor(origin="test"), clock(), listener=notices.ticket_event,
                 **({"text": RESULT, "communicated_by": "email"} if name == "resolve" else {}))
    await worker.round(None)

    ack, result = inbox.messages
    shown = serials.display(_serial(db, ticket_id))
    assert ack["To"] == "maria.lopez@example.org" and ack["From"].addresses[0].username == "relations"
    assert shown in ack["Subject"] and shown in ack.get_content() and "+1 415 555 0100" in ack.get_content()
    assert ack["Auto-Submitted"] == "auto-replied"
    assert shown in result["Subject"] and "ready" in result["Subject"]
    for sent in (ack, result):   # neither the patient's words nor the answer go by email
        assert COMPLAINT not in sent.get_content() and "blood" not in sent.as_string()
    assert [(r.purpose, r.status, r.attempts) for r in outbox(db)] == [("ticket_ack", "sent", 1),
                                                                      ("ticket_result", "sent", 1)]


async def test_given_the_acknowledgement_when_the_patient_replies_to_it_then_the_reply_joins_the_ticket(
        db, dovecot, smtp_servers):
    port, clock = free_port(), Clock()
    inbox = smtp_servers(port)
    cfg = smtp_config(port, smtp_servers.pki.ca_file)
    notices, worker = MailNotices(cfg, SITE, clock=clock), MailWorker(db, cfg, clock=clock)
    ticket_id = await email_ticket(db, dovecot, notices, clock)
    await worker.round(None)
    [ack] = inbox.messages

    dovecot.deliver(simple(body="The ward was 5B.", subject=f"Re: {ack['Subject']}", message_id="<re@x>"))
    intake = MailIntake(db, config(dovecot), Tickets(routing.load(), None, notices.ticket_event), clock=clock)
    [reply] = await intake.poll()

    assert (reply.ticket_id, reply.joined) == (ticket_id, True)
    assert [r.purpose for r in outbox(db)] == ["ticket_ack"]   # a reply is not acknowledged again


def _serial(db, ticket_id: int) -> str:
    from callcenter.db.models import Complaint
    with db.session() as session:
        return session.get(Complaint, ticket_id).serial


async def test_given_the_smtp_server_down_when_sending_then_retried_later_and_sent_once_it_is_back(
        db, dovecot, smtp_servers):
    port, clock = free_port(), Clock()
    cfg = smtp_config(port, smtp_servers.pki.ca_file)
    notices, worker = MailNotices(cfg, SITE, clock=clock), MailWorker(db, cfg, clock=clock)
    await email_ticket(db, dovecot, notices, clock)

    await worker.round(None)   # nobody listens on the port
    [waiting] = outbox(db)
    assert (waiting.status, waiting.attempts, waiting.claimed_by) == ("queued", 1, None)
    assert "ConnectionRefusedError" in waiting.last_error and waiting.next_attempt_at > clock.now
    inbox = smtp_servers(port)
    await worker.round(None)   # not due yet: nothing sent, nothing claimed
    assert inbox.messages == [] and outbox(db)[0].attempts == 1

    clock.now = waiting.next_attempt_at + timedelta(seconds=1)
    await worker.round(None)
    assert len(inbox.messages) == 1
    assert [(r.status, r.attempts, r.last_error) for r in outbox(db)] == [("sent", 2, None)]


async def test_given_a_server_certificate_not_of_the_configured_ca_when_sending_then_not_sent_and_kept(
        db, dovecot, smtp_servers, tmp_path):
    port, clock = free_port(), Clock()
    inbox = smtp_servers(port)
    (tmp_path / "other").mkdir()
    stranger = make_pki(tmp_path / "other")   # the server's certificate is not this CA's
    cfg = smtp_config(port, stranger.ca_file)
    notices, worker = MailNotices(cfg, SITE, clock=clock), MailWorker(db, cfg, clock=clock)
    await email_ticket(db, dovecot, notices, clock)

    await worker.round(None)

    [kept] = outbox(db)
    assert inbox.messages == [] and (kept.status, kept.attempts) == ("queued", 1)
    assert "SSL" in kept.last_error


async def test_given_an_address_refused_for_good_when_sending_then_dead_at_once(db, dovecot, smtp_servers):
    port, clock = free_port(), Clock()
    inbox = smtp_servers(port)
    cfg = smtp_config(port, smtp_servers.pki.ca_file)
    notices, worker = MailNotices(cfg, SITE, clock=clock), MailWorker(db, cfg, clock=clock)
    dovecot.deliver(simple(sender="Gone <gone@example.org>", message_id="<gone@example.org>"))
    await MailIntake(db, config(dovecot), Tickets(routing.load(), None, notices.ticket_event),
                     clock=clock).poll()

    await worker.round(None)

    [dead] = outbox(db)
    assert inbox.messages == [] and (dead.status, dead.attempts) == ("dead", 1) and "550" in dead.last_error

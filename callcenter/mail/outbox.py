"""Emails to patients about their tickets (issue 17): the acknowledgement of a ticket opened by email, quoting
its serial (a reply keeping the serial in its subject joins the ticket: services.py), and the note that the
answer is ready when it is resolved. Never the answer itself or anything clinical: the patient hears it by
phone, quoting the serial, after the IVR's checks.

A notice is an outbox row (`mail_outbox`) written in the ticket's own transaction by the tickets' listener
(main.py wires `MailNotices.ticket_event` beside the webhooks' and the texts'), so a ticket and its email
commit or roll back together. `MailWorker` sends what is due through smtp.py: the loop, the lease, the
retries with backoff and jitter and the hand-back on stop are every outbox's (callcenter/outbox.py); a
server that is down is tried again until [mail] smtp_max_attempts, an address refused for good (5xx) is dead
at once. Logs name outbox and ticket ids, never addresses or text.

The wording is example content for the hospital to review (no clinical content in it).
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..complaints import serial as serials
from ..config import MailConfig, SiteConfig
from ..db.database import Database
from ..db.models import Complaint, MailOutbox
from ..db.types import utcnow
from ..outbox import OutboxWorker
from . import smtp

log = logging.getLogger(__name__)

QUEUED, SENT, DEAD = "queued", "sent", "dead"
ACK, RESULT = "ticket_ack", "ticket_result"
SUBJECTS = {ACK: "Your message to {hospital}: ticket {serial}",
            RESULT: "Ticket {serial}: the answer is ready"}
BODIES = {
    ACK: "Thank you for writing to {hospital}. Your message is ticket {serial}.\n\n"
         "To add to it, reply to this email and keep the number {serial} in the subject. To hear how it "
         "stands, call {callback} and type the number.\n\n"
         "For your privacy we never send health details by email.\n",
    RESULT: "The answer to your ticket {serial} is ready.\n\n"
            "To hear it, call {callback} and type the number {serial}. For your privacy the answer is not "
            "sent by email.\n",
}


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    to_address: str
    subject: str
    body: str
    attempts: int


# -- in the ticket's transaction ---------------------------------------------------------------------------


class MailNotices:
    """The tickets' listener for email: what a ticket opened by email is sent, queued in its transaction."""

    def __init__(self, cfg: MailConfig, site: SiteConfig, *, kick: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow):
        self.cfg, self.site, self.kick, self.clock = cfg, site, kick, clock

    def ticket_event(self, session: Session, type_: str, complaint_id: int, serial: str) -> None:
        purpose = {"complaint.created": ACK, "complaint.resolved": RESULT}.get(type_)
        ticket = session.get(Complaint, complaint_id) if purpose else None
        if ticket is None or ticket.channel != "email" or not ticket.contact_email:
            return
        now = self.clock()
        key = f"{purpose}:{complaint_id}" + (f":{now:%Y%m%d%H%M%S%f}" if purpose == RESULT else "")
        facts = {"serial": serials.display(serial), "hospital": self.site.hospital_name or "the hospital",
                 "callback": self.site.callback_number or "the hospital"}
        queue(session, complaint_id, purpose, ticket.contact_email, SUBJECTS[purpose].format(**facts),
              BODIES[purpose].format(**facts), key, now)
        self.kick()


def queue(session: Session, complaint_id: int, purpose: str, to: str, subject: str, body: str, key: str,
          now: datetime) -> int | None:
    """One notice; None when its key was queued before (the same cause again)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    row = session.execute(dialect.insert(MailOutbox).values(
        complaint_id=complaint_id, purpose=purpose, to_address=to, subject=subject, body=body, dedupe_key=key,
        status=QUEUED, attempts=0, next_attempt_at=now, created_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(MailOutbox.id)).first()
    return row[0] if row else None


# -- the outbox's rows: claimed with a lease, settled by their holder ----------------------------------------


def claim(session: Session, worker: str, now: datetime, lease, limit: int) -> list[Claimed]:
    m = MailOutbox
    due = (select(m.id).where(m.status == QUEUED, m.next_attempt_at <= now,
                              or_(m.claimed_until.is_(None), m.claimed_until < now))
           .order_by(m.next_attempt_at, m.id).limit(limit).with_for_update(skip_locked=True))
    rows = list(session.scalars(select(m).where(m.id.in_(due))))
    if rows:
        session.execute(update(m).where(m.id.in_([r.id for r in rows]))
                        .values(claimed_by=worker, claimed_until=now + lease))
    return [Claimed(r.id, r.to_address, r.subject, r.body, r.attempts) for r in rows]


def sent(session: Session, worker: str, mail_id: int, now: datetime) -> bool:
    m = MailOutbox
    return session.execute(update(m).where(m.id == mail_id, m.claimed_by == worker).values(
        status=SENT, sent_at=now, attempts=m.attempts + 1, last_error=None, claimed_by=None,
        claimed_until=None)).rowcount == 1


def failed(session: Session, worker: str, mail_id: int, error: str, retry_at: datetime | None) -> bool:
    """Not sent: again at `retry_at`, or dead (None)."""
    m = MailOutbox
    values = dict(attempts=m.attempts + 1, last_error=error[:200], claimed_by=None, claimed_until=None)
    values.update(next_attempt_at=retry_at) if retry_at else values.update(status=DEAD, next_attempt_at=None)
    return session.execute(update(m).where(m.id == mail_id, m.claimed_by == worker)
                           .values(**values)).rowcount == 1


def release(session: Session, worker: str) -> int:
    m = MailOutbox
    return session.execute(update(m).where(m.claimed_by == worker, m.status == QUEUED)
                           .values(claimed_by=None, claimed_until=None)).rowcount


# -- the worker ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """[mail]'s smtp_* fields under the names every outbox worker reads (outbox.OutboxSettings)."""
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    timeout_seconds: float
    lease_seconds: float
    poll_seconds: float
    batch: int
    worker: str = ""

    @classmethod
    def of(cls, cfg: MailConfig) -> SmtpSettings:
        return cls(cfg.smtp_max_attempts, cfg.smtp_backoff_seconds, cfg.smtp_backoff_max_seconds,
                   cfg.smtp_timeout_seconds, cfg.smtp_timeout_seconds * 4, cfg.smtp_poll_seconds, 20)


class MailOutboxSender:
    """The emails' part of an outbox worker: claim what is due, send each through SMTP, settle it."""
    kind = "mail"
    release = staticmethod(release)

    def __init__(self, cfg: MailConfig, send: Callable[[MailConfig, EmailMessage], None] = smtp.send):
        self.cfg, self._send_now = cfg, send

    async def round(self, worker: OutboxWorker, http: aiohttp.ClientSession) -> bool:
        batch = worker.settings.batch
        claimed = await worker.db.run_retrying(claim, worker.name, worker.clock(), worker.lease(), batch)
        for mail in claimed:   # one at a time: a small relay is not flooded
            await self._send(worker, mail)
        return len(claimed) == batch

    async def _send(self, worker: OutboxWorker, mail: Claimed) -> None:
        try:
            await asyncio.to_thread(self._send_now, self.cfg, self.message(mail))
        except smtp.SmtpError as exc:
            retry_at = worker.retry_at(mail.attempts + 1) if exc.retry else None
            log.warning("email %s attempt %d not sent: %s; %s", mail.id, mail.attempts + 1, exc,
                        "again later" if retry_at else "dead")
            settled = await worker.db.run_retrying(failed, worker.name, mail.id, str(exc), retry_at)
        else:
            settled = await worker.db.run_retrying(sent, worker.name, mail.id, worker.clock())
        if not settled:
            log.warning("email %s: claim lost before it was settled", mail.id)

    def message(self, mail: Claimed) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.cfg.smtp_from, mail.to_address, mail.subject
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = make_msgid(f"ticket-mail-{mail.id}", _domain(self.cfg.smtp_from))
        message["Auto-Submitted"] = "auto-replied"   # RFC 3834: auto-responders do not answer it
        message.set_content(mail.body)
        return message


def _domain(address: str) -> str | None:
    return address.rpartition("@")[2].strip("> ") or None


class MailWorker(OutboxWorker):
    """An outbox worker wired with the emails' outbox (settings: [mail] smtp_*)."""

    def __init__(self, db: Database, cfg: MailConfig, *, clock: Callable[[], datetime] = utcnow,
                 rng: random.Random | None = None,
                 send: Callable[[MailConfig, EmailMessage], None] = smtp.send):
        super().__init__(db, SmtpSettings.of(cfg), MailOutboxSender(cfg, send), rng=rng, clock=clock)

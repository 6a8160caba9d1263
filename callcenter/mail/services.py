"""The complaints mailbox's use case: each unseen email becomes a ticket, or joins the ticket whose serial its
subject quotes, and nothing is lost or done twice.

1. The raw bytes are stored in the inbound log (inbound_messages, protocol "email"; its own transaction), so a
   message that cannot be read is still kept for staff, as HL7 messages are.
2. They are read within bounds (parse.py); what cannot be read, automatic replies and bounces are marked
   rejected with the reason in words.
3. In one transaction: the message's key (its Message-ID) is claimed (`applied_key`, unique: a message read
   again after a crash is a duplicate), and the ticket is created, or the patient's message joins their
   ticket.
4. Only then is the message flagged \\Seen on the server.
Logs name inbound-log and ticket ids, never addresses, subjects or text.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..complaints import serial as serials
from ..complaints.attachments import AttachmentStore
from ..complaints.exceptions import AttachmentRefused, InvalidTicket, UnsupportedAttachment
from ..complaints.routing import Routing
from ..complaints.services import (
    Actor,
    NewTicket,
    TicketListener,
    Upload,
    add_patient_message,
    attach,
    create,
)
from ..config import MailConfig
from ..db.database import Database
from ..db.models import Complaint, InboundMessage
from ..db.types import utcnow
from ..periodic import Periodic
from .imap import Fetched, Mailbox, MailboxError
from .parse import Email, Unreadable, read_email

log = logging.getLogger(__name__)

PROTOCOL = "email"
ORIGIN = Actor(origin="email")


@dataclass(frozen=True)
class Result:
    message_id: int
    outcome: str              # applied, duplicate, rejected, failed
    ticket_id: int | None = None
    joined: bool = False      # the message joined an existing ticket
    reason: str = ""
    attached: int = 0         # attachments kept with the ticket
    not_attached: int = 0     # attachments of a kind tickets do not keep (they stay in the raw message)


@dataclass(frozen=True)
class Tickets:
    """What an email needs to become a ticket, as main.py builds it for every channel."""
    routing: Routing
    store: AttachmentStore | None = None
    listener: TicketListener | None = None  # webhooks, the SMS acknowledgement: in the ticket's transaction


class MailIntake:
    def __init__(self, db: Database, cfg: MailConfig, tickets: Tickets, *,
                 clock: Callable[[], datetime] = utcnow, mailbox: Callable[[MailConfig], Mailbox] = Mailbox):
        self._db, self.cfg, self._tickets, self._clock, self._mailbox = db, cfg, tickets, clock, mailbox
        self._poller = Periodic(self._poll_logged, cfg.poll_seconds, name="mail-intake")

    # -- one poll -----------------------------------------------------------------------------------------

    async def poll(self) -> list[Result]:
        """Read what is unseen in the folder, oldest first, up to the batch size. IMAP is blocking (imaplib):
        each exchange with the server runs in a thread, the database work in the pool."""
        mailbox = self._mailbox(self.cfg)
        await asyncio.to_thread(mailbox.open)
        try:
            results = []
            for fetched in await asyncio.to_thread(mailbox.unseen, self.cfg.batch):
                results.append(await self._take(fetched, mailbox.uidvalidity))
                await asyncio.to_thread(mailbox.mark_seen, fetched.uid)
            return results
        finally:
            await asyncio.to_thread(mailbox.close)

    async def _take(self, fetched: Fetched, uidvalidity: int) -> Result:
        where = f"uid:{uidvalidity}:{fetched.uid}"
        if fetched.raw is None:
            message_id = await self._db.run(self._store, b"", where)
            return await self._finish(message_id, "rejected",
                                      f"the message is {fetched.size} bytes, over [mail] max_message_bytes")
        message_id = await self._db.run(self._store, fetched.raw, where)
        return await self.apply(message_id, fetched.raw)

    async def apply(self, message_id: int, raw: bytes) -> Result:
        """Read the stored message and make it a ticket (or join it to one): the one transaction."""
        try:
            email = read_email(raw)
        except Unreadable as exc:
            return await self._finish(message_id, "rejected", str(exc))
        if email.auto_reply:
            return await self._finish(message_id, "rejected", "an automatic reply or a bounce: no ticket")
        try:
            result = await self._db.run_retrying(_apply, message_id, email, self._tickets, self._clock())
        except IntegrityError:  # the key is taken: this message was applied before (read again after a crash)
            return await self._finish(message_id, "duplicate", "")
        except InvalidTicket as exc:
            return await self._finish(message_id, "rejected", f"not a ticket: {exc}")
        except Exception:
            log.exception("email %s could not be applied", message_id)
            return await self._finish(message_id, "failed", "an internal error: see the server's log")
        log.info("email %s applied: ticket %s%s", message_id, result.ticket_id,
                 " (joined)" if result.joined else "")
        return result

    def _store(self, session: Session, raw: bytes, where: str) -> int:
        row = InboundMessage(protocol=PROTOCOL, raw=raw, control_id=where[:64], received_at=self._clock(),
                             message_type="email")
        session.add(row)
        session.flush()
        return row.id

    async def _finish(self, message_id: int, outcome: str, reason: str) -> Result:
        def finish(session: Session) -> None:
            session.execute(update(InboundMessage).where(InboundMessage.id == message_id).values(
                outcome=outcome, error=reason or None, processed_at=self._clock()))
        await self._db.run(finish)
        log.info("email %s %s%s", message_id, outcome, f": {reason}" if reason else "")
        return Result(message_id, outcome, reason=reason)

    # -- the polling loop in `callcenter serve`: the one periodic loop (periodic.py) ----------------------

    def start(self) -> None:
        self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()

    async def _poll_logged(self) -> None:
        try:
            await self.poll()
        except MailboxError as exc:  # the server is down or refused us: try again next time, loudly
            log.warning("complaints mailbox: %s", exc)


def _apply(session: Session, message_id: int, email: Email, tickets: Tickets, now: datetime) -> Result:
    row = session.get(InboundMessage, message_id)
    row.applied_key = f"email:{email.message_key}"
    row.sender = email.sender[:200]
    session.flush()  # the key first: a second copy fails here, before any ticket is made
    ticket = _quoted_ticket(session, email)
    if ticket is not None:
        add_patient_message(session, ticket.id, "email", _message_text(email), ORIGIN, now)
        ticket_id, joined = ticket.id, True
    else:
        new = NewTicket(channel="email", text=_message_text(email)[:5000], contact_name=email.sender_name,
                        contact_email=email.sender)
        ticket_id, joined = create(session, new, tickets.routing, ORIGIN, now, tickets.listener).id, False
    attached, not_attached = _attach(session, ticket_id, email, tickets.store, now)
    row.outcome, row.processed_at, row.error = "applied", now, None
    return Result(message_id, "applied", ticket_id, joined, attached=attached, not_attached=not_attached)


def _attach(session: Session, ticket_id: int, email: Email, store: AttachmentStore | None,
            now: datetime) -> tuple[int, int]:
    """Keep the attachments tickets keep (a scanned letter, a photo: checked by content); any other kind stays
    in the raw message in the inbound log, where staff can still find it."""
    kept = 0
    for item in email.attachments if store is not None else ():
        try:
            store.check(item.data, item.content_type)
        except (AttachmentRefused, UnsupportedAttachment):
            continue
        attach(session, ticket_id, Upload(item.filename, item.content_type, item.data), store, ORIGIN, now)
        kept += 1
    return kept, len(email.attachments) - kept


def _quoted_ticket(session: Session, email: Email) -> Complaint | None:
    """The ticket whose serial the subject quotes, when the email comes from the address that ticket was
    opened with: anyone may quote a serial, only its patient adds to it (others open a ticket of their
    own)."""
    for serial in serials.quoted(email.subject):
        ticket = session.scalar(select(Complaint).where(Complaint.serial == serial))
        if ticket is not None and (ticket.contact_email or "").lower() == email.sender:
            return ticket
    return None


def _message_text(email: Email) -> str:
    return f"{email.subject}\n\n{email.text}".strip() if email.subject else email.text

"""Tickets: one home for creating them from any channel, their workflow, escalation, reads and KPIs.

Every channel (the desk during a call, the public web form, a letter typed in by staff, and the SMS, email
and IVR code of other packages) creates through `ComplaintService.create_ticket`, which routes the ticket
(routing.yaml), gives it the next serial of its year in the same transaction and writes its first event.
Every later step is an event with its actor and time (`complaint_events`, append-only). Reads of a ticket
(it holds patient data: contact, text) are audited in the read's transaction, like a patient record.

Patient data (names, numbers, the text) never goes to logs: log ticket ids.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import (
    COMPLAINT_CHANNELS,
    COMPLAINT_KINDS,
    COMPLAINT_SEVERITIES,
    OPEN_COMPLAINT_STATUSES,
    Call,
    Complaint,
    ComplaintAttachment,
    ComplaintEvent,
    ComplaintSerial,
    Patient,
    Recording,
    User,
)
from ..db.queries import AuditActor, add_audit_event
from ..db.types import utcnow
from . import serial as serials
from . import state
from .attachments import AttachmentStore
from .exceptions import InvalidTicket, TicketNotFound, TransitionNotAllowed
from .routing import Routing
from .voice import MAX_SUMMARY, SummaryVoice

log = logging.getLogger(__name__)

MAX_TEXT = 5000
MAX_SHORT = 200
# How the result was told to the patient (the resolution's `communicated_by`).
COMMUNICATED_BY = ("phone", "letter", "email", "sms", "in_person", "web")
SYSTEM = "system"

# (session, webhook event type, complaint id, serial): the webhook outbox (webhooks/outbox.py), wired in main.
TicketListener = Callable[[Session, str, int, str], None]


@dataclass(frozen=True)
class NewTicket:
    """What a channel knows about a new ticket. Text fields are stored as written (HTML included) and
    escaped wherever they are shown."""
    channel: str
    kind: str = "complaint"
    category: str = "general"
    department: str = "general"
    severity: str = "medium"
    text: str = ""
    patient_id: int | None = None  # None: anonymous, or not identified
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    call_id: str | None = None
    recording_id: int | None = None


@dataclass(frozen=True)
class Ticket:
    """A created ticket, as its channel tells the patient: the serial (11 digits; `display` in groups)."""
    id: int
    serial: str
    status: str
    handling_group: str
    due_at: datetime | None

    @property
    def display(self) -> str:
        return serials.display(self.serial)


@dataclass(frozen=True)
class TicketStatus:
    """What anyone quoting the serial may hear: no names, no text. `identified`: the ticket names a patient,
    so a channel that tells more (the summary for the patient) must verify the caller first (IVR
    self-service). `resolution_summary` is the patient's summary, never the handler's resolution notes."""
    id: int
    serial: str
    kind: str
    status: str
    received_at: datetime
    resolved_at: datetime | None
    resolution_summary: str
    identified: bool
    patient_id: int | None


@dataclass(frozen=True)
class Actor:
    """Who took a step: a signed-in user or API client (AuditActor), or a named origin ("web", "system")."""
    audit: AuditActor | None = None
    origin: str = SYSTEM

    @property
    def label(self) -> str:
        a = self.audit
        if a is None:
            return self.origin
        if a.api_client is not None:
            return f"api:{a.api_client or a.api_client_id}"
        return f"user:{a.user_id}" if a.user_id is not None else f"agent:{a.agent_id}"

    @property
    def user_id(self) -> int | None:
        return self.audit.user_id if self.audit else None


@dataclass
class Detail:
    ticket: Complaint
    events: list[ComplaintEvent]
    attachments: list[ComplaintAttachment]
    steps: list[str] = field(default_factory=list)
    holder: str = ""
    language: str = ""  # the ticket's language: its summary for the patient is written (and spoken) in it
    summary_languages: list[str] = field(default_factory=list)  # those the phone line has a voice for


# -- in the caller's transaction ---------------------------------------------------------------------------


def next_serial(session: Session, year: int) -> tuple[int, str]:
    """The next sequence number of `year` and its serial. The counter row is updated in the caller's
    transaction: a rolled-back ticket gives its number back (no gaps), and a concurrent creator waits for the
    row lock (PostgreSQL) or the write lock (SQLite) instead of taking the same number."""
    bump = (update(ComplaintSerial).where(ComplaintSerial.year == year)
            .values(last=ComplaintSerial.last + 1).returning(ComplaintSerial.last))
    sequence = session.execute(bump).scalar()
    if sequence is None:
        session.execute(_insert_ignore(session).values(year=year, last=0))
        sequence = session.execute(bump).scalar_one()
    return sequence, serials.make(year, sequence)


def _insert_ignore(session: Session):
    """INSERT ... ON CONFLICT DO NOTHING: the first ticket of a year made by two creators at once."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(ComplaintSerial).on_conflict_do_nothing(index_elements=["year"])


def create(session: Session, new: NewTicket, routing: Routing, actor: Actor, now: datetime,
           listener: TicketListener | None = None) -> Ticket:
    _validate(new, routing)
    sequence, serial = next_serial(session, now.year)
    group = routing.group_for(new.category, new.department)
    ticket = Complaint(serial=serial, serial_year=now.year, serial_seq=sequence, kind=new.kind,
                       channel=new.channel, patient_id=new.patient_id, contact_name=new.contact_name.strip(),
                       contact_phone=new.contact_phone.strip(), contact_email=new.contact_email.strip(),
                       category=new.category, department=new.department, severity=new.severity,
                       text=new.text.strip(), status="received", handling_group=group, escalation_level=0,
                       due_at=routing.due_at(new.severity, now), opened_at=now, call_id=new.call_id,
                       recording_id=new.recording_id, created_by_user_id=actor.user_id)
    session.add(ticket)
    session.flush()
    _event(session, ticket, "received", actor, now, None, "received",
           channel=new.channel, group=group, call_id=new.call_id)
    if listener:
        listener(session, "complaint.created", ticket.id, serial)
    return _ticket(ticket)


def _validate(new: NewTicket, routing: Routing) -> None:
    for name, value, allowed in (("channel", new.channel, COMPLAINT_CHANNELS),
                                 ("kind", new.kind, COMPLAINT_KINDS),
                                 ("severity", new.severity, COMPLAINT_SEVERITIES),
                                 ("category", new.category, routing.categories),
                                 ("department", new.department, routing.departments)):
        if value not in allowed:
            raise InvalidTicket(f"{name} must be one of {', '.join(allowed)}", name)
    if not new.text.strip():
        raise InvalidTicket("say what happened: the text is empty", "text")
    if len(new.text) > MAX_TEXT:
        raise InvalidTicket(f"the text is longer than {MAX_TEXT} characters", "text")
    for name in ("contact_name", "contact_phone", "contact_email"):
        if len(getattr(new, name)) > MAX_SHORT:
            raise InvalidTicket(f"{name.replace('_', ' ')} is longer than {MAX_SHORT} characters", name)


def step(session: Session, ticket_id: int, name: str, actor: Actor, now: datetime, *,
         listener: TicketListener | None = None, **detail: Any) -> Complaint:
    """Apply one workflow step (state.py) with its event; the first handler step sets first_response_at."""
    ticket = _locked(session, ticket_id)
    before = ticket.status
    ticket.status = state.next_status(name, before)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    _apply(ticket, name, now, detail)
    if name == "resolve" and not ticket.summary_language:
        ticket.summary_language = ticket_language(session, ticket)
    _event(session, ticket, name, actor, now, before, ticket.status, **detail)
    if name == "resolve" and listener:
        listener(session, "complaint.resolved", ticket.id, ticket.serial)
    return ticket


def add_patient_message(session: Session, ticket_id: int, channel: str, text: str, actor: Actor,
                        now: datetime) -> Complaint:
    """The patient wrote again about their ticket (an email or text quoting its serial): an event with the
    text for the handler. A ticket waiting for the patient goes back to work; any other keeps its status (a
    resolved one is not reopened by a thank-you: the handler sees the message and decides)."""
    ticket = _locked(session, ticket_id)
    before = ticket.status
    if before == "waiting_patient":
        ticket.status = state.next_status("start", before)
    _event(session, ticket, "patient_message", actor, now, before, ticket.status, channel=channel,
           text=text[:MAX_TEXT])
    return ticket


def text_failed(session: Session, ticket_id: int, text_id: int, purpose: str, now: datetime) -> None:
    """A text about the ticket (its acknowledgement with the serial, or that the result is ready) did not
    reach the patient (the gateway's failed delivery report): an event on the ticket, so its handler sees
    it and tells the patient another way. The ticket keeps its status."""
    ticket = session.get(Complaint, ticket_id)
    if ticket is not None:
        _event(session, ticket, "text_failed", Actor(origin="system:sms"), now, ticket.status, ticket.status,
               text_id=text_id, purpose=purpose)


def _apply(ticket: Complaint, name: str, now: datetime, detail: dict[str, Any]) -> None:
    if name == "assign":
        ticket.assigned_user_id = detail.get("user_id")
    elif name == "resolve":
        ticket.resolved_at, ticket.closed_at = now, None
        ticket.resolution_text, ticket.resolution_channel = detail["text"], detail["communicated_by"]
        ticket.patient_summary = detail.get("summary", "")
        ticket.summary_language = detail.get("summary_language") or ""
    elif name == "close":
        ticket.closed_at = now
    elif name == "reopen":
        ticket.resolved_at = ticket.closed_at = None
        ticket.escalation_level = 0
        ticket.patient_summary = ""  # the next resolution says what is true then


def escalate_overdue(session: Session, routing: Routing, now: datetime, limit: int = 100) -> list[int]:
    """Tickets past their due time go one level up (department head, then the patient-relations director),
    each with `hours` more; a ticket at the top stays overdue. One conditional UPDATE per ticket: two
    schedulers never escalate the same ticket twice."""
    due = (select(Complaint.id, Complaint.escalation_level)
           .where(Complaint.status.in_(state.RUNNING), Complaint.due_at < now,
                  Complaint.escalation_level < len(routing.escalation))
           .order_by(Complaint.due_at).limit(limit))
    escalated = []
    for ticket_id, level in session.execute(due).all():
        target = routing.next_level(level)
        done = session.execute(update(Complaint).where(Complaint.id == ticket_id,
                                                       Complaint.escalation_level == level)
                               .values(escalation_level=level + 1, due_at=routing.due_at_after(target, now)))
        if done.rowcount == 1:
            ticket = session.get(Complaint, ticket_id)
            _event(session, ticket, "escalated", Actor(origin="system:escalation"), now, ticket.status,
                   ticket.status, level=level + 1, to=target.to)
            escalated.append(ticket_id)
    return escalated


@dataclass(frozen=True)
class Upload:
    """A file as it came in (a form's upload): stored through AttachmentStore, checked by its content."""
    filename: str
    content_type: str
    data: bytes


def attach(session: Session, ticket_id: int, upload: Upload, store: AttachmentStore, actor: Actor,
           now: datetime) -> ComplaintAttachment:
    """Store the file and its row with the ticket's event; the file is written before the row commits, so a
    failed write leaves no row (an orphan file after a failed commit is harmless and named by its hash)."""
    ticket = _locked(session, ticket_id)
    stored = store.save(ticket_id, upload.filename, upload.data, upload.content_type)
    row = ComplaintAttachment(complaint_id=ticket_id, filename=stored.filename,
                              content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                              path=stored.path, created_at=now, created_by_user_id=actor.user_id)
    session.add(row)
    session.flush()
    _event(session, ticket, "attachment_added", actor, now, ticket.status, ticket.status,
           attachment_id=row.id, content_type=stored.content_type, size=stored.size)
    return row


def create_with_attachments(session: Session, new: NewTicket, uploads: list[Upload], routing: Routing,
                            store: AttachmentStore, actor: Actor, now: datetime,
                            listener: TicketListener | None = None) -> Ticket:
    """A letter: the ticket and its scans in one transaction (a refused file refuses the whole entry, so
    nothing half-made and no serial used up)."""
    for upload in uploads:
        store.check(upload.data, upload.content_type)  # refuse before a serial is taken
    ticket = create(session, new, routing, actor, now, listener)
    for upload in uploads:
        attach(session, ticket.id, upload, store, actor, now)
    return ticket


def read_attachment(session: Session, ticket_id: int, attachment_id: int, store: AttachmentStore,
                    actor: AuditActor) -> tuple[ComplaintAttachment, bytes]:
    row = session.get(ComplaintAttachment, attachment_id)
    if row is None or row.complaint_id != ticket_id:
        raise TicketNotFound("no such attachment")
    ticket = session.get(Complaint, ticket_id)
    add_audit_event(session, "complaint_attachment_read", actor=actor, patient_id=ticket.patient_id,
                    detail={"complaint_id": ticket_id, "attachment_id": attachment_id})
    return row, store.read(row.path)


@dataclass(frozen=True)
class CallFacts:
    """What a ticket opened from a call takes from it: the patient the agent confirmed, the caller's number,
    the recording, and the agent (for the own-desk rule)."""
    patient_id: int | None
    caller_e164: str
    recording_id: int | None
    agent_id: int | None
    language: str


def call_facts(session: Session, call_id: str) -> CallFacts | None:
    call = session.get(Call, call_id)
    if call is None:
        return None
    recording = session.scalar(select(Recording.id).where(Recording.call_id == call_id)
                               .order_by(Recording.id.desc()).limit(1))
    return CallFacts(call.patient_id, call.caller_e164 or "", recording, call.agent_id, call.language or "en")


def assignable(session: Session, user_id: int, roles: frozenset[str]) -> bool:
    """May the ticket go to this user: an active user whose role works tickets (the permission table's)."""
    user = session.get(User, user_id)
    return user is not None and user.active and user.role in roles


def _locked(session: Session, ticket_id: int) -> Complaint:
    ticket = session.get(Complaint, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound("no such ticket")
    return ticket


def _event(session: Session, ticket: Complaint, type_: str, actor: Actor, now: datetime,
           before: str | None, after: str | None, **detail: Any) -> None:
    session.execute(insert(ComplaintEvent).values(
        complaint_id=ticket.id, ts=now, type=type_, actor=actor.label, actor_user_id=actor.user_id,
        from_status=before, to_status=after, detail={k: v for k, v in detail.items() if v is not None}))


def _ticket(row: Complaint) -> Ticket:
    return Ticket(row.id, row.serial, row.status, row.handling_group, row.due_at)


def status_by_serial(session: Session, serial: str) -> TicketStatus | None:
    row = session.scalar(select(Complaint).where(Complaint.serial == serials.normalize(serial)))
    if row is None:
        return None
    summary = row.patient_summary if row.status in ("resolved", "closed") else ""
    return TicketStatus(row.id, row.serial, row.kind, row.status, row.opened_at, row.resolved_at, summary,
                        row.patient_id is not None, row.patient_id)


def detail(session: Session, ticket_id: int, actor: AuditActor, routing: Routing) -> Detail:
    """A ticket with its history and attachments; the read is audited in this transaction."""
    ticket = session.get(Complaint, ticket_id)
    if ticket is None:
        raise TicketNotFound("no such ticket")
    events = list(session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == ticket_id)
                                  .order_by(ComplaintEvent.ts, ComplaintEvent.id)))
    files = list(session.scalars(select(ComplaintAttachment)
                                 .where(ComplaintAttachment.complaint_id == ticket_id)
                                 .order_by(ComplaintAttachment.id)))
    add_audit_event(session, "complaint_viewed", actor=actor, patient_id=ticket.patient_id,
                    call_id=ticket.call_id, detail={"complaint_id": ticket_id})
    return Detail(ticket, events, files, state.steps_from(ticket.status),
                  routing.holder(ticket.handling_group, ticket.escalation_level),
                  ticket_language(session, ticket))


def ticket_language(session: Session, ticket: Complaint) -> str:
    """The language to tell the patient in: the summary's own once written, else the language of the call the
    ticket came from, else the patient's; "" when none is known."""
    if ticket.summary_language:
        return ticket.summary_language
    spoken = ticket.call_id and session.scalar(select(Call.language).where(Call.id == ticket.call_id))
    if spoken:
        return spoken
    if ticket.patient_id is not None:
        return session.scalar(select(Patient.language).where(Patient.id == ticket.patient_id)) or ""
    return ""


def summary_event(session: Session, ticket_id: int, made: bool, now: datetime) -> None:
    """The spoken summary's outcome on the ticket's history: a handler sees that the phone line cannot say
    the result (the caller is offered a person) and can tell the patient another way."""
    ticket = session.get(Complaint, ticket_id)
    if ticket is not None:
        _event(session, ticket, "summary_audio_ready" if made else "summary_audio_failed",
               Actor(origin="system:voice"), now, ticket.status, ticket.status)


# What a ticket list may be narrowed by besides its statuses (the queue's group, the API's filters).
QUEUE_FILTERS = {"group": Complaint.handling_group, "kind": Complaint.kind, "category": Complaint.category,
                 "department": Complaint.department, "severity": Complaint.severity,
                 "channel": Complaint.channel}


def queue(session: Session, *, statuses: tuple[str, ...] = OPEN_COMPLAINT_STATUSES,
          overdue_at: datetime | None = None, limit: int = 200, **filters: str | None) -> list[Complaint]:
    """Tickets to work, escalated first, then due soonest (no contact or text: the list shows ids).
    `filters`: QUEUE_FILTERS' names, each an exact value; `overdue_at`: only tickets running past due then."""
    query = select(Complaint).where(Complaint.status.in_(statuses))
    for name, value in filters.items():
        if value:
            query = query.where(QUEUE_FILTERS[name] == value)
    if overdue_at is not None:
        query = query.where(Complaint.status.in_(state.RUNNING), Complaint.due_at < overdue_at)
    query = query.order_by(Complaint.escalation_level.desc(), Complaint.due_at, Complaint.id).limit(limit)
    return list(session.scalars(query))


def kpis(session: Session, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """Tickets received in [start, end): volume by category and department, mean hours to first response
    and to resolution; overdue and escalated counts of the open tickets now."""
    received = (Complaint.opened_at >= start) & (Complaint.opened_at < end)
    by = {name: dict(session.execute(select(column, func.count()).where(received).group_by(column)).all())
          for name, column in (("by_category", Complaint.category), ("by_department", Complaint.department),
                               ("by_kind", Complaint.kind), ("by_channel", Complaint.channel))}
    rows = session.execute(select(Complaint.opened_at, Complaint.first_response_at, Complaint.resolved_at)
                           .where(received)).all()
    open_now = Complaint.status.in_(OPEN_COMPLAINT_STATUSES)
    return {
        "received": len(rows), **by,
        "first_response_hours": _mean_hours([(o, f) for o, f, _ in rows if f]),
        "resolution_hours": _mean_hours([(o, r) for o, _, r in rows if r]),
        "overdue": session.scalar(select(func.count()).where(Complaint.status.in_(state.RUNNING),
                                                             Complaint.due_at < now)),
        "escalated": session.scalar(select(func.count()).where(open_now, Complaint.escalation_level > 0)),
    }


def _mean_hours(pairs: list[tuple[datetime, datetime]]) -> float | None:
    if not pairs:
        return None
    return round(sum((b - a).total_seconds() for a, b in pairs) / len(pairs) / 3600, 2)


# -- the service (runs the above in the pool) --------------------------------------------------------------


class ComplaintService:
    def __init__(self, db: Database, routing: Routing, *, clock: Callable[[], datetime] = utcnow,
                 listener: TicketListener | None = None, store: AttachmentStore | None = None,
                 voice: SummaryVoice | None = None):
        self._db, self.routing, self.clock, self._listener = db, routing, clock, listener
        self.store, self.voice = store, voice
        self._voicing: set[asyncio.Task] = set()

    async def create_ticket(self, channel: str, *, actor: Actor | None = None, **fields: Any) -> Ticket:
        """A new ticket from `channel` (phone, web, letter, email, sms); `fields` are NewTicket's. Returns
        it with its serial; InvalidTicket names a bad field."""
        new = NewTicket(channel=channel, **fields)
        ticket = await self._db.run_retrying(create, new, self.routing, actor or Actor(origin=channel),
                                             self.clock(), self._listener)
        log.info("ticket %s received (channel %s, group %s)", ticket.id, channel, ticket.handling_group)
        return ticket

    async def create_letter(self, uploads: list[Upload], *, actor: Actor, **fields: Any) -> Ticket:
        """A letter typed in by staff with its scans (checked by content, size-limited)."""
        new = NewTicket(channel="letter", **fields)
        ticket = await self._db.run(create_with_attachments, new, uploads, self.routing, self._store(),
                                    actor, self.clock(), self._listener)
        log.info("ticket %s received (channel letter, %d attachment(s))", ticket.id, len(uploads))
        return ticket

    async def attach(self, ticket_id: int, upload: Upload, actor: Actor) -> ComplaintAttachment:
        return await self._db.run(attach, ticket_id, upload, self._store(), actor, self.clock())

    async def read_attachment(self, ticket_id: int, attachment_id: int,
                              actor: AuditActor) -> tuple[ComplaintAttachment, bytes]:
        return await self._db.run(read_attachment, ticket_id, attachment_id, self._store(), actor)

    async def call_facts(self, call_id: str) -> CallFacts | None:
        return await self._db.run(call_facts, call_id)

    def _store(self) -> AttachmentStore:
        if self.store is None:
            raise InvalidTicket("attachments are not kept here (no [complaints] attachments_dir)")
        return self.store

    async def status_by_serial(self, serial: str) -> TicketStatus | None:
        """The status of the ticket a patient quotes; None when no ticket has it. Raises
        serial.InvalidSerial for a number whose check digit does not match (say so and ask again)."""
        serials.normalize(serial)  # a wrong check digit is told before any database work
        return await self._db.run(status_by_serial, serial)

    async def step(self, ticket_id: int, name: str, actor: Actor, **detail: Any) -> Complaint:
        if name == "resolve":
            detail = _resolution(detail, self.voice.languages if self.voice else None)
        ticket = await self._db.run(functools.partial(step, listener=self._listener, **detail),
                                    ticket_id, name, actor, self.clock())
        log.info("ticket %s: %s -> %s", ticket_id, name, ticket.status)
        if name in ("resolve", "reopen"):
            self._speak(ticket)
        return ticket

    def _speak(self, ticket: Complaint) -> None:
        """The spoken summary follows the ticket: made for a resolution with one, removed otherwise. In the
        background: the handler's page does not wait for the speech synthesis."""
        if self.voice is None:
            return
        ticket_id, text = ticket.id, ticket.patient_summary if ticket.status == "resolved" else ""
        language = ticket.summary_language
        task = asyncio.create_task(self._render(ticket_id, text, language), name=f"summary-voice-{ticket_id}")
        self._voicing.add(task)
        task.add_done_callback(self._voicing.discard)

    async def _render(self, ticket_id: int, text: str, language: str) -> None:
        if not text:
            await self.voice.removed(ticket_id)
            return
        made = await self.voice.rendered(ticket_id, text, language)
        await self._db.run(summary_event, ticket_id, made, self.clock())

    async def voiced(self) -> None:
        """Wait for the spoken summaries asked for so far (shutdown, tests)."""
        while self._voicing:
            await asyncio.gather(*self._voicing, return_exceptions=True)

    async def close(self) -> None:
        await self.voiced()
        if self.voice is not None:
            await self.voice.close()

    async def assign(self, ticket_id: int, user_id: int, actor: Actor) -> Complaint:
        return await self.step(ticket_id, "assign", actor, user_id=user_id)

    async def resolve(self, ticket_id: int, text: str, communicated_by: str, actor: Actor, *,
                      summary: str = "", summary_language: str = "") -> Complaint:
        """`text`: the handler's notes; `summary`: the result as the patient hears it (optional)."""
        return await self.step(ticket_id, "resolve", actor, text=text, communicated_by=communicated_by,
                               summary=summary, summary_language=summary_language)

    async def escalate_overdue(self) -> list[int]:
        escalated = await self._db.run_retrying(escalate_overdue, self.routing, self.clock())
        if escalated:
            log.info("tickets escalated: %s", escalated)
        return escalated

    async def detail(self, ticket_id: int, actor: AuditActor) -> Detail:
        found = await self._db.run(detail, ticket_id, actor, self.routing)
        found.summary_languages = self.voice.languages if self.voice else []
        return found

    async def queue(self, **filters: Any) -> list[Complaint]:
        return await self._db.run(functools.partial(queue, **filters))

    async def recording_of(self, ticket_id: int) -> int:
        """The recording of the call the ticket came from; TicketNotFound when there is none."""
        recording_id = await self._db.run(lambda session: session.scalar(
            select(Complaint.recording_id).where(Complaint.id == ticket_id)))
        if recording_id is None:
            raise TicketNotFound("no recorded call for this ticket")
        return recording_id

    async def assignable(self, user_id: int, roles: frozenset[str]) -> bool:
        return await self._db.run(assignable, user_id, roles)

    async def kpis(self, start: datetime, end: datetime) -> dict[str, Any]:
        return await self._db.run(kpis, start, end, self.clock())


def _resolution(detail: dict[str, Any], languages: list[str] | None) -> dict[str, Any]:
    """The handler's resolution notes (internal), how the patient was told, and the summary for the patient
    (optional: what the hotline speaks to a caller who types the serial) with its language ("": the ticket's
    own, ticket_language)."""
    text = str(detail.get("text") or "").strip()
    how = detail.get("communicated_by")
    summary = " ".join(str(detail.get("summary") or "").split())  # spoken: line breaks mean nothing
    language = str(detail.get("summary_language") or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidTicket(f"write the resolution (up to {MAX_TEXT} characters)", "text")
    if how not in COMMUNICATED_BY:
        raise InvalidTicket(f"say how the patient was told: one of {', '.join(COMMUNICATED_BY)}",
                            "communicated_by")
    if len(summary) > MAX_SUMMARY:
        raise InvalidTicket(f"the summary for the patient is longer than {MAX_SUMMARY} characters",
                            "summary")
    if language and languages is not None and language not in languages:
        raise InvalidTicket(f"the summary's language must be one of {', '.join(languages)}",
                            "summary_language")
    return {"text": text, "communicated_by": how, "summary": summary, "summary_language": language}


__all__ = ["Actor", "ComplaintService", "NewTicket", "Ticket", "TicketStatus", "TransitionNotAllowed"]

"""Text messages beside the phone (issue 17): what is texted and when, and what a patient's text does.

Outgoing texts are written to the outbox (store.py) inside the transaction of what caused them, so a text
exists exactly when its cause committed, and the worker (worker.py) sends it, whatever restarts between:
- appointment reminders, when an appointment-reminder campaign is planned (its targets' appointments),
  in the campaign's calling window; reply C confirms, X cancels (audited like the reminder call's keys);
- "we tried to call you" after a follow-up campaign's attempt that reached nobody (once per target);
- ticket acknowledgements with the serial number, when a text opens a ticket;
- answers to every text a patient sends: never silence.

A text the gateway reports failed (its delivery report) is not the end of what it was for:
- "we tried to call you" that did not arrive: the patient was reached neither by phone nor by text, so a
  callback is owed, a task on the desk's list ([sms] fallback_queue) for a person to try again;
- a ticket's acknowledgement or "your answer is ready": an event on the ticket (`text_failed`), so its
  handler tells the patient another way;
- a reminder: the reminder campaign's call still goes (its targets stay pending until a C or X reply);
- every one shows as failed on the patient's timeline (patients/timeline.py lists texts with their status).
Each of these happens once per text, in the report's transaction.

Incoming texts are kept (text_messages, the patient's timeline) with what they were taken for: a keyword
(keywords.py), a ticket when the text says it is a complaint, suggestion or praise, else free text for
staff to read. STOP adds the number to the do-not-call list that the dialer reads too (campaigns/dnc.py's
entries), so it stops texts and automated calls; START removes what STOP added, and only that.
Logs name texts, patients and appointments by id; never a number or a text.
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..callbacks.services import NewCallback
from ..callbacks.services import create as create_callback
from ..campaigns import compliance
from ..campaigns.schema import CampaignDef
from ..complaints import serial as serials
from ..complaints.routing import Routing
from ..complaints.services import Actor, NewTicket, TicketListener, add_patient_message, text_failed
from ..complaints.services import create as create_ticket
from ..config import Config
from ..db.database import Database
from ..db.models import Appointment, CampaignTarget, Complaint, DoNotCall, Patient, PatientPhone, TextMessage
from ..db.queries import AuditActor, add_audit_event
from ..db.types import utcnow
from ..patients.appointments import ACTIVE_STATUSES, change_by_patient
from ..phones import normalize
from . import keywords, store
from .keywords import Parsed
from .store import NewText
from .templates import Templates, TextFacts

log = logging.getLogger(__name__)

STOP_REASON = "STOP by text message"
TICKET_MESSAGE = "ticket_message"  # an incoming text that joined the ticket whose serial it quotes
# Campaign kinds whose unanswered attempt is followed by "we tried to call you".
TRIED_TO_CALL_KINDS = ("discharge_followup", "chronic_check")
UNANSWERED = ("no_answer", "busy", "machine")
# A failed "we tried to call you": the callback's reason on the desk's list (words, nothing clinical).
FOLLOW_UP_UNREACHED = "follow-up: no answer by phone, and the text saying we called did not arrive"
TICKET_TEXTS = ("ticket_ack", "ticket_result")
# Answers to one number per hour at most: two robots answering each other stop here.
REPLIES_PER_HOUR = 6


class TicketDesk(Protocol):
    """Opens a ticket from a text (the complaints package, wired in main.py); returns its serial number."""

    def open_from_text(self, session: Session, *, kind: str, text: str, patient_id: int | None,
                       e164: str, now: datetime) -> str: ...


class ComplaintDesk:
    """Tickets opened by text, through the complaints package's one way of creating them (routing, serial,
    first event, its listeners), in the incoming text's transaction."""

    def __init__(self, routing: Routing, listener: TicketListener | None = None):
        self.routing, self.listener = routing, listener

    def open_from_text(self, session: Session, *, kind: str, text: str, patient_id: int | None, e164: str,
                       now: datetime) -> str:
        new = NewTicket(channel="sms", kind=kind, text=text, patient_id=patient_id, contact_phone=e164)
        ticket = create_ticket(session, new, self.routing, Actor(origin="sms"), now, self.listener)
        return ticket.display


@dataclass(frozen=True)
class Received:
    """What became of an incoming text (for the gateway callback's log line and the tests)."""
    message_id: int
    keyword: str
    reply_id: int | None


class SmsService:
    def __init__(self, db: Database, cfg: Config, templates: Templates, *,
                 clock: Callable[[], datetime] = utcnow, tickets: TicketDesk | None = None):
        self.db, self.cfg, self.templates, self.clock, self.tickets = db, cfg, templates, clock, tickets
        self.region = cfg.telephony.default_region
        self.hospital_zone = cfg.site.time_zone or "UTC"
        self._key = cfg.sms.callback_key.encode()
        self.kick: Callable[[], None] = lambda: None  # the worker's: look at the outbox now (main.py)

    # ---- the gateway's callbacks ----

    def report_key(self, text_id: int) -> str:
        """The key in a text's delivery-report URL: only the gateway we gave it to can report on it."""
        return hmac.new(self._key, f"dlr:{text_id}".encode(), sha256).hexdigest()[:32]

    def report_url(self, text_id: int) -> str:
        base = self.cfg.sms.callback_url.rstrip("/")
        return f"{base}/sms/gateway/report?id={text_id}&key={self.report_key(text_id)}"

    @property
    def callbacks_on(self) -> bool:
        return bool(self._key)

    def gateway_key_ok(self, key: str) -> bool:
        return bool(self._key) and hmac.compare_digest(key.encode(), self._key)

    def report_key_ok(self, text_id: int, key: str) -> bool:
        return bool(self._key) and hmac.compare_digest(key.encode(), self.report_key(text_id).encode())

    async def delivery_report(self, text_id: int, code: int, detail: str | None = None) -> bool:
        """Keep the gateway's report; a text that failed by it has its fallback in the same transaction.
        False: no text of ours has this id."""
        return await self.db.run(self._reported, text_id, code, detail, self.clock())

    def _reported(self, session: Session, text_id: int, code: int, detail: str | None, now: datetime) -> bool:
        reported = store.report(session, text_id, code, detail, now)
        if reported.failed_now:
            self._delivery_failed(session, session.get(TextMessage, text_id), now)
        return reported.known

    def _delivery_failed(self, session: Session, text: TextMessage, now: datetime) -> None:
        fallback = "none"
        if text.purpose == "tried_to_call" and text.patient_id is not None:
            callback = create_callback(session, NewCallback(
                phone_e164=text.e164, due_at=now, patient_id=text.patient_id,
                queue_name=self.cfg.sms.fallback_queue, reason=FOLLOW_UP_UNREACHED), now=now)
            fallback = f"callback {callback}"
        elif text.purpose in TICKET_TEXTS and text.subject_kind == "ticket" and text.subject_id:
            text_failed(session, text.subject_id, text.id, text.purpose, now)
            fallback = f"ticket {text.subject_id}"
        log.info("text %s (%s) failed to deliver: %s", text.id, text.purpose, fallback)

    async def receive(self, sender: str, body: str) -> Received:
        """An incoming text: kept, understood, answered, in one transaction."""
        received = await self.db.run(self._receive, sender, body, self.clock())
        self.kick()  # the answer goes now, not at the next poll
        log.info("text %s received: %s, answer %s", received.message_id, received.keyword, received.reply_id)
        return received

    # ---- what causes texts (inside the cause's transaction) ----

    def reminders_planned(self, session: Session, campaign: CampaignDef, now: datetime) -> int:
        """A planned appointment-reminder campaign: one reminder per appointment target (queued once)."""
        if campaign.kind != "appointment_reminder":
            return 0
        rows = session.execute(
            select(CampaignTarget.patient_id, Appointment, Patient.language, Patient.time_zone)
            .join(Appointment, Appointment.id == CampaignTarget.subject_id)
            .join(Patient, Patient.id == CampaignTarget.patient_id)
            .where(CampaignTarget.campaign_name == campaign.name,
                   CampaignTarget.subject_kind == "appointment", CampaignTarget.status == "pending",
                   Appointment.starts_at > now)).all()
        window = _window(campaign)
        queued = 0
        for patient_id, appointment, language, zone in rows:
            mobile = _mobile(session, patient_id)
            if mobile is None:
                continue
            facts = self._when(appointment.starts_at, language, zone)
            text = self._text("reminder", language, facts, e164=mobile, purpose="reminder",
                              patient_id=patient_id, subject=("appointment", appointment.id),
                              dedupe_key=f"reminder:appointment:{appointment.id}",
                              campaign_kind=campaign.kind, send_window=window)
            queued += store.queue(session, text, now) is not None
        return queued

    def attempt_ended(self, session: Session, finished, campaign: CampaignDef | None, now: datetime) -> None:
        """A follow-up attempt that reached nobody: "we tried to call you", once per target."""
        if campaign is None or campaign.kind not in TRIED_TO_CALL_KINDS or finished.result not in UNANSWERED:
            return
        target = session.get(CampaignTarget, finished.target_id)
        mobile = _mobile(session, finished.patient_id)
        if target is None or mobile is None:
            return
        language = session.scalar(select(Patient.language).where(Patient.id == finished.patient_id)) or "en"
        text = self._text("tried_to_call", language, self._facts(), e164=mobile, purpose="tried_to_call",
                          patient_id=finished.patient_id, subject=("target", target.id),
                          dedupe_key=f"tried_to_call:target:{target.id}", campaign_kind=campaign.kind,
                          send_window=_window(campaign))
        store.queue(session, text, now)

    def ticket_event(self, session: Session, type_: str, complaint_id: int, serial: str) -> None:
        """The tickets' listener (complaints/services.py, wired in main.py), in the ticket's transaction: the
        serial texted when a ticket is received (one opened by text has it in the answer already), and a
        note that the answer is ready when it is resolved. Only to a number the ticket or its patient has."""
        ticket = session.get(Complaint, complaint_id)
        if ticket is None or (type_ == "complaint.created" and ticket.channel == "sms"):
            return
        number = _ticket_number(session, ticket, self.region)
        if number is None:
            return
        texted = self.ticket_opened if type_ == "complaint.created" else self.ticket_answered
        if type_ in ("complaint.created", "complaint.resolved"):
            texted(session, serial=serials.display(serial), ticket_id=ticket.id, e164=number,
                   patient_id=ticket.patient_id, language=_language(session, ticket.patient_id),
                   now=self.clock())

    def ticket_opened(self, session: Session, *, serial: str, ticket_id: int, e164: str,
                      patient_id: int | None, language: str, now: datetime) -> int | None:
        """The serial number of a new ticket, texted to the patient (the complaints package calls this)."""
        text = self._text("ticket_ack", language, self._facts(serial=serial), e164=e164, purpose="ticket_ack",
                          patient_id=patient_id, subject=("ticket", ticket_id),
                          dedupe_key=f"ticket_ack:{ticket_id}", send_window=self.cfg.sms.window)
        return store.queue(session, text, now)

    def ticket_answered(self, session: Session, *, serial: str, ticket_id: int, e164: str,
                        patient_id: int | None, language: str, now: datetime) -> int | None:
        """A ticket's result is ready: the patient hears it by phone quoting the serial (the text never says
        what it is)."""
        text = self._text("ticket_result", language, self._facts(serial=serial), e164=e164,
                          purpose="ticket_result", patient_id=patient_id, subject=("ticket", ticket_id),
                          dedupe_key=f"ticket_result:{ticket_id}:{now:%Y%m%d%H%M%S}",
                          send_window=self.cfg.sms.window)
        return store.queue(session, text, now)

    # ---- incoming ----

    def _receive(self, session: Session, sender: str, body: str, now: datetime) -> Received:
        number = normalize(sender, self.region).e164
        parsed = keywords.parse(body)
        patient_id = _patient_of(session, number) if number else None
        inbound = TextMessage(direction="in", e164=(number or sender or "?")[:20], patient_id=patient_id,
                              purpose="inbound", body=body[:2000], status="received", attempts=0,
                              keyword=parsed.keyword, created_at=now)
        session.add(inbound)
        session.flush()
        if number is None:  # an alphanumeric sender (a carrier's notice): kept, nobody to answer
            return Received(inbound.id, parsed.keyword, None)
        template, facts, language = self._handle(session, parsed, inbound, number, now)
        reply_id = self._reply(session, inbound, template, facts, language, now)
        return Received(inbound.id, inbound.keyword, reply_id)

    def _handle(self, session: Session, parsed: Parsed, inbound: TextMessage, number: str,
                now: datetime) -> tuple[str, TextFacts, str]:
        language = _language(session, inbound.patient_id)
        if parsed.keyword in (keywords.CONFIRM, keywords.CANCEL):
            return self._appointment(session, parsed.keyword, inbound, number, now)
        if parsed.keyword == keywords.STOP:
            _opt_out(session, number, inbound, now)
            return "opted_out", self._facts(), language
        if parsed.keyword == keywords.START:
            _opt_in(session, number, inbound)
            return "opted_in", self._facts(), language
        if parsed.keyword == keywords.HELP:
            return "help", self._facts(), language
        if parsed.keyword == keywords.COMPLAINT and self.tickets is not None and parsed.rest:
            serial = self.tickets.open_from_text(session, kind=keywords.ticket_kind(parsed.word),
                                                 text=parsed.rest, patient_id=inbound.patient_id,
                                                 e164=number, now=now)
            return "ticket_ack", self._facts(serial=serial), language
        if parsed.keyword == keywords.UNKNOWN:
            return "unknown", self._facts(), language
        ticket = _quoted_ticket(session, inbound.body, number, inbound.patient_id, self.region)
        if ticket is not None:  # more about a ticket: it joins the ticket, for its handler
            add_patient_message(session, ticket.id, "sms", inbound.body, Actor(origin="sms"), now)
            inbound.keyword = TICKET_MESSAGE
        else:
            inbound.keyword = keywords.FREE_TEXT  # for staff on the patient's timeline
        return "received", self._facts(), language

    def _appointment(self, session: Session, keyword: str, inbound: TextMessage, number: str,
                     now: datetime) -> tuple[str, TextFacts, str]:
        """C or X: the appointment of the newest reminder texted to this number that can still change."""
        status = "confirmed" if keyword == keywords.CONFIRM else "cancelled"
        allowed = ACTIVE_STATUSES  # a booked or confirmed appointment may be confirmed or cancelled
        for reminder in _reminders(session, number, now):
            detail = {"via": "sms", "text_id": inbound.id}
            if not change_by_patient(session, reminder.subject_id, reminder.patient_id, status, allowed, now,
                                     call_id=None, detail=detail):
                continue
            _settle_targets(session, reminder.subject_id, status, now)
            inbound.patient_id = reminder.patient_id
            patient = session.get(Patient, reminder.patient_id)
            starts_at = session.get(Appointment, reminder.subject_id).starts_at
            return status, self._when(starts_at, patient.language, patient.time_zone), patient.language
        return "not_possible", self._facts(), _language(session, inbound.patient_id)

    def _reply(self, session: Session, inbound: TextMessage, template: str, facts: TextFacts, language: str,
               now: datetime) -> int | None:
        recent = session.scalar(select(func.count()).select_from(TextMessage).where(
            TextMessage.e164 == inbound.e164, TextMessage.purpose == store.REPLY,
            TextMessage.created_at > now - timedelta(hours=1))) or 0
        if recent >= REPLIES_PER_HOUR:
            log.warning("text %s: no answer, %d answers to this number in the last hour", inbound.id, recent)
            return None
        text = self._text(template, language, facts, e164=inbound.e164, purpose=store.REPLY,
                          patient_id=inbound.patient_id, reply_to_id=inbound.id)
        return store.queue(session, text, now)

    # ---- rendering ----

    def _text(self, template: str, language: str, facts: TextFacts, *, e164: str, purpose: str,
              patient_id: int | None, subject: tuple[str, int] | None = None, **extra) -> NewText:
        body, used = self.templates.render(template, language or "en", facts)
        kind, subject_id = subject or (None, None)
        return NewText(e164=e164, body=body, purpose=purpose, patient_id=patient_id, template=template,
                       template_version=self.templates.version, language=used, subject_kind=kind,
                       subject_id=subject_id, **extra)

    def _facts(self, **more) -> TextFacts:
        site = self.cfg.site
        return TextFacts(hospital=site.hospital_name, callback=site.callback_number, **more)

    def _when(self, starts_at: datetime, language: str, zone: str | None) -> TextFacts:
        local = starts_at.astimezone(compliance.zone(zone, self.hospital_zone))
        day, hour = self.templates.when(local, language)
        return self._facts(date=day, time=hour)


def _window(campaign: CampaignDef) -> str:
    rules = campaign.compliance
    return f"{rules.window_start:%H:%M}-{rules.window_end:%H:%M}"


def _mobile(session: Session, patient_id: int) -> str | None:
    """The number texts go to: the patient's mobile (a landline cannot read them), primary first."""
    return session.scalar(select(PatientPhone.e164).where(
        PatientPhone.patient_id == patient_id, PatientPhone.kind == "mobile")
        .order_by(PatientPhone.is_primary.desc(), PatientPhone.id).limit(1))


def _ticket_number(session: Session, ticket: Complaint, region: str) -> str | None:
    """Where a ticket's texts go: its patient's mobile, else the phone the ticket was given with."""
    mobile = _mobile(session, ticket.patient_id) if ticket.patient_id else None
    return mobile or (normalize(ticket.contact_phone, region).e164 if ticket.contact_phone else None)


def _quoted_ticket(session: Session, text: str, number: str, patient_id: int | None,
                   region: str) -> Complaint | None:
    """The ticket whose serial the text quotes, when it comes from the ticket's own number or patient:
    anyone may quote a serial, only its patient adds to it (as for emails, mail/services.py)."""
    for serial in serials.quoted(text):
        ticket = session.scalar(select(Complaint).where(Complaint.serial == serial))
        if ticket is None:
            continue
        own_number = ticket.contact_phone and normalize(ticket.contact_phone, region).e164 == number
        if own_number or (patient_id is not None and ticket.patient_id == patient_id):
            return ticket
    return None


def _patient_of(session: Session, number: str) -> int | None:
    """The patient a number belongs to when it is one patient's only (a shared family phone names nobody
    until a reply to a reminder does)."""
    ids = list(session.scalars(select(PatientPhone.patient_id).where(PatientPhone.e164 == number).limit(2)))
    return ids[0] if len(ids) == 1 else None


def _language(session: Session, patient_id: int | None) -> str:
    if patient_id is None:
        return "en"
    return session.scalar(select(Patient.language).where(Patient.id == patient_id)) or "en"


def _reminders(session: Session, number: str, now: datetime) -> list[TextMessage]:
    """Reminders texted to this number in the last 30 days, newest first."""
    return list(session.scalars(select(TextMessage).where(
        TextMessage.e164 == number, TextMessage.direction == "out", TextMessage.purpose == "reminder",
        TextMessage.subject_kind == "appointment", TextMessage.created_at > now - timedelta(days=30))
        .order_by(TextMessage.id.desc()).limit(20)))


def _settle_targets(session: Session, appointment_id: int, status: str, now: datetime) -> None:
    """The reminder call need not be made any more: its pending targets completed with the text's answer."""
    for target in session.scalars(select(CampaignTarget).where(
            CampaignTarget.subject_kind == "appointment", CampaignTarget.subject_id == appointment_id,
            CampaignTarget.status == "pending")):
        target.status, target.completed_at = "completed", now
        target.outcome = {**(target.outcome or {}), "outcome": status, "via": "sms"}


def _opt_out(session: Session, number: str, inbound: TextMessage, now: datetime) -> None:
    known = session.scalar(select(DoNotCall.id).where(
        DoNotCall.e164 == number, DoNotCall.campaign_kind.is_(None)).limit(1))
    if known is not None:
        return
    row = DoNotCall(e164=number, campaign_kind=None, source="patient_request", reason=STOP_REASON,
                    created_at=now)
    session.add(row)
    session.flush()
    add_audit_event(session, "dnc_added", actor=AuditActor(), patient_id=inbound.patient_id,
                    reason=STOP_REASON,
                    detail={"entry": row.id, "source": "patient_request", "by": "number", "via": "sms",
                            "text_id": inbound.id, "campaign_kind": None})


def _opt_in(session: Session, number: str, inbound: TextMessage) -> None:
    """START undoes STOP: the entries a STOP text made for this number, not what staff or a call added."""
    ids = list(session.scalars(select(DoNotCall.id).where(
        DoNotCall.e164 == number, DoNotCall.source == "patient_request", DoNotCall.reason == STOP_REASON)))
    if not ids:
        return
    session.execute(delete(DoNotCall).where(DoNotCall.id.in_(ids)))
    for entry in ids:
        add_audit_event(session, "dnc_removed", actor=AuditActor(), patient_id=inbound.patient_id,
                        reason="START by text message",
                        detail={"entry": entry, "source": "patient_request", "via": "sms",
                                "text_id": inbound.id})

"""What an inbound call's `action` nodes run (ivr_flows/hotline.yaml,
ivr_flows/post-call-survey.yaml): the
same declarative nodes as the campaign flows (campaigns/actions.py), with the same node schema, the same
`outcomes` wiring and, for appointments, the same action names and results. A call gets its runner through
its flavour (`Inbound.actions`, calls/flavour.py), which `calls/ivr.py` delegates `action` nodes to.

| action                | args                   | results (wired in the flow's `outcomes`)                  |
| --------------------- | ---------------------- | --------------------------------------------------------- |
| `patient.identify`    |                        | identified (the number is one patient's), verify (several |
|                       |                        | share it: ask the date of birth), unknown                 |
| `patient.verify_dob`  | max_tries (default 3)  | verified, retry, failed: the context's `verify.dob`       |
|                       |                        | (MMDDYYYY) against the candidates                         |
| `appointment.next`    |                        | found (`appointment.starts_at`, `appointment.status` in   |
|                       |                        | the context), none                                        |
| `appointment.confirm` |                        | confirmed, not_possible                                   |
| `appointment.cancel`  |                        | cancelled, not_possible                                   |
| `ticket.status`       | max_tries (default 3)  | found (`ticket.status`, `ticket.kind` in the context),    |
|                       |                        | verify (the ticket names a patient the caller has not     |
|                       |                        | proved to be: ask the date of birth, then look again),    |
|                       |                        | wrong_check_digit, unknown, failed (after max_tries wrong |
|                       |                        | or unknown numbers): the context's `ticket.serial`        |
| `ticket.summary`      | intro (a prompt said   | played (Asterisk played it to its end), none (the ticket  |
|                       | before the summary)    | has no summary for the patient), unavailable (no audio,   |
|                       |                        | or Asterisk could not play it: offer a person)            |
| `survey.record`       | question: satisfaction | invalid; the context's `survey.score` (1-5) or            |
|                       | or resolved            | `survey.resolved` (yes/no), stored at once (survey.py)    |

A ticket's status is told to anyone who types its serial number (complaints/serial.py checks the check
digit before any database work), except for a ticket that names a patient: then only to a caller proved to be
that patient (their number alone, or their date of birth, verified against that patient). `ticket.summary`
plays the summary for the patient that its handler wrote when resolving it (complaints/voice.py renders it),
only for the ticket `ticket.status` found in this call, so after the same verification.

Identity: a caller whose number matches exactly one patient is that patient; when several share the number
the caller types their date of birth, which must match exactly one of them, with bounded tries. A caller
whose number matches nobody is not identified by a date of birth alone (many patients share one): the flow
sends them to a person.

Every read of patient data (a date of birth compared, the next appointment) and every change is audited in
the transaction that makes it, by the automated actor (no user, desk or API client; `via: hotline_ivr`).
What the caller typed never reaches a log or an event: ids and results only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..campaigns.compliance import zone as patient_zone
from ..complaints import serial as serials
from ..complaints.services import TicketStatus, status_by_serial
from ..db.database import Database
from ..db.models import Complaint, Patient
from ..db.queries import add_audit_event
from ..eventlog import utcnow
from ..ivr.catalog import PromptCatalog
from ..ivr.flow import Flow, Registry, load_flow
from ..patients.appointments import ACTIVE_STATUSES, change_by_patient, next_appointment
from .survey import SurveyStore

if TYPE_CHECKING:
    from pathlib import Path

    from ..complaints.voice import SummaryVoice

log = logging.getLogger(__name__)

# name -> the results a flow must wire; any other result goes to the node's `next`.
ACTIONS: dict[str, tuple[str, ...]] = {
    "patient.identify": ("identified", "verify", "unknown"),
    "patient.verify_dob": ("verified", "retry", "failed"),
    "appointment.next": ("found", "none"),
    "appointment.confirm": ("confirmed", "not_possible"),
    "appointment.cancel": ("cancelled", "not_possible"),
    "ticket.status": ("found", "verify", "wrong_check_digit", "unknown", "failed"),
    "ticket.summary": ("played", "none", "unavailable"),
    "survey.record": ("invalid",),
}
VIA = {"via": "hotline_ivr"}
DEFAULT_DOB_TRIES = 3
DEFAULT_SERIAL_TRIES = 3


def registry() -> Registry:
    """What inbound flows may name: these actions (no questionnaires)."""
    return Registry(actions=ACTIONS)


def load_inbound_flow(path: str | Path, *, catalog: PromptCatalog | None = None) -> Flow:
    """An inbound flow (the hotline, the post-call survey), validated with the self-service actions: a broken
    one is a FlowError naming each problem as file:line."""
    return load_flow(path, catalog=catalog, registry=registry())


class SelfService:
    """Shared by every inbound call (wired once in main.py); `bind` gives one call its runner."""

    def __init__(self, db: Database, *, time_zone: str = "UTC", clock: Callable[[], datetime] = utcnow,
                 voice: SummaryVoice | None = None):
        self.db, self.clock = db, clock
        self.time_zone = time_zone
        self.voice = voice  # tickets' spoken summaries (complaints/voice.py); None: none are played
        self.surveys = SurveyStore(db, clock=clock)

    def bind(self, call: Any) -> BoundSelfService:
        """`call`: the live call (calls.services.Call): its id and the patients its number matched."""
        return BoundSelfService(self, call)


class BoundSelfService:
    """The self-service of one call: whom the caller proved to be, and the appointment they were told."""

    def __init__(self, service: SelfService, call: Any):
        self.service, self.call = service, call
        self.patient_id: int | None = None
        self.appointment_id: int | None = None
        self.dob_tries = 0
        self.serial_tries = 0
        self.ticket_patient: int | None = None  # a ticket's patient, whom the date of birth must match
        self.ticket_id: int | None = None  # the ticket told to this caller (after any verification)

    async def run(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str:
        handler = _HANDLERS.get(name)
        if handler is None:  # the flow loader refuses unknown names; this is a flow loaded without them
            raise ValueError(f"unknown self-service action {name!r}")
        return await handler(self, args, context)

    # -- identity --

    def _candidates(self) -> list[int]:
        """Whom a date of birth is checked against: the ticket's patient when a ticket asks for it, else the
        patients the caller's number matched."""
        if self.ticket_patient is not None:
            return [self.ticket_patient]
        return [patient["id"] for patient in self.call.patients]

    async def identify(self, args: dict, context: dict) -> str:
        candidates = self._candidates()
        if len(candidates) == 1:
            self.patient_id = candidates[0]
            return "identified"
        return "verify" if candidates else "unknown"

    async def verify_dob(self, args: dict, context: dict) -> str:
        typed = _date_of_birth(context.pop("verify.dob", None))  # not kept: it is patient data
        candidates = self._candidates()
        found = await self.service.db.run(_verify, candidates, typed, self.call.id) if candidates else None
        if found is not None:
            self.patient_id = found
            return "verified"
        self.dob_tries += 1
        log.info("call %s: date of birth did not match (try %d)", self.call.id, self.dob_tries)
        return "failed" if self.dob_tries >= int(args.get("max_tries", DEFAULT_DOB_TRIES)) else "retry"

    # -- appointments --

    async def next_appointment(self, args: dict, context: dict) -> str:
        if self.patient_id is None:
            return "none"
        found = await self.service.db.run(_read_next, self.patient_id, self.service.clock(), self.call.id,
                                          self.service.time_zone)
        if found is None:
            return "none"
        self.appointment_id, starts_at, status = found
        context.update({"appointment.starts_at": starts_at, "appointment.status": status})
        return "found"

    async def confirm(self, args: dict, context: dict) -> str:
        return await self._change("confirmed")

    async def cancel(self, args: dict, context: dict) -> str:
        return await self._change("cancelled")

    async def _change(self, status: str) -> str:
        if self.patient_id is None or self.appointment_id is None:
            return "not_possible"
        appointment_id, patient_id, now = self.appointment_id, self.patient_id, self.service.clock()
        changed = await self.service.db.run(lambda s: change_by_patient(
            s, appointment_id, patient_id, status, ACTIVE_STATUSES, now, call_id=self.call.id, detail=VIA))
        log.info("call %s: appointment %s %s: %s", self.call.id, self.appointment_id, status,
                 "done" if changed else "not possible")
        return status if changed else "not_possible"

    # -- the survey after the call (calls/state.py Surveying) --

    async def survey(self, args: dict, context: dict) -> str:
        question = args.get("question", "satisfaction")
        stored = await self.service.surveys.answer(self.call.id, question, context)
        return "done" if stored else "invalid"

    # -- tickets (complaints, suggestions, praise) --

    async def ticket_status(self, args: dict, context: dict) -> str:
        typed = context.get("ticket.serial") or ""
        try:
            serials.normalize(typed)
        except serials.InvalidSerial:
            return self._serial_failed("wrong_check_digit", args)
        if self.ticket_patient is None and self.patient_id is None:
            known = self._candidates()
            self.patient_id = known[0] if len(known) == 1 else None  # the number alone proves who calls
        found = await self.service.db.run(_ticket_status, typed, self.patient_id, self.call.id)
        if found is None:
            return self._serial_failed("unknown", args)
        if found.identified and found.patient_id != self.patient_id:
            self.ticket_patient = found.patient_id
            return "verify"
        context.pop("ticket.serial", None)
        context.update({"ticket.status": found.status, "ticket.kind": found.kind})
        self.ticket_id = found.id
        return "found"

    async def ticket_summary(self, args: dict, context: dict) -> str:
        """Play the found ticket's summary for the patient; Asterisk's own end state says whether it was
        heard. No file (never made, failed, removed) or a failed playback: `unavailable`, never silence."""
        if self.ticket_id is None:
            return "none"
        ticket_id, call = self.ticket_id, self.call
        if not await self.service.db.run(_summary_told, ticket_id, self.patient_id, call.id):
            return "none"
        media = self.service.voice.media(ticket_id) if self.service.voice else None
        if media is None:
            call.log("ticket_summary_unavailable", complaint_id=ticket_id)
            return "unavailable"
        if args.get("intro"):
            await (await call.media.play([f"sound:{args['intro']}"]))
        # The summary alone in its playback: Asterisk's end state is then the summary's own (a file it
        # cannot open is `failed`, whatever came before it).
        done = await call.media.play([media])
        call.log("ticket_summary_playing", complaint_id=ticket_id, playback_id=done.playback_id)
        state = await done
        call.log("ticket_summary_played", complaint_id=ticket_id, playback_id=done.playback_id, state=state)
        return "played" if state == "done" else "unavailable"

    def _serial_failed(self, result: str, args: dict) -> str:
        self.serial_tries += 1
        log.info("call %s: ticket number %s (try %d)", self.call.id, result, self.serial_tries)
        return "failed" if self.serial_tries >= int(args.get("max_tries", DEFAULT_SERIAL_TRIES)) else result


def _ticket_status(session: Session, serial: str, patient_id: int | None,
                   call_id: str) -> TicketStatus | None:
    """The ticket's status; telling a patient's own ticket to them is a read of their record, audited."""
    found = status_by_serial(session, serial)
    if found is not None and found.identified and found.patient_id == patient_id:
        add_audit_event(session, "ivr_complaint_status", patient_id=patient_id, call_id=call_id,
                        detail={**VIA, "complaint_id": found.id})
    return found


def _summary_told(session: Session, ticket_id: int, patient_id: int | None, call_id: str) -> bool:
    """Whether the ticket (still) has a result for the patient to hear; telling it to a patient is a read of
    their record, audited like the status."""
    found = session.execute(select(Complaint.status, Complaint.patient_summary, Complaint.patient_id)
                            .where(Complaint.id == ticket_id)).first()
    if found is None or found.status not in ("resolved", "closed") or not found.patient_summary:
        return False
    if found.patient_id is not None:
        add_audit_event(session, "ivr_complaint_summary", patient_id=found.patient_id, call_id=call_id,
                        detail={**VIA, "complaint_id": ticket_id, "caller_patient_id": patient_id})
    return True


def _date_of_birth(digits: Any) -> date | None:
    """MMDDYYYY as typed; None when it is no date (the caller is then told it did not match)."""
    if not isinstance(digits, str) or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[4:]), int(digits[:2]), int(digits[2:4]))
    except ValueError:
        return None


def _verify(session: Session, candidates: list[int], typed: date | None, call_id: str) -> int | None:
    """The one candidate born on `typed`, or None. Each candidate's date of birth is read to compare: each
    read is audited, with its result."""
    rows = session.execute(select(Patient.id, Patient.date_of_birth).where(Patient.id.in_(candidates))).all()
    matches = [patient_id for patient_id, born in rows if typed is not None and born == typed]
    found = matches[0] if len(matches) == 1 else None
    for patient_id, _ in rows:
        add_audit_event(session, "ivr_identity_check", patient_id=patient_id, call_id=call_id,
                        detail={**VIA, "verified": patient_id == found})
    return found


def _read_next(session: Session, patient_id: int, now: datetime, call_id: str,
               time_zone: str) -> tuple[int, datetime, str] | None:
    appointment = next_appointment(session, patient_id, now)
    if appointment is None:
        return None
    add_audit_event(session, "ivr_appointment_read", patient_id=patient_id, call_id=call_id,
                    detail={**VIA, "appointment_id": appointment.id})
    patient = session.get(Patient, patient_id)
    # Said as the patient lives it: their own time zone, else the hospital's.
    zone = patient_zone(patient.time_zone if patient else None, time_zone)
    return appointment.id, appointment.starts_at.astimezone(zone), appointment.status


_HANDLERS = {
    "patient.identify": BoundSelfService.identify, "patient.verify_dob": BoundSelfService.verify_dob,
    "appointment.next": BoundSelfService.next_appointment, "appointment.confirm": BoundSelfService.confirm,
    "appointment.cancel": BoundSelfService.cancel, "ticket.status": BoundSelfService.ticket_status,
    "ticket.summary": BoundSelfService.ticket_summary,
    "survey.record": BoundSelfService.survey,
}
assert set(_HANDLERS) == set(ACTIONS)

"""The HL7 v2 interface's use case: one inbound message in, one ACK out, whatever the bytes.

1. The bytes are read and checked (message.py) and mapped (mapping.py) before any database work; a problem
   becomes a NACK (AR/AE + ERR).
2. One transaction: the raw bytes are stored first (inbound_messages) with the message's applied key (sender
   and MSH-10, unique), then each patient change goes through the shared patient feed (patients/services.py)
   and the row records the outcome. A copy of a message already applied, even one applied on another
   connection at the same moment, fails at that first INSERT: the duplicate check costs no statement of its
   own. The first write also takes SQLite's write lock, so the reads of the apply see no other writer.
3. Anything failing (the apply, a duplicate's key, the commit) rolls that transaction back whole, and the raw
   bytes and what became of them (duplicate: acknowledged again, not applied twice; else the NACK) are stored
   in a second transaction. Nothing is lost and nothing is half applied, without a SAVEPOINT and its release
   on every message (two statements of the dozen a message cost).
4. The ACK is built only once the message's row committed, so nothing acknowledged can be lost; if no
   transaction can commit (database down), the listener answers AE "not stored: send again" and the sender
   keeps the message. One commit (one fsync) per message.
5. All of it runs in the caller's thread (`answer`: the listener's thread for the connection), no hand-over
   to another thread and back per message. What a message changes for the rest of the application (a
   discharge's follow-up targets, a death's withdrawals) is written in that same transaction through the
   `FollowUp` port: the campaigns read it from the database, nothing is handed to the event loop.
Logs name message ids and patient ids only.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..config import Config, Hl7Config
from ..db.database import Database
from ..db.models import InboundMessage
from ..db.prepared import Prepared
from ..db.queries import add_audit_event
from ..db.types import utcnow
from ..patients.record import PatientChange
from ..patients.services import FollowUp, IdentityRule, PatientFeed, RecordError
from .ack import build_ack
from .mapping import changes
from .message import INTERNAL_ERROR, REQUIRED_FIELD_MISSING, Header, Hl7Error, error, read, read_header

log = logging.getLogger(__name__)

OUTCOME_OF_ACK = {"AA": "applied", "AR": "rejected", "AE": "failed"}
# What reading a message gives: its header and patient changes, or the problem to answer.
Checked = tuple[Header, list[PatientChange]] | Hl7Error
REAPPLIABLE = ("received", "rejected", "failed")
KEPT_FOR_REAPPLY = "internal error; kept for re-apply"
# The statements run for every message, built once and run on the driver's cursor (db/prepared.py:
# SQLAlchemy's execution cost 30 times the driver's). The others, built once too (SQLAlchemy keeps their
# cache keys).
_LOG = InboundMessage.__table__
_STORED_COLUMNS = ("protocol", "raw", "peer", "sender", "control_id", "message_type", "outcome",
                   "received_at", "applied_key")
_RECORDED_COLUMNS = ("outcome", "ack_code", "processed_at", "error", "patient_id")
_STORE = Prepared(insert(_LOG).returning(_LOG.c.id), _STORED_COLUMNS)
_RECORD = Prepared(update(_LOG).where(_LOG.c.id == bindparam("message_id")), _RECORDED_COLUMNS)
_APPLIED = select(_LOG.c.id).where(_LOG.c.applied_key == bindparam("key"))
_CLAIM = update(_LOG).where(_LOG.c.id == bindparam("message_id")).values(applied_key=bindparam("key"))


@dataclass(frozen=True)
class Outcome:
    message_id: int
    outcome: str      # applied, duplicate, rejected, failed
    ack_code: str     # AA, AE, AR
    problem: Hl7Error | None = None
    patient_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class LogRow:
    id: int
    received_at: datetime
    peer: str | None
    sender: str | None
    control_id: str | None
    message_type: str | None
    outcome: str
    ack_code: str | None
    error: str | None
    patient_id: int | None
    size: int


class Hl7Service:
    def __init__(self, db: Database, feed: PatientFeed, settings: Hl7Config):
        self.db, self.feed, self.settings = db, feed, settings

    @classmethod
    def from_config(cls, db: Database, cfg: Config, followup: FollowUp | None) -> Hl7Service:
        """Over the shared patient feed: identity by [hl7] mrn_system, phones read in [telephony]
        default_region, discharges and deaths told to `followup` (main.py gives the campaigns' port)."""
        rule = IdentityRule(cfg.hl7.mrn_system, cfg.telephony.default_region)
        return cls(db, PatientFeed(rule, followup), cfg.hl7)

    def answer(self, raw: bytes, peer: str | None = None) -> bytes:
        """The ACK for one message (MLLP framing is the listener's), sent after the commit. Blocking: run in
        the caller's thread (the listener's connection thread), parse, transaction and ACK without a
        hand-over."""
        header = read_header(raw)
        checked = self._check(raw)
        outcome = self._settled(self._receive, self._receive_failed, raw, header, peer, checked)
        return self.ack(header, outcome)

    async def receive(self, raw: bytes, peer: str | None = None) -> bytes:
        """`answer` off the event loop."""
        return await asyncio.to_thread(self.answer, raw, peer)

    def ack(self, header: Header, outcome: Outcome) -> bytes:
        return build_ack(header, outcome.ack_code, outcome.problem, application=self.settings.application,
                         facility=self.settings.facility)

    async def reapply(self, message_id: int, user_id: int | None = None) -> Outcome:
        """A stored message processed again (after a fix at the sender's or in our configuration), by an
        admin (audited)."""
        raw = await self.db.run(_reappliable, message_id)
        checked = self._check(raw)
        return await asyncio.to_thread(self._settled, self._reapply, self._reapply_failed, message_id,
                                       checked, user_id)

    def _settled(self, work: Callable[..., Outcome], failed: Callable[..., Outcome], *args) -> Outcome:
        """`work` in one transaction, in this thread; if anything in it fails, it is rolled back whole and
        `failed` records what happened in a transaction of its own (the rare path: two transactions)."""
        try:
            return self.db.run_here(work, *args)
        except Exception as exc:
            return self.db.run_here(failed, *args, exc)

    async def log(self, outcome: str | None = None, before: int | None = None,
                  limit: int = 100) -> list[LogRow]:
        return await self.db.run(_log_rows, outcome, before, limit)

    async def counts(self) -> dict[str, int]:
        return await self.db.run(_counts)

    def _check(self, raw: bytes) -> Checked:
        """The message read, checked and mapped, or the problem to answer (CPU only, no database)."""
        try:
            inbound = read(raw, self.settings.max_message_bytes)
            return inbound.header, changes(inbound)
        except Hl7Error as problem:
            return problem
        except Exception:
            log.exception("HL7 message could not be read")
            return error(INTERNAL_ERROR, "", KEPT_FOR_REAPPLY)

    def _receive(self, session: Session, raw: bytes, header: Header, peer: str | None,
                 checked: Checked) -> Outcome:
        if isinstance(checked, Hl7Error):
            return _refused(session, _store(session, raw, header, peer), checked)
        header, found = checked
        # The applied key in the first write: a copy of an applied message fails here (IntegrityError).
        message_id = _store(session, raw, header, peer, applied_key(header))
        return self._apply(session, message_id, found)

    def _receive_failed(self, session: Session, raw: bytes, header: Header, peer: str | None,
                        checked: Checked, exc: Exception) -> Outcome:
        return _failed(session, _store(session, raw, header, peer), checked, exc)

    def _reapply(self, session: Session, message_id: int, checked: Checked, user_id: int | None) -> Outcome:
        if isinstance(checked, Hl7Error):
            outcome = _refused(session, message_id, checked)
        else:
            header, found = checked
            session.connection().execute(_CLAIM, {"message_id": message_id, "key": applied_key(header)})
            outcome = self._apply(session, message_id, found)
        return _audit_reapply(session, user_id, message_id, outcome)

    def _reapply_failed(self, session: Session, message_id: int, checked: Checked, user_id: int | None,
                        exc: Exception) -> Outcome:
        outcome = _failed(session, message_id, checked, exc)
        return _audit_reapply(session, user_id, message_id, outcome)

    def _apply(self, session: Session, message_id: int, found: list[PatientChange]) -> Outcome:
        applied = [self.feed.apply(session, change) for change in found]
        patient_ids = tuple(a.patient_id for a in applied if a.patient_id is not None)
        return _record(session, Outcome(message_id, "applied", "AA", patient_ids=patient_ids))


def _failed(session: Session, message_id: int, checked: Checked, exc: Exception) -> Outcome:
    """What a message whose transaction failed became, recorded on its row: a copy of a message applied
    before (its key was taken) is a duplicate, acknowledged again; anything else is refused and kept."""
    if isinstance(checked, Hl7Error):
        return _refused(session, message_id, checked)  # the row of a refusal failed to commit: again
    if session.connection().execute(_APPLIED, {"key": applied_key(checked[0])}).first() is not None:
        return _record(session, Outcome(message_id, "duplicate", "AA"))
    return _refused(session, message_id, _problem(message_id, exc))


def _problem(message_id: int, exc: Exception) -> Hl7Error:
    if isinstance(exc, RecordError):
        return error(REQUIRED_FIELD_MISSING, "PID", str(exc))
    if isinstance(exc, IntegrityError):
        return error(INTERNAL_ERROR, "", "conflicting data; kept for re-apply")
    log.error("HL7 message %d: applying failed", message_id, exc_info=exc)
    return error(INTERNAL_ERROR, "", KEPT_FOR_REAPPLY)


def _refused(session: Session, message_id: int, problem: Hl7Error) -> Outcome:
    outcome = Outcome(message_id, OUTCOME_OF_ACK[problem.ack_code], problem.ack_code, problem)
    log.info("HL7 message %d: %s %s", message_id, problem.ack_code, problem.code)
    return _record(session, outcome)


def applied_key(header: Header) -> str:
    return f"{header.sender}|{header.control_id}"[:300]


def _store(session: Session, raw: bytes, header: Header, peer: str | None, key: str | None = None) -> int:
    sender = header.sender[:200] if header.sending_application or header.sending_facility else None
    [(message_id,)] = _STORE.rows(session.connection(), dict(
        protocol="hl7v2", raw=raw, peer=peer, sender=sender, control_id=header.control_id or None,
        message_type=header.message_type or None, outcome="received", received_at=utcnow(), applied_key=key))
    return message_id


def _record(session: Session, outcome: Outcome) -> Outcome:
    _RECORD.rows(session.connection(), dict(
        message_id=outcome.message_id, outcome=outcome.outcome, ack_code=outcome.ack_code,
        processed_at=utcnow(), error=str(outcome.problem) if outcome.problem else None,
        patient_id=outcome.patient_ids[0] if outcome.patient_ids else None))
    return outcome


def _reappliable(session: Session, message_id: int) -> bytes:
    row = session.get(InboundMessage, message_id)
    if row is None:
        raise LookupError(f"no inbound message {message_id}")
    if row.outcome not in REAPPLIABLE:
        raise ValueError(f"message {message_id} is {row.outcome}: "
                         f"only {', '.join(REAPPLIABLE)} messages are applied again")
    return row.raw


def _log_rows(session: Session, outcome: str | None, before: int | None, limit: int) -> list[LogRow]:
    m = InboundMessage
    query = select(m.id, m.received_at, m.peer, m.sender, m.control_id, m.message_type, m.outcome, m.ack_code,
                   m.error, m.patient_id, func.length(m.raw)).order_by(m.id.desc()).limit(limit)
    if outcome:
        query = query.where(m.outcome == outcome)
    if before:
        query = query.where(m.id < before)
    return [LogRow(*row) for row in session.execute(query)]


def _counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(InboundMessage.outcome, func.count()).group_by(InboundMessage.outcome))
    return dict(rows.all())


def _audit_reapply(session: Session, user_id: int | None, message_id: int, outcome: Outcome) -> Outcome:
    add_audit_event(session, "hl7_reapplied", actor_user_id=user_id,
                    patient_id=(outcome.patient_ids or (None,))[0],
                    detail={"message_id": message_id, "outcome": outcome.outcome})
    return outcome

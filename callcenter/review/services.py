"""Recording review: search the recordings, and play one only after saying why.

Playing is two steps. `grant_play` takes the reason and writes the audit row in the transaction that reads
the recording's row (no row, no grant), then hands out a grant: a random token bound to the actor (user or API
client) and the recording, valid for a short while. `audio_file` serves the file only with that grant. So
there is no way to hear a recording that left no audit row, and a copied audio URL is useless to anyone else
or later. A search's results are audited in the transaction that reads them likewise.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Agent, Call, Disposition, Patient, Recording
from ..db.queries import AuditActor, add_audit_event
from .exceptions import GrantRefused, InvalidReason, InvalidSearch, RecordingMissing, RecordingNotFound

REASON_MIN, REASON_MAX = 5, 500
# Long enough to listen to a long call with pauses; the <audio> element fetches ranges all along.
GRANT_SECONDS = 30 * 60
SEARCH_LIMIT = 200
FORMATS = {"wav": "audio/wav", "gsm": "audio/x-gsm", "ulaw": "audio/basic", "sln": "audio/L16"}


@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    agent: str | None = None         # agent number
    patient: str | None = None       # part of a name, or an MRN
    queue: str | None = None
    disposition: str | None = None   # disposition code

    @classmethod
    def from_query(cls, query) -> "Filters":
        """From the search's JSON body (or any mapping of text values)."""
        keys = ("date_from", "date_to", "agent", "patient", "queue", "disposition")
        if any(not isinstance(query.get(k) or "", str) for k in keys):
            raise InvalidSearch("the search fields are text")
        values = {k: (query.get(k) or "").strip() or None for k in keys}
        try:
            for key in ("date_from", "date_to"):
                if values[key]:
                    values[key] = date.fromisoformat(values[key])
        except ValueError:
            raise InvalidSearch("dates are YYYY-MM-DD") from None
        if values["patient"] and len(values["patient"]) > 100:
            raise InvalidSearch("the patient search is too long")
        return cls(**values)

    def used(self) -> list[str]:
        return [k for k, v in self.__dict__.items() if v is not None]


@dataclass
class Grant:
    recording_id: int
    actor: AuditActor
    expires: float


class ReviewService:
    def __init__(self, db: Database, directory: Path):
        self._db = db
        self.directory = directory
        self._grants: dict[str, Grant] = {}

    async def search(self, filters: Filters, actor: AuditActor) -> list[dict]:
        return await self._db.run(_audited_search, filters, actor)

    async def grant_play(self, recording_id: int, reason: object, actor: AuditActor) -> str:
        reason = _clean_reason(reason)
        rec = await self._db.run(_audited_play, recording_id, reason, actor)
        if rec is None:
            raise RecordingNotFound(recording_id)
        self._expire()
        token = secrets.token_urlsafe(24)
        self._grants[token] = Grant(recording_id, actor, time.monotonic() + GRANT_SECONDS)
        return token

    async def audio_file(self, recording_id: int, token: str | None, actor: AuditActor) -> tuple[Path, str]:
        rec = await self._db.run(_recording_with_call, recording_id)
        if rec is None:
            raise RecordingNotFound(recording_id)
        grant = self._grants.get(token or "")
        if grant is None or grant.recording_id != recording_id or grant.actor != actor \
                or grant.expires < time.monotonic():
            raise GrantRefused()
        path = (self.directory / rec["path"]).resolve()
        if not path.is_relative_to(self.directory.resolve()) or not path.is_file():
            raise RecordingMissing(recording_id)
        return path, FORMATS.get(rec["format"], "application/octet-stream")

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, g in self._grants.items() if g.expires < now]:
            del self._grants[token]


def _clean_reason(reason: object) -> str:
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if len(text) < REASON_MIN:
        raise InvalidReason(f"say why you play this recording (at least {REASON_MIN} characters)")
    if len(text) > REASON_MAX:
        raise InvalidReason(f"the reason is limited to {REASON_MAX} characters")
    return text


def _audited_play(session: Session, recording_id: int, reason: str, actor: AuditActor) -> dict | None:
    rec = _recording_with_call(session, recording_id)
    if rec is not None:
        add_audit_event(session, "recording_played", actor=actor, recording_id=recording_id,
                        call_id=rec["call_id"], patient_id=rec["patient_id"], reason=reason)
    return rec


def _audited_search(session: Session, f: Filters, actor: AuditActor) -> list[dict]:
    rows = _search(session, f)
    # The results show patient names and MRNs: who searched for what is itself worth keeping.
    add_audit_event(session, "recordings_searched", actor=actor,
                    detail={"filters": f.used(), "results": len(rows)})
    return rows


def _recording_with_call(session: Session, recording_id: int) -> dict | None:
    row = session.execute(select(Recording, Call.patient_id).join(Call, Call.id == Recording.call_id)
                          .where(Recording.id == recording_id)).first()
    if row is None:
        return None
    rec, patient_id = row
    return {"id": rec.id, "call_id": rec.call_id, "patient_id": patient_id, "path": rec.path or "",
            "format": rec.format}


def _search(session: Session, f: Filters) -> list[dict]:
    started = Call.started_at
    q = (select(Recording, Call, Agent, Patient)
         .join(Call, Call.id == Recording.call_id)
         .outerjoin(Agent, Agent.id == Recording.agent_id)
         .outerjoin(Patient, Patient.id == Call.patient_id))
    if f.date_from:
        q = q.where(started >= _day_start(f.date_from))
    if f.date_to:
        q = q.where(started < _day_start(f.date_to) + timedelta(days=1))
    if f.agent:
        q = q.where(Agent.number == f.agent)
    if f.queue:
        q = q.where(Call.queue_name == f.queue)
    if f.patient:
        like = f"%{f.patient.lower()}%"
        q = q.where(or_(Patient.mrn == f.patient, Patient.given_name.ilike(like),
                        Patient.family_name.ilike(like),
                        (Patient.given_name + " " + Patient.family_name).ilike(like)))
    if f.disposition:
        coded = select(Disposition.call_id).where(Disposition.code == f.disposition)
        q = q.where(Recording.call_id.in_(coded))
    rows = session.execute(q.order_by(started.desc()).limit(SEARCH_LIMIT)).all()
    codes = _dispositions(session, [r.Recording.call_id for r in rows])
    return [_result(r.Recording, r.Call, r.Agent, r.Patient, codes.get(r.Recording.call_id, []))
            for r in rows]


def _dispositions(session: Session, call_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if call_ids:
        for call_id, code in session.execute(select(Disposition.call_id, Disposition.code)
                                             .where(Disposition.call_id.in_(call_ids))):
            out.setdefault(call_id, []).append(code)
    return out


def _result(rec: Recording, call: Call, agent: Agent | None, patient: Patient | None,
            codes: list[str]) -> dict:
    return {
        "id": rec.id, "call_id": call.id, "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at), "duration_seconds": rec.duration_seconds,
        "queue": call.queue_name, "outcome": call.outcome,
        "agent": {"number": agent.number, "name": agent.name} if agent else None,
        "patient": {"id": patient.id, "name": f"{patient.given_name} {patient.family_name}",
                    "mrn": patient.mrn} if patient else None,
        "dispositions": codes,
    }


def _day_start(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

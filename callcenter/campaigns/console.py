"""What the campaign console pages change besides the YAML: a campaign switched on or off, and the
do-not-call list kept by hand. Every change is audited with who made it and why.

The do-not-call list is read by the dialer's claim (services.py) before every dial; here it is only listed,
added to and removed from. A listing shows patients by MRN only: the console has no need for names here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import CAMPAIGN_KINDS, Campaign, DoNotCall, Patient, User
from ..errors import ServiceError
from ..eventlog import EventLog, utcnow
from ..phones import normalize

REASON_MAX = 500


class ConsoleError(ServiceError):
    """A refused console form; `field` names the input at fault."""

    def __init__(self, message: str, field: str = "", status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class DncEntry:
    id: int
    e164: str | None
    mrn: str | None
    campaign_kind: str | None
    source: str
    reason: str
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class DncForm:
    number: str = ""
    mrn: str = ""
    campaign_kind: str = ""
    reason: str = ""


class CampaignConsole:
    def __init__(self, db: Database, events: EventLog, region: str):
        self._db = db
        self._events = events
        self._region = region

    async def set_enabled(self, user_id: int | None, name: str, enabled: bool) -> None:
        changed = await self._db.run(_set_enabled, name, enabled, user_id)
        if not changed:
            raise ConsoleError(f"no campaign named {name!r}", status=404)
        self._events.audit("campaign_enabled" if enabled else "campaign_disabled", actor_user_id=user_id,
                           detail={"campaign": name})
        await self._events.flush()

    # -- do-not-call ----------------------------------------------------------------------------------------

    async def dnc_entries(self, user_id: int | None) -> list[DncEntry]:
        entries = await self._db.run(_dnc_entries)
        self._events.audit("dnc_list_view", actor_user_id=user_id, detail={"entries": len(entries)})
        return entries

    async def dnc_add(self, user_id: int | None, form: DncForm) -> int:
        reason = _reason(form.reason)
        kind = form.campaign_kind or None
        if kind is not None and kind not in CAMPAIGN_KINDS:
            raise ConsoleError("choose a campaign kind from the list, or every campaign", "campaign_kind")
        e164, mrn = self._number(form.number), form.mrn.strip()
        if (e164 is None) == (not mrn):
            raise ConsoleError("give either a phone number or a patient's MRN", "number")
        entry_id, patient_id = await self._db.run(_dnc_insert, e164, mrn, kind, reason, user_id)
        if entry_id is None:
            raise ConsoleError(f"no patient with MRN {mrn!r}", "mrn")
        self._events.audit("dnc_added", actor_user_id=user_id, patient_id=patient_id, reason=reason,
                           detail={"entry": entry_id, "by": "patient" if patient_id else "number",
                                   "campaign_kind": kind})
        await self._events.flush()
        return entry_id

    async def dnc_remove(self, user_id: int | None, entry_id: int, reason: str) -> None:
        reason = _reason(reason)
        row = await self._db.run(_dnc_delete, entry_id)
        if row is None:
            raise ConsoleError("that entry is no longer on the list", status=404)
        self._events.audit("dnc_removed", actor_user_id=user_id, patient_id=row["patient_id"], reason=reason,
                           detail={"entry": entry_id, "source": row["source"],
                                   "campaign_kind": row["campaign_kind"], "by": row["by"]})
        await self._events.flush()

    def _number(self, text: str) -> str | None:
        if not text.strip():
            return None
        number = normalize(text.strip(), self._region)
        if not number.is_valid:
            raise ConsoleError("that is not a valid phone number (E.164 like +14155550100, or national)",
                               "number")
        return number.e164


def _reason(text: str) -> str:
    reason = text.strip()
    if len(reason) < 3:
        raise ConsoleError("say why (a few words): the audit log keeps the reason", "reason")
    if len(reason) > REASON_MAX:
        raise ConsoleError(f"the reason is too long (at most {REASON_MAX} characters)", "reason")
    return reason


def _set_enabled(session: Session, name: str, enabled: bool, user_id: int | None) -> bool:
    result = session.execute(update(Campaign).where(Campaign.name == name).values(
        enabled=enabled, updated_at=utcnow(), updated_by_user_id=user_id))
    return result.rowcount > 0


def _dnc_entries(session: Session) -> list[DncEntry]:
    rows = session.execute(
        select(DoNotCall, Patient.mrn, User.username)
        .outerjoin(Patient, Patient.id == DoNotCall.patient_id)
        .outerjoin(User, User.id == DoNotCall.created_by_user_id)
        .order_by(DoNotCall.created_at.desc(), DoNotCall.id.desc())).all()
    return [DncEntry(d.id, d.e164, mrn, d.campaign_kind, d.source, d.reason, d.created_at, username)
            for d, mrn, username in rows]


def _dnc_insert(session: Session, e164: str | None, mrn: str, kind: str | None, reason: str,
                user_id: int | None) -> tuple[int | None, int | None]:
    patient_id = None
    if mrn:
        patient_id = session.scalar(select(Patient.id).where(Patient.mrn == mrn))
        if patient_id is None:
            return None, None
    row = DoNotCall(e164=e164, patient_id=patient_id, campaign_kind=kind, source="admin", reason=reason,
                    created_by_user_id=user_id, created_at=utcnow())
    session.add(row)
    session.flush()
    return row.id, patient_id


def _dnc_delete(session: Session, entry_id: int) -> dict | None:
    row = session.get(DoNotCall, entry_id)
    if row is None:
        return None
    facts = {"patient_id": row.patient_id, "source": row.source, "campaign_kind": row.campaign_kind,
             "by": "patient" if row.patient_id else "number"}
    session.execute(delete(DoNotCall).where(DoNotCall.id == entry_id))
    return facts


@dataclass(frozen=True)
class CampaignRow:
    name: str
    kind: str
    title: str
    version: int
    enabled: bool
    source_yaml: str
    loaded_from: str | None
    updated_at: datetime
    updated_by: str | None


async def campaign_rows(db: Database) -> list[CampaignRow]:
    return await db.run(_campaign_rows, None)


async def campaign_row(db: Database, name: str) -> CampaignRow:
    rows = await db.run(_campaign_rows, name)
    if not rows:
        raise ConsoleError(f"no campaign named {name!r}", status=404)
    return rows[0]


def _campaign_rows(session: Session, name: str | None) -> list[CampaignRow]:
    query = (select(Campaign, User.username).outerjoin(User, User.id == Campaign.updated_by_user_id)
             .order_by(Campaign.name))
    if name is not None:
        query = query.where(Campaign.name == name)
    return [CampaignRow(c.name, c.kind, c.title, c.version, c.enabled, c.source_yaml, c.loaded_from,
                        c.updated_at, username) for c, username in session.execute(query).all()]

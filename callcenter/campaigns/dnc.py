"""The do-not-call list kept by hand: ONE service for the console pages (console_http.py), the JSON API
(http.py) and the command line (commands.py). Add, remove, list, import a CSV file.

Who and why: an entry added by hand and every removal need a reason (a few words); the audit row holds the
user (None from the command line, which runs as the operator on the server) and that reason. A listing is
audited too: it shows patients by MRN. Numbers themselves are never written to the audit log or the logs.

An import is all-or-nothing: every row is checked first and every bad row is reported with its row number;
only a file without a single problem is written, in one transaction, so a half-imported list never exists.
CSV columns (header row required): `number` and/or `mrn`, optional `campaign_kind` (empty: every campaign),
optional `reason` (the file's name is the reason of a row without one).

The list is read by the dialer's claim (claims.py) before every dial; opt-out keys of automated calls add
entries of their own (actions.py, source `ivr_key`).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import CAMPAIGN_KINDS, DoNotCall, Patient, User
from ..db.queries import AuditActor, add_audit_event
from ..eventlog import utcnow
from ..phones import normalize
from .exceptions import DoNotCallError

COLUMNS = ("number", "mrn", "campaign_kind", "reason")
MAX_ROWS = 100_000
REASON_MIN, REASON_MAX = 3, 500


@dataclass(frozen=True)
class DncRequest:
    """One entry to add, as typed (console form, JSON body, command line) or read from a CSV row."""
    number: str = ""
    mrn: str = ""
    campaign_kind: str = ""
    reason: str = ""


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

    def to_json(self) -> dict:
        return {"id": self.id, "number": self.e164, "mrn": self.mrn, "campaign_kind": self.campaign_kind,
                "source": self.source, "reason": self.reason, "created_at": self.created_at.isoformat(),
                "created_by": self.created_by}


def require_reason(text: str | None) -> str:
    """The reason of a change by hand; DoNotCallError (field 'reason') when missing or too long."""
    reason = (text or "").strip()
    if len(reason) < REASON_MIN:
        raise DoNotCallError("say why (a few words): the audit log keeps the reason", field="reason")
    if len(reason) > REASON_MAX:
        raise DoNotCallError(f"the reason is too long (at most {REASON_MAX} characters)", field="reason")
    return reason


class DoNotCallList:
    """Every change and every listing is audited in its own transaction, naming the actor (a user, an API
    client, or nobody for the command line)."""

    def __init__(self, db: Database, region: str):
        self.db, self.region = db, region

    async def add(self, request: DncRequest, actor: AuditActor, source: str = "admin") -> int:
        """One entry added by hand; the reason is required."""
        reason = require_reason(request.reason)
        request = DncRequest(request.number, request.mrn, request.campaign_kind, reason)
        return await self.db.run(self._add, request, actor, source)

    async def remove(self, entry_id: int, actor: AuditActor, reason: str | None) -> None:
        """Remove one entry; the reason is required and kept in the audit row with who removed it."""
        reason = require_reason(reason)
        if not await self.db.run(_audited_delete, entry_id, actor, reason):
            raise DoNotCallError(f"no do-not-call entry {entry_id} (already removed?)", status=404)

    async def entries(self, actor: AuditActor) -> list[DncEntry]:
        """Every entry, newest first; the listing is audited (it shows patients' MRNs)."""
        return await self.db.run(_audited_entries, actor)

    async def import_csv(self, text: str, actor: AuditActor, shown_as: str = "import") -> int:
        """Every row or none; DoNotCallError lists every bad row as `file: row N: what`."""
        requests = _read_csv(text, shown_as)
        return await self.db.run(self._import, requests, actor, shown_as)

    def _add(self, session: Session, request: DncRequest, actor: AuditActor, source: str) -> int:
        [row] = self._insert(session, [request], actor.user_id, source, "")
        add_audit_event(session, "dnc_added", actor=actor, patient_id=row["patient_id"],
                        reason=request.reason, detail={"entry": row["id"], "source": source, "by": row["by"],
                                                       "campaign_kind": row["campaign_kind"]})
        return row["id"]

    def _import(self, session: Session, requests: list[DncRequest], actor: AuditActor, shown_as: str) -> int:
        rows = self._insert(session, requests, actor.user_id, "import", shown_as)
        add_audit_event(session, "dnc_imported", actor=actor, reason=f"import of {shown_as}"[:REASON_MAX],
                        detail={"rows": len(rows), "file": shown_as})
        return len(rows)

    def _insert(self, session: Session, requests: list[DncRequest], user_id: int | None, source: str,
                shown_as: str) -> list[dict]:
        problems: list[str] = []
        rows = []
        mrns = _patients_by_mrn(session, {r.mrn.strip() for r in requests if r.mrn.strip()})
        for index, request in enumerate(requests, start=2):  # row 1 is the header
            try:
                rows.append(self._row(request, mrns, user_id, source, shown_as))
            except DoNotCallError as exc:
                if not shown_as:
                    raise
                problems.append(f"{shown_as}: row {index}: {exc}")
        if problems:
            raise DoNotCallError("\n".join(problems))
        session.add_all(rows)
        session.flush()
        return [_facts(row) for row in rows]

    def _row(self, request: DncRequest, mrns: dict[str, int], user_id: int | None, source: str,
             shown_as: str) -> DoNotCall:
        number, mrn = request.number.strip(), request.mrn.strip()
        if not number and not mrn:
            raise DoNotCallError("give a phone number or a patient's MRN", field="number")
        e164 = None
        if number:
            e164 = normalize(number, self.region).e164
            if e164 is None:
                raise DoNotCallError(f"{number!r} is not a valid phone number (E.164 like +14155550100, or "
                                     "national)", field="number")
        if mrn and mrn not in mrns:
            raise DoNotCallError(f"no patient with MRN {mrn!r}", field="mrn")
        kind = request.campaign_kind.strip() or None
        if kind and kind not in CAMPAIGN_KINDS:
            raise DoNotCallError(f"campaign_kind {kind!r} is not one of {', '.join(CAMPAIGN_KINDS)}",
                                 field="campaign_kind")
        reason = request.reason.strip() or (f"import of {shown_as}" if shown_as else "")
        return DoNotCall(e164=e164, patient_id=mrns.get(mrn), campaign_kind=kind, source=source,
                         reason=reason[:REASON_MAX], created_by_user_id=user_id, created_at=utcnow())


def _facts(row: DoNotCall) -> dict:
    """What the audit row may say of an entry: ids and kinds, never the number."""
    return {"id": row.id, "patient_id": row.patient_id, "source": row.source,
            "campaign_kind": row.campaign_kind, "by": "patient" if row.patient_id else "number"}


def _read_csv(text: str, shown_as: str) -> list[DncRequest]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if not header or unknown or not {"number", "mrn"} & set(header):
        raise DoNotCallError(f"{shown_as}: row 1: the header must name columns among {', '.join(COLUMNS)} "
                             f"with number or mrn" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    reader.fieldnames = header
    requests = [DncRequest(**{k: (v or "") for k, v in row.items() if k in COLUMNS}) for row in reader]
    if len(requests) > MAX_ROWS:
        raise DoNotCallError(f"{shown_as}: more than {MAX_ROWS} rows; split the file")
    return requests


def _patients_by_mrn(session: Session, mrns: set[str]) -> dict[str, int]:
    if not mrns:
        return {}
    return dict(session.execute(select(Patient.mrn, Patient.id).where(Patient.mrn.in_(mrns))).all())


def _audited_delete(session: Session, entry_id: int, actor: AuditActor, reason: str) -> bool:
    row = session.get(DoNotCall, entry_id)
    if row is None:
        return False
    facts = _facts(row)
    del facts["id"]
    session.execute(delete(DoNotCall).where(DoNotCall.id == entry_id))
    add_audit_event(session, "dnc_removed", actor=actor, patient_id=facts.pop("patient_id"), reason=reason,
                    detail={"entry": entry_id, **facts})
    return True


def _audited_entries(session: Session, actor: AuditActor) -> list[DncEntry]:
    entries = _entries(session)
    add_audit_event(session, "dnc_list_view", actor=actor, detail={"entries": len(entries)})
    return entries


def _entries(session: Session) -> list[DncEntry]:
    rows = session.execute(
        select(DoNotCall, Patient.mrn, User.username)
        .outerjoin(Patient, Patient.id == DoNotCall.patient_id)
        .outerjoin(User, User.id == DoNotCall.created_by_user_id)
        .order_by(DoNotCall.created_at.desc(), DoNotCall.id.desc())).all()
    return [DncEntry(d.id, d.e164, mrn, d.campaign_kind, d.source, d.reason, d.created_at, username)
            for d, mrn, username in rows]

"""The do-not-call list from the command line and the JSON API: add, remove, list, import a CSV file.

An import is all-or-nothing: every row is checked first and every bad row is reported with its row number;
only a file without a single problem is written, in one transaction, so a half-imported list never exists.
CSV columns (header row required): `number` and/or `mrn`, optional `campaign_kind` (empty: every campaign),
optional `reason`. Every change is audited (who, how many; never the numbers themselves).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import CAMPAIGN_KINDS, DoNotCall, Patient
from ..eventlog import EventLog
from ..phones import normalize
from .exceptions import DoNotCallError

COLUMNS = ("number", "mrn", "campaign_kind", "reason")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class DncRequest:
    number: str = ""
    mrn: str = ""
    campaign_kind: str = ""
    reason: str = ""


class DoNotCallList:
    def __init__(self, db: Database, events: EventLog, region: str):
        self.db, self.events, self.region = db, events, region

    async def add(self, request: DncRequest, user_id: int | None, source: str = "admin") -> int:
        ids = await self.db.run(self._insert, [request], user_id, source, "")
        self.events.audit("dnc_added", actor_user_id=user_id, detail={"entries": ids, "source": source})
        return ids[0]

    async def remove(self, entry_id: int, user_id: int | None) -> None:
        if not await self.db.run(_delete, entry_id):
            raise DoNotCallError(f"no do-not-call entry {entry_id}", 404)
        self.events.audit("dnc_removed", actor_user_id=user_id, detail={"entry": entry_id})

    async def entries(self) -> list[dict]:
        return await self.db.run(_entries)

    async def import_csv(self, text: str, user_id: int | None, shown_as: str = "import") -> int:
        """Every row or none; DoNotCallError lists every bad row as `file: row N: what`."""
        requests = _read_csv(text, shown_as)
        ids = await self.db.run(self._insert, requests, user_id, "import", shown_as)
        self.events.audit("dnc_imported", actor_user_id=user_id, detail={"rows": len(ids), "file": shown_as})
        return len(ids)

    def _insert(self, session: Session, requests: list[DncRequest], user_id: int | None, source: str,
                shown_as: str) -> list[int]:
        problems: list[str] = []
        rows = []
        mrns = _patients_by_mrn(session, {r.mrn.strip() for r in requests if r.mrn.strip()})
        for index, request in enumerate(requests, start=2):  # row 1 is the header
            try:
                rows.append(self._row(request, mrns, user_id, source))
            except DoNotCallError as exc:
                problems.append(f"{shown_as}: row {index}: {exc}" if shown_as else str(exc))
        if problems:
            raise DoNotCallError("\n".join(problems))
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]

    def _row(self, request: DncRequest, mrns: dict[str, int], user_id: int | None, source: str) -> DoNotCall:
        number, mrn = request.number.strip(), request.mrn.strip()
        if not number and not mrn:
            raise DoNotCallError("give a number or an MRN")
        e164 = None
        if number:
            e164 = normalize(number, self.region).e164
            if e164 is None:
                raise DoNotCallError(f"{number!r} is not a phone number")
        if mrn and mrn not in mrns:
            raise DoNotCallError(f"no patient with MRN {mrn!r}")
        kind = request.campaign_kind.strip() or None
        if kind and kind not in CAMPAIGN_KINDS:
            raise DoNotCallError(f"campaign_kind {kind!r} is not one of {', '.join(CAMPAIGN_KINDS)}")
        return DoNotCall(e164=e164, patient_id=mrns.get(mrn), campaign_kind=kind, source=source,
                         reason=request.reason.strip()[:500], created_by_user_id=user_id)


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


def _delete(session: Session, entry_id: int) -> bool:
    return bool(session.execute(delete(DoNotCall).where(DoNotCall.id == entry_id)).rowcount)


def _entries(session: Session) -> list[dict]:
    rows = session.execute(select(DoNotCall, Patient.mrn).outerjoin(Patient, Patient.id == DoNotCall.patient_id)
                           .order_by(DoNotCall.id))
    return [{"id": d.id, "number": d.e164, "mrn": mrn, "campaign_kind": d.campaign_kind, "source": d.source,
             "reason": d.reason, "created_at": d.created_at.isoformat()} for d, mrn in rows]

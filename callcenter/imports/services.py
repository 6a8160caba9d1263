"""Imports of files from the hospital's systems (CSV of patients, appointments or encounters; FHIR R4
bundles): every change goes through the one patient feed of callcenter/patients/ (identity by MRN, upsert,
event-time order, discharge follow-up), in one transaction per file.

All or nothing by default: a file with one bad row changes nothing, and the report lists every bad row. With
`good_rows` the good rows are imported and the bad ones reported. A dry run checks everything, including
what only the database can tell (an appointment whose patient is unknown), and then rolls back.

Every import is an audit row (who, which kind, counts; never a value from the file), in the transaction of
the import when it commits, else on its own.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import false, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Patient, PatientIdentifier
from ..db.queries import add_audit_event
from ..db.types import utcnow
from ..patients.appointments import AppointmentRecord, apply_appointment
from ..patients.record import ChangeKind, Identifier, PatientChange
from ..patients.services import PatientFeed, RecordError, find_patient, mrn_of
from . import fhir
from .csvfile import CellError, CsvSettings, RowError, decode, parse

log = logging.getLogger(__name__)
BATCH = 1000  # rows applied together (PatientFeed.apply_many), then the session's identity map cleared


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    good_rows: bool = False   # import the good rows of a file with bad ones (default: nothing)


@dataclass
class ImportReport:
    kind: str
    source: str                       # "csv" or "fhir"
    dry_run: bool = False
    good_rows: bool = False
    total: int = 0                    # rows (resources) in the file
    applied: int = 0                  # good rows written (or that would be, in a dry run)
    created: int = 0                  # of which new patients / appointments
    stale: int = 0                    # of which older than the stored data (left alone)
    targets_created: int = 0          # discharge follow-up targets the discharges made
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False
    skipped: int = 0                  # resources of types this import does not take (FHIR)

    @property
    def rejected(self) -> int:
        return len({e.line for e in self.errors if e.line})

    def audit_detail(self) -> dict:
        return {"kind": self.kind, "source": self.source, "rows": self.total, "applied": self.applied,
                "created": self.created, "rejected": self.rejected, "dry_run": self.dry_run,
                "good_rows": self.good_rows, "committed": self.committed}


@dataclass(frozen=True)
class Item:
    """One change to apply, from a CSV line or a FHIR resource (its place in the bundle as `line`)."""
    line: int
    change: PatientChange | AppointmentRecord
    column: str = "mrn"       # where a refusal points (CSV column; FHIR: the resource's Type/id)
    unit: str = "line"
    patient_ref: str | None = None  # FHIR: the patient the change is about, still to resolve to an MRN


class _RolledBack(Exception):
    def __init__(self, report: ImportReport):
        self.report = report


class ImportService:
    def __init__(self, db: Database, feed: PatientFeed, csv_settings: CsvSettings):
        self.db, self.feed, self.csv_settings = db, feed, csv_settings

    async def import_csv(self, kind: str, data: bytes, options: ImportOptions, *, actor_user_id: int | None,
                         encoding: str = "utf-8") -> ImportReport:
        report = ImportReport(kind, "csv", options.dry_run, options.good_rows)
        try:
            parsed = parse(kind, decode(data, encoding), self._settings())
        except CellError as exc:
            report.errors.append(RowError(1, "", str(exc)))
            return await self._audit_only(report, actor_user_id)
        report.total = parsed.total
        report.errors.extend(parsed.errors)
        items = [Item(row.line, row.change) for row in parsed.rows]
        return await self.apply(report, items, options, actor_user_id)

    def _settings(self) -> CsvSettings:
        return CsvSettings(**{**self.csv_settings.__dict__, "now": utcnow()})

    async def import_fhir(self, data: bytes, options: ImportOptions, *, actor_user_id: int | None,
                          kind: str = "bundle") -> ImportReport:
        """A FHIR R4 Bundle (or one resource): the resources it holds, each refused one reported by entry."""
        report = ImportReport(kind, "fhir", options.dry_run, options.good_rows)
        try:
            entries = fhir.read_entries(data)
        except fhir.BundleError as exc:
            report.errors.append(RowError(0, "", str(exc), "entry"))
            return await self._audit_only(report, actor_user_id)
        return await self.import_entries(report, entries, options, actor_user_id)

    async def import_entries(self, report: ImportReport, entries, options: ImportOptions,
                             actor_user_id: int | None) -> ImportReport:
        parsed = fhir.parse_entries(entries, self.feed.rule.mrn_system, utcnow())
        report.total, report.skipped = parsed.total, parsed.skipped
        report.errors.extend(parsed.errors)
        items = [Item(i.entry, i.change, i.label, "entry", i.patient_ref) for i in parsed.items]
        return await self.apply(report, items, options, actor_user_id, parsed.refs)

    async def apply(self, report: ImportReport, items: list[Item], options: ImportOptions,
                    actor_user_id: int | None, refs: dict[str, str] | None = None) -> ImportReport:
        """Apply the items in one transaction; commit unless dry run, or bad rows without `good_rows`."""
        header_broken = any(e.line == 1 and report.source == "csv" for e in report.errors) and not items
        if header_broken:
            return await self._audit_only(report, actor_user_id)
        try:
            return await self.db.run(self._apply_all, report, items, options, actor_user_id, refs or {})
        except _RolledBack as rolled:
            return await self._audit_only(rolled.report, actor_user_id)

    def _apply_all(self, session: Session, report: ImportReport, items: list[Item], options: ImportOptions,
                   actor_user_id: int | None, refs: dict[str, str]) -> ImportReport:
        _begin(session)
        # Person changes first, a batch at a time (new patients in a few multi-row INSERTs), then the rest
        # one by one: a bundle's Patients come before the stays, lists and appointments that name them
        # anyway, and mixed in a batch they were applied one by one too.
        persons = [item for item in items if _person(item)]
        for chunk in _chunks(persons):
            self._apply_batch(session, report, chunk, refs)
            session.expunge_all()
        for chunk in _chunks([item for item in items if not _person(item)]):
            for item in chunk:
                self._apply_one(session, report, item, refs)
            session.expunge_all()
        report.errors.sort()
        if options.dry_run or (report.errors and not options.good_rows):
            raise _RolledBack(report)
        report.committed = True
        _audit(session, report, actor_user_id)
        return report

    def _apply_batch(self, session: Session, report: ImportReport, chunk: list[Item],
                     refs: dict[str, str]) -> None:
        """Person changes together (new patients in one flush); if the database refuses the batch, its rows
        one by one, which finds the row at fault."""
        savepoint = session.begin_nested()
        try:
            results = self.feed.apply_many(session, [item.change for item in chunk])
        except SQLAlchemyError:
            savepoint.rollback()
            for item in chunk:
                self._apply_one(session, report, item, refs)
            return
        savepoint.commit()
        for item, result in zip(chunk, results, strict=True):
            if isinstance(result, RecordError):
                report.errors.append(RowError(item.line, item.column, str(result), item.unit))
            else:
                _count(report, result.created, result.stale, result.targets_created)

    def _apply_one(self, session: Session, report: ImportReport, item: Item, refs: dict[str, str]) -> None:
        savepoint = session.begin_nested()
        try:
            outcome = self._change(session, item, refs)
        except RecordError as exc:
            savepoint.rollback()
            report.errors.append(RowError(item.line, item.column, str(exc), item.unit))
            return
        except SQLAlchemyError as exc:
            savepoint.rollback()
            # The type only: the database's message may quote the value.
            log.warning("import %s %d refused by the database: %s", item.unit, item.line, type(exc).__name__)
            report.errors.append(RowError(item.line, item.column if item.unit == "entry" else "",
                                          "refused by the database (a value out of range?)", item.unit))
            return
        savepoint.commit()
        _count(report, *outcome)

    def _change(self, session: Session, item: Item, refs: dict[str, str]) -> tuple[bool, bool, int]:
        """(created, stale, follow-up targets created)."""
        change = self._resolved(session, item, refs) if item.patient_ref else item.change
        if isinstance(change, AppointmentRecord):
            done = apply_appointment(session, change)
            return done.created, done.stale, 0
        if change.kind is not ChangeKind.PERSON and change.patient.family_name is None:
            # An encounter row names its patient by MRN only: it must be known (the feed would refuse to
            # create a patient without a name, in words meant for HL7 senders).
            if find_patient(session, mrn_of(change.patient, self.feed.rule).value) is None:
                raise RecordError("patient identifier: no patient with this MRN (import the patient first)")
        done = self.feed.apply(session, change)
        return done.created, done.stale, done.targets_created

    def _resolved(self, session: Session, item: Item, refs: dict[str, str]):
        """The change with its patient named by MRN: the bundle's Patient, else the one imported earlier
        under that FHIR id."""
        mrn = refs.get(item.patient_ref) or _mrn_of_fhir_id(session, item.patient_ref)
        if mrn is None:
            raise RecordError("patient reference: no such patient in the bundle or imported before")
        if isinstance(item.change, AppointmentRecord):
            return replace(item.change, mrn=mrn)
        identity = (Identifier(self.feed.rule.mrn_system, mrn, "MR"),)
        return replace(item.change, patient=replace(item.change.patient, identifiers=identity))

    async def _audit_only(self, report: ImportReport, actor_user_id: int | None) -> ImportReport:
        report.errors.sort()
        await self.db.run(_audit, report, actor_user_id)
        return report


def _mrn_of_fhir_id(session: Session, reference: str) -> str | None:
    kind, _, fhir_id = reference.rpartition("/")
    if not kind.endswith("Patient") or not fhir_id:
        return None
    return session.scalar(
        select(Patient.mrn).join(PatientIdentifier, PatientIdentifier.patient_id == Patient.id)
        .where(PatientIdentifier.system == fhir.ID_SYSTEM, PatientIdentifier.value == fhir_id))


def _chunks(items: list[Item]) -> Iterable[list[Item]]:
    return (items[start:start + BATCH] for start in range(0, len(items), BATCH))


def _person(item: Item) -> bool:
    change = item.change
    return (item.patient_ref is None and isinstance(change, PatientChange)
            and change.kind is ChangeKind.PERSON and change.visit is None)


def _audit(session: Session, report: ImportReport, actor_user_id: int | None) -> None:
    add_audit_event(session, f"{report.source}_import", actor_user_id=actor_user_id,
                    detail=report.audit_detail())


def _begin(session: Session) -> None:
    """Start the write transaction with a write that changes nothing: pysqlite begins a transaction only at
    the first write, and a SAVEPOINT before it would be the transaction itself (its release would commit)."""
    session.execute(update(Patient).where(false()).values(mrn=Patient.mrn))


def _count(report: ImportReport, created: bool, stale: bool, targets: int) -> None:
    report.applied += 1
    report.created += created
    report.stale += stale
    report.targets_created += targets


def summary_lines(report: ImportReport, limit: int | None = None) -> Iterable[str]:
    """The report as lines of text (the CLI prints them): the counts, then every error."""
    verb = "would import" if report.dry_run else ("imported" if report.committed else "imported nothing of")
    yield (f"{report.kind} ({report.source}): {report.total} rows, {report.applied - report.stale} applied, "
           f"{report.created} new, {report.stale} older than stored data, {report.rejected} rejected"
           + (f", {report.skipped} skipped" if report.skipped else "")
           + (f", {report.targets_created} follow-up targets" if report.targets_created else ""))
    if report.dry_run:
        yield f"dry run: nothing written ({verb} {report.applied} rows)"
    elif not report.committed:
        yield ("nothing written: fix the rows below and import again, or import the good rows "
               "(--good-rows)")
    for error in report.errors[:limit]:
        yield str(error)
    if limit is not None and len(report.errors) > limit:
        yield f"... and {len(report.errors) - limit} more"

"""`callcenter import patients|appointments|encounters FILE` and `callcenter fhir import|poll`: what the
command line does (cli.py only parses). They work on the database directly, as the operator on the server
(audit rows name no user). Exit status 0 when the file was imported (or would be, in a dry run) without a bad
row, 1 when rows were refused, 2 for a file that cannot be read."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from ..campaigns.followup import DischargeFollowUp
from ..config import Config
from ..db.database import Database
from ..patients.services import IdentityRule, PatientFeed
from .csvfile import CsvSettings
from .services import ImportOptions, ImportReport, ImportService, summary_lines

PRINTED_ERRORS = 200


def csv_settings(cfg: Config) -> CsvSettings:
    """A CSV file's MRNs are the hospital's MRNs, the identifiers of [hl7] mrn_system that ADT sends too."""
    return CsvSettings(mrn_system=cfg.hl7.mrn_system, default_region=cfg.telephony.default_region,
                       tz=ZoneInfo(cfg.site.time_zone), day_first=cfg.imports.day_first)


def patient_feed(cfg: Config, mrn_system: str) -> PatientFeed:
    """The shared feed with the identity rule of a source: [hl7] mrn_system for HL7 and CSV, [fhir]
    mrn_system (an identifier.system URI) for FHIR."""
    return PatientFeed(IdentityRule(mrn_system=mrn_system, default_region=cfg.telephony.default_region),
                       DischargeFollowUp())


def csv_import(cfg: Config, args) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    options = ImportOptions(dry_run=args.dry_run, good_rows=args.good_rows)

    async def go(db: Database) -> ImportReport:
        service = ImportService(db, patient_feed(cfg, cfg.hl7.mrn_system), csv_settings(cfg))
        return await service.import_csv(args.kind, path.read_bytes(), options, actor_user_id=None,
                                        encoding=args.encoding)
    return _print(_run(cfg, go))


def _run(cfg: Config, work):
    db = Database(cfg.database_url)
    try:
        return asyncio.run(work(db))
    finally:
        db.close()


def _print(report: ImportReport) -> int:
    lines = list(summary_lines(report, PRINTED_ERRORS))
    print(lines[0])
    for line in lines[1:]:
        print(line, file=sys.stderr if report.errors else sys.stdout)
    return 1 if report.errors else 0


def fhir_import(cfg: Config, args) -> int:
    """A FHIR R4 Bundle file: every valid resource imported, each refused one reported (--all-or-nothing:
    a refused resource imports nothing)."""
    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    options = ImportOptions(dry_run=args.dry_run, good_rows=not args.all_or_nothing)

    async def go(db: Database) -> ImportReport:
        service = ImportService(db, patient_feed(cfg, cfg.fhir.mrn_system), csv_settings(cfg))
        return await service.import_fhir(path.read_bytes(), options, actor_user_id=None)
    return _print(_run(cfg, go))


def fhir_poll(cfg: Config, args) -> int:
    """One poll of [fhir] base_url (for cron), or one every --interval seconds until stopped."""
    import aiohttp

    from .fhirpoll import FhirPoller, FhirServer, FhirServerError, PollBusy

    async def go(db: Database) -> ImportReport | None:
        service = ImportService(db, patient_feed(cfg, cfg.fhir.mrn_system), csv_settings(cfg))
        async with aiohttp.ClientSession() as http:
            poller = FhirPoller(service, FhirServer(cfg.fhir, http), cfg.state_path / "fhir-poll.json",
                                cfg.fhir.page_size)
            if args.interval:
                await poller.run(args.interval)
                return None
            return await poller.poll_once(args.since)
    try:
        report = _run(cfg, go)
    except (FhirServerError, aiohttp.ClientError, TimeoutError) as exc:
        print(f"error: FHIR server: {exc}", file=sys.stderr)
        return 2
    except PollBusy as exc:
        print(f"error: {exc}; try again when it ends", file=sys.stderr)
        return 3
    return _print(report) if report else 0

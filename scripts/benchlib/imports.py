"""bench-import: a CSV file of N patients (two phones each) and a FHIR R4 bundle of M resources (patients,
their stays, appointments, allergies and conditions), imported through `ImportService` into an empty,
migrated database, timed from the file's bytes to the commit (parse, validation, phone normalisation, the
shared patient feed). Files are generated once into var/ (fictional people). Goals: 100k patients < 30 s,
10k resources < 30 s. Wall and CPU seconds are reported (the database server's CPU, for PostgreSQL, is not
in the latter).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.db.database import Database
from callcenter.imports.csvfile import CsvSettings
from callcenter.imports.services import ImportOptions, ImportService
from callcenter.patients.services import IdentityRule, PatientFeed

ROOT = Path(__file__).resolve().parents[2]
MRN_SYSTEM = "http://hospital.example.org/mrn"
GOAL_SECONDS = 30.0
FAMILIES = ["Quillon", "Marchbanks", "Thistlewood", "Okafor", "Nakamura", "Silva", "Kowalski", "Haddad"]
GIVEN = ["Ada", "Rupert", "Ottilie", "Chidi", "Yuki", "Marta", "Piotr", "Layla"]
DEPARTMENTS = ["Cardiology", "Oncology", "Orthopedics", "Maternity"]


def main() -> None:
    p = argparse.ArgumentParser(prog="bench-import", description=__doc__)
    p.add_argument("--patients", type=int, default=100_000, help="rows of the CSV file")
    p.add_argument("--resources", type=int, default=10_000, help="resources of the FHIR bundle")
    p.add_argument("--database-url", help="an empty database to import into (default: a fresh SQLite file)")
    args = p.parse_args()
    var = ROOT / "var"
    csv_file = _cached(var / f"bench-import-{args.patients}.csv", lambda: patients_csv(args.patients))
    bundle = _cached(var / f"bench-import-{args.resources}.json", lambda: fhir_bundle(args.resources))
    figures = {"csv_patients": args.patients, "fhir_resources": args.resources}
    figures |= asyncio.run(measure(csv_file, bundle, args.database_url))
    print(json.dumps(figures, indent=2))
    (ROOT / "var" / "bench-import.json").write_text(json.dumps(figures, indent=2))


def _cached(path: Path, make) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
    return path.read_bytes()


def patients_csv(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["mrn", "family_name", "given_name", "birth_date", "sex", "language", "mobile_phone",
                     "home_phone"])
    for n in range(count):
        writer.writerow([f"B{n:07d}", FAMILIES[n % 8], GIVEN[n % 7], f"19{40 + n % 60}-{1 + n % 12:02d}-"
                         f"{1 + n % 28:02d}", "FM"[n % 2], "en" if n % 5 else "es",
                         f"(415) {200 + n // 10000 % 800:03d}-{n % 10000:04d}",
                         f"+1 212 {200 + n // 10000 % 800:03d} {n % 10000:04d}"])
    return out.getvalue().encode()


def fhir_bundle(count: int) -> bytes:
    """Per patient five resources: the Patient, a finished stay, an appointment, an allergy, a condition."""
    start = datetime(2026, 11, 1, 8, tzinfo=UTC)
    entries = []
    for n in range(count // 5):
        ref = f"Patient/bp{n}"
        entries += [
            {"resourceType": "Patient", "id": f"bp{n}", "meta": {"lastUpdated": "2026-11-20T10:00:00Z"},
             "identifier": [{"system": MRN_SYSTEM, "value": f"F{n:07d}"}],
             "name": [{"family": FAMILIES[n % 8], "given": [GIVEN[n % 7]]}], "gender": "female",
             "birthDate": f"19{40 + n % 60}-01-01",
             "telecom": [{"system": "phone", "value": f"(415) 300-{n % 10000:04d}", "use": "mobile"}]},
            {"resourceType": "Encounter", "id": f"be{n}", "status": "finished", "class": {"code": "IMP"},
             "subject": {"reference": ref}, "serviceType": {"text": DEPARTMENTS[n % 4]},
             "period": {"start": (start + timedelta(minutes=n)).isoformat(),
                        "end": (start + timedelta(days=3, minutes=n)).isoformat()}},
            {"resourceType": "Appointment", "id": f"ba{n}", "status": "booked",
             "start": (start + timedelta(days=30, minutes=n)).isoformat(),
             "end": (start + timedelta(days=30, minutes=n + 20)).isoformat(),
             "serviceType": [{"text": DEPARTMENTS[n % 4]}],
             "participant": [{"actor": {"reference": ref}, "status": "accepted"}]},
            {"resourceType": "AllergyIntolerance", "id": f"bal{n}", "patient": {"reference": ref},
             "code": {"text": "Penicillin"}},
            {"resourceType": "Condition", "id": f"bc{n}", "subject": {"reference": ref},
             "code": {"text": "Hypertension", "coding": [{"code": "I10"}]}},
        ]
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in entries]}).encode()


async def measure(csv_file: bytes, bundle: bytes, url: str | None) -> dict:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in (("csv", _csv), ("fhir", _fhir)):
            db = Database(url or f"sqlite:///{tmp}/{name}.db")
            try:
                db.upgrade()
                started, cpu = time.perf_counter(), time.process_time()
                report = await run(db, csv_file if name == "csv" else bundle)
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            finally:
                db.close()
            figures[f"{name}_seconds"] = round(seconds, 2)
            # CPU of this process (every thread): on a shared, loaded machine the wall time mostly waits.
            figures[f"{name}_cpu_seconds"] = round(cpu, 2)
            figures[f"{name}_applied"] = report.applied
            figures[f"{name}_errors"] = len(report.errors)
            figures[f"{name}_goal_met"] = seconds < GOAL_SECONDS and report.committed and not report.errors
    figures["database"] = "postgresql" if url and url.startswith("postgresql") else "sqlite"
    return figures


async def _csv(db: Database, data: bytes):
    service = ImportService(db, PatientFeed(IdentityRule(""), DischargeFollowUp()), CsvSettings())
    return await service.import_csv("patients", data, ImportOptions(), actor_user_id=None)


async def _fhir(db: Database, data: bytes):
    service = ImportService(db, PatientFeed(IdentityRule(MRN_SYSTEM), DischargeFollowUp()), CsvSettings())
    return await service.import_fhir(data, ImportOptions(), actor_user_id=None)


if __name__ == "__main__":
    main()

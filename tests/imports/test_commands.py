"""`callcenter import KIND FILE`, run in-process through `callcenter.cli.main` on a SQLite database:
the report printed, the exit status, a dry run, the good rows."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter import cli
from callcenter.config import SCRIPT_PREFIXES
from callcenter.db.database import Database
from callcenter.db.models import Patient

FILE = ("mrn,family_name,given_name,birth_date,mobile_phone\n"
        "CLI-1,Doe,Jane,1950-12-10,(415) 555-0101\n"
        "CLI-2,Roe,Richard,1961-02-03,not a phone\n")


@pytest.fixture
def database(monkeypatch, tmp_path: Path, sqlite_template) -> str:
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and not name.startswith(SCRIPT_PREFIXES):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "cli.db").write_bytes(sqlite_template.read_bytes())
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "callcenter.toml"))
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", url)
    return url


def patients(url: str) -> int:
    db = Database(url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(Patient))
    finally:
        db.close()


def test_given_file_with_bad_row_when_imported_then_reported_exit_1_and_only_good_rows_on_request(
        database, tmp_path, capsys):
    path = tmp_path / "patients.csv"
    path.write_text(FILE)
    assert cli.main(["import", "patients", str(path), "--dry-run"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("patients (csv): 2 rows, 1 applied, 1 new, 0 older than stored data, 1 rejected")
    assert "line 3, column mobile_phone: not a phone number" in err and "dry run: nothing written" in err
    assert cli.main(["import", "patients", str(path)]) == 1
    assert "nothing written" in capsys.readouterr().err and patients(database) == 0
    assert cli.main(["import", "patients", str(path), "--good-rows"]) == 1
    assert patients(database) == 1
    path.write_text(FILE.replace("not a phone", ""))
    assert cli.main(["import", "patients", str(path)]) == 0
    assert "2 rows, 2 applied, 1 new" in capsys.readouterr().out and patients(database) == 2
    assert cli.main(["import", "patients", str(tmp_path / "absent.csv")]) == 2


def test_given_bundle_with_a_bad_resource_when_fhir_imported_then_others_imported_and_exit_1(
        database, tmp_path, capsys, monkeypatch):
    from .fhir_data import MRN_SYSTEM, as_bytes, bundle, encounter, patient
    monkeypatch.setenv("CALLCENTER_FHIR_MRN_SYSTEM", MRN_SYSTEM)
    path = tmp_path / "bundle.json"
    path.write_bytes(as_bytes(bundle(patient("p1", "MRN-C1"), encounter("e1", "Patient/none"))))
    assert cli.main(["fhir", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("bundle (fhir): 2 rows, 1 applied, 1 new") and "entry 2 (Encounter/e1)" in err
    assert patients(database) == 1

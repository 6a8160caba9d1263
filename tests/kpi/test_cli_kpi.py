"""`callcenter kpi`: the same report as the service, as a 100-column table or as CSV."""
from __future__ import annotations

import csv
import io

import pytest

from callcenter.cli import main
from callcenter.db.database import Database

from . import synthetic as day


@pytest.fixture
def seeded_file(sqlite_url, monkeypatch):
    db = Database(sqlite_url)
    db.upgrade()
    with db.session() as session:
        day.seed(session)
    db.close()
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CALLCENTER_SITE_TIME_ZONE", day.TZ.key)


def test_given_synthetic_day_when_kpi_by_queue_as_table_then_fits_100_columns(seeded_file, capsys):
    assert main(["kpi", "--from", "2026-11-23", "--by", "queue"]) == 0

    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    lines = out.splitlines()
    assert lines[lines.index("Inbound") + 5].split() == [
        "Scheduling", "5", "2", "2", "1", "15", "328", "50.0%", "50.0%", "-", "1", "1", "50.0%"]
    total = lines[lines.index("Inbound") + 6].split()
    del total[9]  # occupancy: counted up to the real clock, which may be inside the synthetic day
    assert total == ["Total", "8", "5", "2", "1", "62", "454", "57.1%", "28.6%", "1", "1", "66.7%"]


def test_given_synthetic_day_when_kpi_by_interval_as_csv_then_96_rows_and_total(seeded_file, capsys):
    assert main(["kpi", "--from", "2026-11-23", "--to", "2026-11-23", "--by", "interval", "--format", "csv",
                 "--queue", "scheduling"]) == 0

    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 97 and rows[-1]["key"] == "total"
    assert (rows[-1]["offered"], rows[-1]["answered"], rows[-1]["service_level"]) == ("5", "2", "0.5")
    assert [r["key"] for r in rows[:-1] if r["offered"] != "0"] == [
        "2026-11-23T08:00", "2026-11-23T10:00", "2026-11-23T10:30", "2026-11-23T11:00"]


def test_given_instant_without_offset_when_kpi_then_usage_error(seeded_file, capsys):
    assert main(["kpi", "--from", "2026-11-23T08:00", "--by", "day"]) == 2
    assert "offset" in capsys.readouterr().err

"""Every CSV the product writes goes through web/csvfile.py: a cell a spreadsheet would run as a formula is
neutralised in each export (issue 14: the triage record's own guard missed tab and carriage return)."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from callcenter.admin.http import audit_rows_csv
from callcenter.campaigns.http import rows_to_csv
from callcenter.kpi.http import report_csv
from callcenter.triage.http import record_csv
from callcenter.web.csvfile import cell

FORMULAS = ["=1+2", "+1+2", "-1+2", "@SUM(A1)", "\t=1+2", "\r=1+2"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _kpi(value: str) -> str:
    return report_csv({"totals": {"offered": 1}, "rows": [{"key": "q", "label": value,
                                                           "kpis": {"offered": 1}}]})


def _campaign(value: str) -> str:
    return rows_to_csv([{"target_id": 1, "outcome": value, "status": "completed"}])


def _triage(value: str) -> str:
    event = {"at": "2026-12-04T10:00:00", "type": "triage_answered", "agent_id": 1, "user_id": 2,
             "protocol": "chest", "version": "1", "question": "q1", "text": value, "answer": "yes",
             "disposition": None, "kind": None, "detail": None}
    return record_csv({"call": {"id": "c" * 32}, "events": [event]})


def _audit(value: str) -> str:
    row = SimpleNamespace(id=1, ts=datetime(2026, 12, 4, tzinfo=UTC), action="patient_view", actor="agent1",
                          desk="1001", mrn="MRN1", patient_name="Pat", call_id=None, recording_id=None,
                          reason=value, detail=None)
    return audit_rows_csv([row])


EXPORTS = {"kpi report": (_kpi, "label"), "campaign report": (_campaign, "outcome"),
           "triage record": (_triage, "text"), "audit log": (_audit, "reason")}


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("value", FORMULAS, ids=repr)
def test_given_a_cell_starting_like_a_formula_when_each_export_is_written_then_it_stays_text(export, value):
    write, column = EXPORTS[export]

    header, row, *_ = _rows(write(value))  # the KPI report ends with its totals

    assert row[header.index(column)] == "'" + value


def test_given_numbers_and_texts_when_written_then_numbers_stay_numbers_and_only_texts_are_quoted():
    assert [cell(-5), cell(-1.5), cell(0), cell(None), cell(True)] == ["-5", "-1.5", "0", "", "True"]
    assert [cell("-5"), cell("plain"), cell("a=b")] == ["'-5", "plain", "a=b"]

"""CSV parsing and validation (callcenter/imports/csvfile.py): columns, every bad row by line and column,
phones through the product's normalisation, the date formats hospitals export. No database."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.imports.csvfile import CellError, CsvSettings, decode, parse, parse_date, parse_datetime
from callcenter.patients.record import ChangeKind

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SETTINGS = CsvSettings(mrn_system="HOSP", default_region="US", tz=ZoneInfo("America/New_York"), now=NOW)
PATIENTS = "mrn,family_name,given_name,birth_date,sex,mobile_phone,home_phone,work_phone,other_phones\n"


def errors(parsed) -> list[tuple[int, str]]:
    return [(e.line, e.column) for e in parsed.errors]


def test_given_patient_with_several_phones_when_parsed_then_each_phone_in_e164_with_its_use():
    parsed = parse("patients", PATIENTS + "M1,Doe,Jane,1950-12-10,F,(415) 555-0101,415.555.0102,"
                                          "+1 415 555 0103,415-555-0104; 415 555 0105\n", SETTINGS)
    assert parsed.errors == [] and parsed.total == 1
    record = parsed.rows[0].change.patient
    assert [(p.number, p.use) for p in record.phones] == [
        ("+14155550101", "mobile"), ("+14155550102", "home"), ("+14155550103", "work"),
        ("+14155550104", "other"), ("+14155550105", "other")]
    assert (record.family_name, record.birth_date, record.sex) == ("Doe", date(1950, 12, 10), "F")
    assert [(i.system, i.value, i.type) for i in record.identifiers] == [("HOSP", "M1", "MR")]
    assert parsed.rows[0].change.event_time == NOW


def test_given_bad_rows_when_parsed_then_every_error_has_line_column_and_reason_without_the_value():
    text = (PATIENTS
            + "M1,Doe,Jane,1950-12-10,F,,,,\n"
            + "M2,Roe,,1950-13-01,female,12,,,\n"          # line 3: given name, no such day, phone
            + "\n"                                          # blank line: skipped, still counted as a line
            + "M3,Poe,Ed,31/31/1950,Q,,,,\n"                # line 5: date, sex
            + "M1,Doe,Jane,1950-12-10,F,,,,\n")             # line 6: the same MRN as line 2
    parsed = parse("patients", text, SETTINGS)
    assert parsed.total == 4 and [r.line for r in parsed.rows] == [2]
    assert sorted(errors(parsed)) == [(3, "birth_date"), (3, "given_name"), (3, "mobile_phone"),
                                      (5, "birth_date"), (5, "sex"), (6, "mrn")]
    reasons = " ".join(str(e) for e in parsed.errors)
    assert "line 6, column mrn: the same MRN as line 2" in reasons
    assert "Roe" not in reasons and "31/31" not in reasons and " 12" not in reasons.replace("line 12", "")


def test_given_quoted_cell_spanning_lines_when_parsed_then_later_rows_keep_their_file_line():
    text = (PATIENTS + 'M1,"Doe\nSmith",Jane,1950-12-10,F,,,,\n' + "M2,Roe,Ann,bad,F,,,,\n")
    parsed = parse("patients", text, SETTINGS)
    assert errors(parsed) == [(4, "birth_date")]


@pytest.mark.parametrize("header, expected", [
    ("mrn,family_name,given_name\n", [(1, "birth_date")]),
    ("mrn,family_name,given_name,birth_date,shoe_size\n", [(1, "shoe_size")]),
    ("mrn,mrn,family_name,given_name,birth_date\n", [(1, "mrn")]),
])
def test_given_bad_header_when_parsed_then_line_1_names_the_column_and_no_row_is_read(header, expected):
    parsed = parse("patients", header + "M1,Doe,Jane,1950-12-10\n", SETTINGS)
    assert errors(parsed) == expected and parsed.rows == []


def test_given_file_without_header_when_parsed_then_refused_without_echoing_its_first_row():
    parsed = parse("patients", "M1,Doe,Jane,1950-12-10\n", SETTINGS)
    assert errors(parsed) == [(1, "")]
    assert "Doe" not in str(parsed.errors[0]) and "doe" not in str(parsed.errors[0])


def test_given_empty_file_when_parsed_then_refused_at_line_1():
    assert errors(parse("patients", "", SETTINGS)) == [(1, "")]


def test_given_semicolon_file_with_bom_and_crlf_when_parsed_then_read_like_a_comma_file():
    data = "\ufeffMRN;Family Name;Given Name;Birth Date\r\nM1;Doe;Jane;10.12.1950\r\n".encode()
    parsed = parse("patients", decode(data), SETTINGS)
    assert parsed.errors == [] and parsed.rows[0].change.patient.birth_date == date(1950, 12, 10)


def test_given_file_not_in_utf8_when_decoded_then_refused_with_the_line_of_the_bad_byte():
    with pytest.raises(CellError, match="line 3: not utf-8 text"):
        decode(b"mrn\nM1\nM\xe9\n")
    assert decode(b"mrn\nM\xe9\n", "cp1252") == "mrn\nM\u00e9\n"


@pytest.mark.parametrize("raw, day_first, expected", [
    ("2026-03-01", False, date(2026, 3, 1)),
    ("20260301", False, date(2026, 3, 1)),
    ("01.03.2026", False, date(2026, 3, 1)),
    ("03/01/2026", False, date(2026, 3, 1)),
    ("01/03/2026", True, date(2026, 3, 1)),
    ("2026/3/1", True, date(2026, 3, 1)),
])
def test_given_date_in_an_export_format_when_parsed_then_the_same_day(raw, day_first, expected):
    assert parse_date(raw, day_first) == expected


@pytest.mark.parametrize("raw", ["1/3/26", "2026-02-30", "March 1, 2026", "13/13/2026"])
def test_given_ambiguous_or_impossible_date_when_parsed_then_refused(raw):
    with pytest.raises(CellError):
        parse_date(raw, False)


@pytest.mark.parametrize("raw, expected", [
    ("2026-03-01T14:30:00Z", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
    ("2026-03-01 09:30", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),             # New York, winter
    ("202603010930", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
    ("20260301093000-0500", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
    ("03/01/2026 9:30 AM", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
    ("03/01/2026 12:15 PM", datetime(2026, 3, 1, 17, 15, tzinfo=UTC)),
    ("2026-07-01 09:30", datetime(2026, 7, 1, 13, 30, tzinfo=UTC)),             # summer time
])
def test_given_date_time_in_an_export_format_when_parsed_then_the_same_instant(raw, expected):
    assert parse_datetime(raw, SETTINGS) == expected


def test_given_encounter_rows_when_parsed_then_discharges_admissions_and_visits_told_apart():
    text = ("mrn,visit_number,patient_class,department,ward,admitted_at,discharged_at,updated_at\n"
            "M1,V1,inpatient,Cardiology,C3,2026-03-01 08:00,2026-03-05 12:00,2026-03-05T17:00:00Z\n"
            "M1,V2,,Cardiology,,2026-03-07 08:00,,\n"
            "M2,V3,outpatient,Dermatology,,2026-03-07 08:00,,\n"
            "M3,V4,inpatient,Cardiology,,2026-03-07 08:00,2026-03-06 08:00,\n"
            "M4,V5,ward,Cardiology,,2026-03-07 08:00,,\n")
    parsed = parse("encounters", text, SETTINGS)
    kinds = [(r.line, r.change.kind) for r in parsed.rows]
    assert kinds == [(2, ChangeKind.DISCHARGE), (3, ChangeKind.ADMIT), (4, ChangeKind.VISIT)]
    assert parsed.rows[0].change.event_time == datetime(2026, 3, 5, 17, tzinfo=UTC)
    assert parsed.rows[0].change.visit.ward == "C3"
    assert errors(parsed) == [(5, "discharged_at"), (6, "patient_class")]


def test_given_appointment_rows_when_parsed_then_statuses_mapped_and_bad_ones_reported():
    text = ("mrn,appointment_id,starts_at,department,clinician,status\n"
            "M1,A1,2026-03-01 10:00,Cardiology,Dr Heart,Canceled\n"
            "M1,A2,2026-03-02 10:00,Cardiology,,\n"
            "M1,A3,2026-03-02 10:00,,,maybe\n"
            "M1,A1,2026-03-09 10:00,Cardiology,,\n")
    parsed = parse("appointments", text, SETTINGS)
    assert [(r.change.appointment_id, r.change.status) for r in parsed.rows] == [
        ("A1", "cancelled"), ("A2", "booked")]
    assert errors(parsed) == [(4, "department"), (4, "status"), (5, "appointment_id")]

"""CSV files of patients, appointments and encounters read into the source-neutral records of
callcenter/patients/ (what HL7 v2 and FHIR map to as well), every bad row reported as `line, column: reason`.

The columns are documented in docs/imports.md and listed in COLUMNS below. A reason names what is wrong,
never the value: reports go on screens and into terminals, and the value is patient data.

Hospital exports differ in the small things: the delimiter (`,` or `;` from a European spreadsheet, tab),
a UTF-8 byte order mark, dates as `2026-03-01`, `20260301` (HL7 style), `01.03.2026`, or with slashes, whose
order (`03/01/2026` in the US, `01/03/2026` elsewhere) the file cannot tell: `day_first` says it.
Date-times without an offset are in the hospital's time zone ([site] time_zone).
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo

from ..patients.appointments import AppointmentRecord
from ..patients.record import (
    MRN_MAX_LENGTH,
    ChangeKind,
    Identifier,
    PatientChange,
    PatientRecord,
    Phone,
    VisitRecord,
)
from ..phones import normalize

KINDS = ("patients", "appointments", "encounters")
MAX_LINE_ERRORS = 1000  # a file that is wrong everywhere (a wrong export) is not reported row by row forever
SEXES = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M", "x": "X", "other": "X", "u": "U",
         "unknown": "U"}
YES = {"y", "yes", "true", "1", "deceased"}
NO = {"n", "no", "false", "0"}
PHONE_COLUMNS = {"mobile_phone": "mobile", "home_phone": "home", "work_phone": "work"}
PATIENT_CLASSES = ("inpatient", "outpatient", "emergency", "preadmit", "recurring", "obstetrics")
APPOINTMENT_STATUSES = {"booked": "booked", "confirmed": "confirmed", "cancelled": "cancelled",
                        "canceled": "cancelled", "completed": "completed", "fulfilled": "completed",
                        "no_show": "no_show", "noshow": "no_show", "no-show": "no_show"}
OTHER_PHONES_SEPARATOR = re.compile(r"[;|]")


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def known(self) -> tuple[str, ...]:
        return self.required + self.optional


COLUMNS = {
    "patients": Columns(("mrn", "family_name", "given_name", "birth_date"),
                        ("sex", "language", "mobile_phone", "home_phone", "work_phone", "other_phones",
                         "deceased", "deceased_at", "updated_at")),
    "appointments": Columns(("mrn", "starts_at", "department"),
                            ("appointment_id", "clinician", "status", "location", "updated_at")),
    "encounters": Columns(("mrn", "department", "admitted_at"),
                          ("visit_number", "patient_class", "ward", "attending", "discharged_at",
                           "disposition", "updated_at")),
}


@dataclass(frozen=True, order=True)
class RowError:
    """A bad row: its line and column (CSV), or a bad resource: its entry and `Type/id` (FHIR)."""
    line: int
    column: str
    reason: str
    unit: str = "line"

    def __str__(self) -> str:
        if self.unit == "entry":
            return f"entry {self.line} ({self.column}): {self.reason}"
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class Row:
    """One good row: its line in the file and the change it makes (a PatientChange or, for appointments,
    an AppointmentRecord)."""
    line: int
    change: PatientChange | AppointmentRecord


@dataclass
class ParsedFile:
    kind: str
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0  # data rows in the file, good and bad

    @property
    def bad_lines(self) -> set[int]:
        return {e.line for e in self.errors}


@dataclass(frozen=True)
class CsvSettings:
    mrn_system: str = ""            # the identifier system CSV MRNs are in (the configured MRN system)
    default_region: str = "US"      # phone numbers without a country code
    tz: tzinfo | None = None        # date-times without an offset (None: UTC)
    day_first: bool = False         # 01/03/2026 is 1 March (True) or 3 January (False)
    # When the rows' data is from unless a row says (updated_at): the moment of the import, which makes a
    # file the newest news about its patients.
    now: datetime = datetime(1970, 1, 1, tzinfo=UTC)


class CellError(ValueError):
    """What is wrong with one cell (the value is never in the message)."""


# -- reading the file ------------------------------------------------------------------------------------


def decode(data: bytes, encoding: str = "utf-8") -> str:
    """The file's text; a file in another encoding is refused with the line of the first bad byte."""
    try:
        utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        return data.decode("utf-8-sig" if utf8 else encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CellError(f"line {line}: not {encoding} text (save the file as CSV UTF-8, or name its "
                        "encoding)") from None
    except LookupError:
        raise CellError(f"unknown encoding {encoding!r}") from None


def parse(kind: str, text: str, settings: CsvSettings) -> ParsedFile:
    """Every row checked; the good ones mapped to changes, the bad ones reported by line and column."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown import kind {kind!r}: one of {', '.join(KINDS)}")
    parsed = ParsedFile(kind)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    header = _header(next(reader, None), COLUMNS[kind], parsed)
    if header is None:
        return parsed
    mapper = MAPPERS[kind]
    seen: dict[str, int] = {}
    for line, cells in _rows(reader):
        parsed.total += 1
        if len(parsed.errors) >= MAX_LINE_ERRORS:
            continue
        _one_row(parsed, mapper, settings, header, line, cells, seen)
    if len(parsed.errors) >= MAX_LINE_ERRORS:
        parsed.errors.append(RowError(0, "", f"more than {MAX_LINE_ERRORS} errors: the rest of the file was "
                                             "not checked"))
    return parsed


def _one_row(parsed: ParsedFile, mapper, settings: CsvSettings, header: list[str], line: int,
             cells: list[str], seen: dict[str, int]) -> None:
    if len(cells) > len(header):
        parsed.errors.append(RowError(line, "", f"{len(cells)} cells but the header names {len(header)} "
                                                "columns"))
        return
    values = dict(zip(header, (c.strip() for c in cells), strict=False))
    errors: list[RowError] = []
    change = mapper(_Cells(values, line, errors, settings))
    if not errors:
        key = _key(change)
        if key in seen:
            errors.append(RowError(line, _key_column(parsed.kind), f"the same {_key_name(parsed.kind)} as "
                                                                   f"line {seen[key]}"))
        else:
            seen[key] = line
    if errors:
        parsed.errors.extend(errors)
    else:
        parsed.rows.append(Row(line, change))


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma, semicolon (spreadsheets where the comma is the decimal mark), tab or pipe: the one the header
    line has most of."""
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count)

    class Dialect(csv.excel):
        pass
    Dialect.delimiter = delimiter
    return Dialect


def _header(cells: list[str] | None, columns: Columns, parsed: ParsedFile) -> list[str] | None:
    if not cells or not any(c.strip() for c in cells):
        parsed.errors.append(RowError(1, "", "the file is empty: the first line must name the columns"))
        return None
    header = [c.strip().lower().replace(" ", "_") for c in cells]
    if not set(header) & set(columns.known):
        # A file without its header line: its first row is patient data, not column names to echo.
        parsed.errors.append(RowError(1, "", "the first line must name the columns (none is a known column: "
                                             + ", ".join(columns.known) + ")"))
        return None
    for name in header:
        if name and name not in columns.known:
            known = ", ".join(columns.known)
            parsed.errors.append(RowError(1, name, f"unknown column (known: {known})"))
    for name in columns.required:
        if name not in header:
            parsed.errors.append(RowError(1, name, "required column missing"))
    dupes = sorted({n for n in header if n and header.count(n) > 1})
    for name in dupes:
        parsed.errors.append(RowError(1, name, "column named twice"))
    return None if parsed.errors else header


def _rows(reader) -> Iterator[tuple[int, list[str]]]:
    """Each data row with the line it starts on (a quoted cell may span lines); blank lines skipped."""
    start = reader.line_num + 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield start, cells
        start = reader.line_num + 1


def _key(change) -> str:
    if isinstance(change, AppointmentRecord):
        when = change.appointment_id or change.starts_at.isoformat()
        return f"{change.mrn}\x00{when}\x00{change.department}"
    visit = change.visit
    mrn = change.patient.identifiers[0].value
    if visit is None:
        return mrn
    return f"{mrn}\x00{visit.visit_number or visit.admitted_at.isoformat()}"


def _key_column(kind: str) -> str:
    return {"patients": "mrn", "appointments": "appointment_id", "encounters": "visit_number"}[kind]


def _key_name(kind: str) -> str:
    return {"patients": "MRN", "appointments": "appointment", "encounters": "visit"}[kind]


# -- cells -------------------------------------------------------------------------------------------------


class _Cells:
    """One row's cells by column; each reader records a RowError for its column and returns None."""

    def __init__(self, values: dict[str, str], line: int, errors: list[RowError], settings: CsvSettings):
        self.values, self.line, self.errors, self.settings = values, line, errors, settings

    def get(self, column: str, convert: Callable[[str], object] = str, *, required: bool = False):
        raw = self.values.get(column, "")
        if not raw:
            if required:
                self.errors.append(RowError(self.line, column, "required value missing"))
            return None
        try:
            return convert(raw)
        except CellError as exc:
            self.errors.append(RowError(self.line, column, str(exc)))
            return None

    def text(self, column: str, length: int, *, required: bool = False) -> str | None:
        def bounded(raw: str) -> str:
            if len(raw) > length:
                raise CellError(f"longer than {length} characters")
            return raw
        return self.get(column, bounded, required=required)

    def date(self, column: str, *, required: bool = False) -> date | None:
        return self.get(column, lambda raw: parse_date(raw, self.settings.day_first), required=required)

    def datetime(self, column: str, *, required: bool = False) -> datetime | None:
        return self.get(column, lambda raw: parse_datetime(raw, self.settings), required=required)

    def phone(self, column: str, use: str) -> list[Phone]:
        numbers = self.get(column, lambda raw: [self._e164(p) for p in OTHER_PHONES_SEPARATOR.split(raw)
                                                if p.strip()])
        return [Phone(n, use, e164=n) for n in numbers or ()]

    def _e164(self, raw: str) -> str:
        number = normalize(raw, self.settings.default_region)
        if not number.is_valid:
            raise CellError("not a phone number (E.164 like +14155550100, or national with its area code)")
        return number.e164

    def choice(self, column: str, choices: dict[str, str]) -> str | None:
        def pick(raw: str) -> str:
            value = choices.get(raw.lower())
            if value is None:
                raise CellError("not one of " + ", ".join(sorted(set(choices.values()))))
            return value
        return self.get(column, pick)

    def mrn(self) -> str | None:
        return self.text("mrn", MRN_MAX_LENGTH, required=True)


# -- dates -------------------------------------------------------------------------------------------------

ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})$")
COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})$")
DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})$")
SLASHED_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})$")
YEAR_FIRST_SLASHED = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})$")
DATE_FORMATS = "YYYY-MM-DD, YYYYMMDD, DD.MM.YYYY or a date with slashes"
TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?$")
COMPACT_DATETIME = re.compile(r"(\d{8})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


def parse_date(raw: str, day_first: bool) -> date:
    value = raw.strip()
    for pattern, order in ((ISO_DATE, "ymd"), (COMPACT_DATE, "ymd"), (DOTTED_DATE, "dmy"),
                           (YEAR_FIRST_SLASHED, "ymd"), (SLASHED_DATE, "dmy" if day_first else "mdy")):
        match = pattern.match(value)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                raise CellError("no such day") from None
    raise CellError(f"not a date ({DATE_FORMATS})")


def parse_datetime(raw: str, settings: CsvSettings) -> datetime:
    value = raw.strip()
    parsed = _iso_datetime(value) or _compact_datetime(value) or _date_and_time(value, settings.day_first)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.tz or UTC)
    return parsed


def _iso_datetime(value: str) -> datetime | None:
    if not ISO_DATE.match(value[:10]) or len(value) <= 10:
        return None
    try:
        return datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise CellError("not a date and time (ISO 8601 like 2026-03-01T14:30, or 2026-03-01 14:30)") from None


def _compact_datetime(value: str) -> datetime | None:
    """HL7 style, as interface engines export: YYYYMMDDHHMM[SS][+ZZZZ]."""
    match = COMPACT_DATETIME.match(value)
    if not match:
        return None
    day, hour, minute, second, offset = match.groups()
    text = f"{day}{hour}{minute}{second or '00'}{offset or ''}"
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S%z" if offset else "%Y%m%d%H%M%S")
    except ValueError:
        raise CellError("no such day or time") from None


def _date_and_time(value: str, day_first: bool) -> datetime:
    day_part, _, time_part = value.partition(" ")
    day = parse_date(day_part, day_first)
    if not time_part.strip():
        return datetime.combine(day, time())
    match = TIME.match(time_part.strip())
    if not match:
        raise CellError("not a time (HH:MM, HH:MM:SS or hh:mm AM/PM after the date)")
    hour, minute, second, meridiem = match.groups()
    hour = int(hour)
    if meridiem:
        if not 1 <= hour <= 12:
            raise CellError("not a time (hh:mm AM/PM takes hours 1 to 12)")
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    try:
        return datetime.combine(day, time(hour, int(minute), int(second or 0)))
    except ValueError:
        raise CellError("no such time") from None


# -- rows to changes ---------------------------------------------------------------------------------------


def _identity(cells: _Cells, mrn: str | None) -> tuple[Identifier, ...]:
    return (Identifier(cells.settings.mrn_system, mrn or "", "MR"),)


def _event_time(cells: _Cells) -> datetime:
    return cells.datetime("updated_at") or cells.settings.now


def patient_row(cells: _Cells) -> PatientChange | None:
    mrn = cells.mrn()
    phones = [p for column, use in PHONE_COLUMNS.items() for p in cells.phone(column, use)]
    phones += cells.phone("other_phones", "other")
    deceased = cells.choice("deceased", {**dict.fromkeys(YES, "yes"), **dict.fromkeys(NO, "no")})
    deceased_at = cells.datetime("deceased_at")
    record = PatientRecord(
        identifiers=_identity(cells, mrn),
        family_name=cells.text("family_name", 100, required=True),
        given_name=cells.text("given_name", 100, required=True),
        birth_date=cells.date("birth_date", required=True),
        sex=cells.choice("sex", SEXES),
        language=cells.text("language", 16),
        phones=tuple(phones) if "other_phones" in cells.values or any(c in cells.values
                                                                        for c in PHONE_COLUMNS) else None,
        deceased=(deceased == "yes" or deceased_at is not None) if deceased or deceased_at else None,
        deceased_at=deceased_at)
    return PatientChange(ChangeKind.PERSON, record, _event_time(cells))


def encounter_row(cells: _Cells) -> PatientChange | None:
    mrn = cells.mrn()
    patient_class = cells.choice("patient_class", {c: c for c in PATIENT_CLASSES})
    visit = VisitRecord(
        visit_number=cells.text("visit_number", 64), patient_class=patient_class,
        department=cells.text("department", 80, required=True), ward=cells.text("ward", 80),
        attending=cells.text("attending", 200), admitted_at=cells.datetime("admitted_at", required=True),
        discharged_at=cells.datetime("discharged_at"), disposition=cells.text("disposition", 64))
    if visit.admitted_at and visit.discharged_at and visit.discharged_at < visit.admitted_at:
        cells.errors.append(RowError(cells.line, "discharged_at", "before admitted_at"))
    if visit.discharged_at:
        kind = ChangeKind.DISCHARGE
    else:
        kind = ChangeKind.ADMIT if patient_class in (None, "inpatient", "obstetrics") else ChangeKind.VISIT
    return PatientChange(kind, PatientRecord(identifiers=_identity(cells, mrn)), _event_time(cells),
                         visit=visit)


def appointment_row(cells: _Cells) -> AppointmentRecord | None:
    return AppointmentRecord(
        mrn=cells.mrn() or "", appointment_id=cells.text("appointment_id", 64),
        starts_at=cells.datetime("starts_at", required=True),
        department=cells.text("department", 80, required=True) or "",
        clinician=cells.text("clinician", 120),
        status=cells.choice("status", APPOINTMENT_STATUSES) or "booked",
        location=cells.text("location", 200), event_time=_event_time(cells))


MAPPERS = {"patients": patient_row, "appointments": appointment_row, "encounters": encounter_row}

"""ADT segments -> the source-neutral patient change of callcenter/patients/record.py.

PID (identifiers PID-3 (and PID-2 of older versions), name, birth date, sex, home and work phones PID-13/14,
primary language PID-15, death PID-29/30), PV1 (class, assigned location = ward, hospital service =
department, attending, visit number, disposition, admit and discharge time), AL1, DG1, NK1, MRG (A40).
Event time: EVN-6 (event occurred), else EVN-2 (recorded), else MSH-7. HL7's "" (delete the value) is read
as empty: the stored value stays.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

import hl7

from ..patients.record import (
    AllergyRecord,
    ChangeKind,
    ContactRecord,
    DiagnosisRecord,
    Identifier,
    PatientChange,
    PatientRecord,
    Phone,
    VisitRecord,
)
from .message import (
    DATA_TYPE_ERROR,
    SEGMENT_SEQUENCE,
    UNSUPPORTED_EVENT,
    UNSUPPORTED_MESSAGE_TYPE,
    Inbound,
    error,
    reject,
)

EVENTS = {"A01": ChangeKind.ADMIT, "A02": ChangeKind.TRANSFER, "A03": ChangeKind.DISCHARGE,
          "A04": ChangeKind.VISIT, "A05": ChangeKind.PERSON, "A08": ChangeKind.PERSON,
          "A11": ChangeKind.CANCEL_ADMIT, "A13": ChangeKind.CANCEL_DISCHARGE, "A28": ChangeKind.PERSON,
          "A31": ChangeKind.PERSON, "A40": ChangeKind.MERGE}
SEXES = {"F": "F", "M": "M", "O": "X", "A": "X", "X": "X", "U": "U", "N": "U"}
CLASSES = {"I": "inpatient", "O": "outpatient", "E": "emergency", "P": "preadmit", "R": "recurring",
           "B": "obstetrics", "C": "commercial"}
SEVERITIES = {"SV": "severe", "MO": "moderate", "MI": "mild"}
# HL7 table 0069 (hospital service), the codes of its examples; others are kept as sent.
SERVICES = {"CAR": "Cardiology", "MED": "Medicine", "SUR": "Surgery", "PUL": "Pulmonary", "URO": "Urology"}
# ISO 639-2 codes senders use in PID-15 -> the two-letter codes of IVR flows and agent languages.
LANGUAGES = {"ENG": "en", "SPA": "es", "FRE": "fr", "FRA": "fr", "GER": "de", "DEU": "de", "ITA": "it",
             "POR": "pt", "CHI": "zh", "ZHO": "zh", "VIE": "vi", "ARA": "ar", "RUS": "ru"}
NOT_PHONES = {"NET", "X.400", "INTERNET"}


def changes(inbound: Inbound) -> list[PatientChange]:
    if inbound.code != "ADT":
        raise reject(UNSUPPORTED_MESSAGE_TYPE, "MSH-9", "only ADT messages are taken")
    kind = EVENTS.get(inbound.event)
    if kind is None:
        raise reject(UNSUPPORTED_EVENT, "MSH-9", f"event not supported ({', '.join(EVENTS)})")
    reader = _Reader(inbound.message)
    when = _event_time(reader)
    groups = _groups(inbound.message)
    if not groups:
        raise error(SEGMENT_SEQUENCE, "PID", "PID segment missing")
    if kind is ChangeKind.MERGE:
        return [_merge(reader, group, when) for group in groups]
    return [_change(reader, kind, groups[0], when)]


class _Reader:
    """Field access on python-hl7's parse tree: '' for anything absent, text unescaped."""

    def __init__(self, message: hl7.Message):
        self.message = message

    def get(self, segment, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        try:
            value = segment.extract_field(1, field, rep, comp, sub)
        except (IndexError, KeyError):
            return ""
        value = self.message.unescape(value) if self.message.esc in value else value
        value = value.strip()
        return "" if value == '""' else value

    def repetitions(self, segment, field: int, most: int = 20) -> range:
        """The repetition numbers of a field (1..n), read from the parse tree's text of the field."""
        if field >= len(segment) or not str(segment[field]).strip():
            return range(0)
        return range(1, min(most, str(segment[field]).count(self.message.separators[2]) + 1) + 1)

    def time(self, segment, field: int, where: str) -> datetime | None:
        value = self.get(segment, field)
        if not value:
            return None
        try:
            parsed = hl7.parse_datetime(value)
        except (ValueError, OverflowError):
            raise error(DATA_TYPE_ERROR, where, "not a valid date/time (YYYYMMDD[HHMM[SS]][+/-ZZZZ])") \
                from None
        # Without an offset the time is the sender's local time; we store it as UTC (documented limitation).
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def day(self, segment, field: int, where: str) -> date | None:
        moment = self.time(segment, field, where)
        return moment.date() if moment else None


def _segments(message: hl7.Message, name: str) -> list:
    return [segment for segment in message if str(segment[0]).strip() == name]


def _event_time(reader: _Reader) -> datetime:
    evn = _segments(reader.message, "EVN")
    if evn:
        when = reader.time(evn[0], 6, "EVN-6") or reader.time(evn[0], 2, "EVN-2")
        if when:
            return when
    msh = reader.message.segment("MSH")
    # MSH-7 is field 7 of the segment as python-hl7 numbers MSH (MSH-1 is the separator).
    return reader.time(msh, 7, "MSH-7") or datetime.now(UTC)


def _groups(message: hl7.Message) -> list[dict[str, list]]:
    """Each PID with the segments after it up to the next PID (A40 carries several PID/MRG pairs)."""
    groups: list[dict[str, list]] = []
    for segment in message:
        name = str(segment[0]).strip()
        if name == "PID":
            if not any(str(field).strip() for field in segment[1:]):  # an empty PID (a placeholder)
                continue
            groups.append({"PID": [segment]})
        elif groups and name in ("PV1", "AL1", "DG1", "NK1", "MRG"):
            groups[-1].setdefault(name, []).append(segment)
    return groups


def _change(reader: _Reader, kind: ChangeKind, group: dict[str, list], when: datetime) -> PatientChange:
    visit = _visit(reader, group["PV1"][0]) if group.get("PV1") else None
    return PatientChange(kind, _patient(reader, group), when, visit=visit)


def _merge(reader: _Reader, group: dict[str, list], when: datetime) -> PatientChange:
    if not group.get("MRG"):
        raise error(SEGMENT_SEQUENCE, "MRG", "MRG segment missing after PID")
    prior = _identifiers(reader, group["MRG"][0], 1)
    if not prior:
        raise error(DATA_TYPE_ERROR, "MRG-1", "prior patient identifier missing")
    return PatientChange(ChangeKind.MERGE, _patient(reader, group), when, merged_from=prior)


# ---- PID ----

def _patient(reader: _Reader, group: dict[str, list]) -> PatientRecord:
    pid = group["PID"][0]
    identifiers = _identifiers(reader, pid, 3) + _identifiers(reader, pid, 2)
    deceased_at = reader.time(pid, 29, "PID-29")
    indicator = reader.get(pid, 30).upper()
    return PatientRecord(
        identifiers=identifiers,
        family_name=reader.get(pid, 5, 1, 1) or None, given_name=reader.get(pid, 5, 1, 2) or None,
        birth_date=reader.day(pid, 7, "PID-7"), sex=SEXES.get(reader.get(pid, 8).upper()[:1] or "-")
        if reader.get(pid, 8) else None,
        language=_language(reader.get(pid, 15)),
        phones=_phones(reader, pid),
        deceased=True if indicator == "Y" or deceased_at else (False if indicator == "N" else None),
        deceased_at=deceased_at,
        allergies=_allergies(reader, group["AL1"]) if "AL1" in group else None,
        diagnoses=_diagnoses(reader, group["DG1"]) if "DG1" in group else None,
        contacts=_contacts(reader, group["NK1"]) if "NK1" in group else None)


def _identifiers(reader: _Reader, segment, field: int) -> tuple[Identifier, ...]:
    found = []
    for rep in reader.repetitions(segment, field):
        value = reader.get(segment, field, rep, 1)
        if value:
            system, kind = reader.get(segment, field, rep, 4), reader.get(segment, field, rep, 5)
            found.append(Identifier(system, value, kind))
    return tuple(found)


def _language(value: str) -> str | None:
    code = value.strip()
    if not code:
        return None
    return LANGUAGES.get(code.upper(), code.lower()[:2] if len(code) == 2 else code.lower()[:16])


def _phones(reader: _Reader, pid) -> tuple[Phone, ...] | None:
    phones = [*_xtns(reader, pid, 13, "home"), *_xtns(reader, pid, 14, "work")]
    return tuple(phones) if phones else None


def _xtns(reader: _Reader, segment, field: int, default_use: str) -> list[Phone]:
    found = []
    for rep in reader.repetitions(segment, field):
        use_code = reader.get(segment, field, rep, 2).upper()
        equipment = reader.get(segment, field, rep, 3).upper()
        if use_code in NOT_PHONES or equipment in NOT_PHONES:
            continue
        number = _xtn_number(reader, segment, field, rep)
        if number:
            use = "mobile" if equipment == "CP" else "work" if use_code == "WPN" else default_use
            found.append(Phone(number, use))
    return found


def _xtn_number(reader: _Reader, segment, field: int, rep: int) -> str:
    """XTN-12 (unformatted), else country + area + local number (XTN-5/6/7), else XTN-1 as written."""
    unformatted = reader.get(segment, field, rep, 12)
    if unformatted:
        return unformatted
    country, area, local = (reader.get(segment, field, rep, n) for n in (5, 6, 7))
    if local:
        return f"{'+' + country if country else ''}{area}{local}"
    return reader.get(segment, field, rep, 1)


# ---- PV1, AL1, DG1, NK1 ----

def _visit(reader: _Reader, pv1) -> VisitRecord:
    ward = reader.get(pv1, 3, 1, 1) or None
    service = reader.get(pv1, 10)
    attending = " ".join(filter(None, (reader.get(pv1, 7, 1, 3), reader.get(pv1, 7, 1, 2)))) or \
        reader.get(pv1, 7, 1, 1)
    disposition = reader.get(pv1, 36)
    return VisitRecord(
        visit_number=reader.get(pv1, 19) or None,
        patient_class=CLASSES.get(reader.get(pv1, 2).upper()[:1]) if reader.get(pv1, 2) else None,
        department=SERVICES.get(service.upper(), service) or None, ward=ward, attending=attending or None,
        admitted_at=reader.time(pv1, 44, "PV1-44"), discharged_at=reader.time(pv1, 45, "PV1-45"),
        disposition=disposition or None)


def _allergies(reader: _Reader, segments: list) -> tuple[AllergyRecord, ...]:
    return tuple(AllergyRecord(reader.get(s, 3, 1, 2) or reader.get(s, 3, 1, 1), reader.get(s, 5) or None,
                               SEVERITIES.get(reader.get(s, 4).upper()))
                 for s in segments if reader.get(s, 3, 1, 2) or reader.get(s, 3, 1, 1))


def _diagnoses(reader: _Reader, segments: list) -> tuple[DiagnosisRecord, ...]:
    found = []
    for s in segments:
        name = reader.get(s, 3, 1, 2) or reader.get(s, 4) or reader.get(s, 3, 1, 1)
        if name:
            found.append(DiagnosisRecord(name, reader.get(s, 3, 1, 1) or None))
    return tuple(found)


def _contacts(reader: _Reader, segments: list) -> tuple[ContactRecord, ...]:
    found = []
    for s in segments:
        name = " ".join(filter(None, (reader.get(s, 2, 1, 2), reader.get(s, 2, 1, 1))))
        if name:
            phones = _xtns(reader, s, 5, "home")
            found.append(ContactRecord(name, reader.get(s, 3, 1, 2) or reader.get(s, 3, 1, 1) or None,
                                       phones[0].number if phones else None))
    return tuple(found)

"""FHIR R4 resources into the shared patient feed's records: Patient, Encounter, Appointment,
AllergyIntolerance and Condition from a Bundle (a file, or the pages a server answers), each validated with
`fhir.resources` and mapped to the records of callcenter/patients/. Other resource types are counted as
skipped.

fhir.resources 8 ships R5 and R4B models, not R4 (4.0.1) ones; its `R4B` package validates these five
resources, which R4B left as R4 had them (R4B changed medication and product definitions, and Subscription).

A resource is refused with its place in the bundle, its type and id and a reason naming the field, never a
value. References to a patient resolve to an MRN in the bundle (its Patient, by `Patient/<id>` or fullUrl),
else at apply time through the FHIR id recorded when that Patient was imported (`ID_SYSTEM`).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..patients.appointments import AppointmentRecord
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
from .csvfile import RowError

TYPES = ("Patient", "Encounter", "Appointment", "AllergyIntolerance", "Condition")
# The identifier system under which a Patient's FHIR id is kept (patient_identifiers), so that a later
# Encounter that names `Patient/<id>` finds the patient without the Patient in its bundle.
ID_SYSTEM = "urn:callcenter:fhir:Patient"
GENDERS = {"female": "F", "male": "M", "other": "X", "unknown": "U"}
PHONE_USES = {"mobile": "mobile", "home": "home", "work": "work", "temp": "other", "old": None}
CLASSES = {"IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient", "AMB": "outpatient",
           "EMER": "emergency", "PRENC": "preadmit", "OBSENC": "inpatient", "SS": "outpatient",
           "HH": "outpatient", "FLD": "outpatient", "VR": "outpatient"}
APPOINTMENT_STATUSES = {"proposed": "booked", "pending": "booked", "booked": "booked", "waitlist": "booked",
                        "arrived": "confirmed", "checked-in": "confirmed", "fulfilled": "completed",
                        "cancelled": "cancelled", "entered-in-error": "cancelled", "noshow": "no_show"}
SEVERITIES = {"mild", "moderate", "severe"}
INACTIVE = {"inactive", "resolved", "remission"}
WRONG = {"entered-in-error", "refuted"}


class BundleError(ValueError):
    """The file is no FHIR JSON at all (the reason names what is wrong, never content)."""


@dataclass(frozen=True)
class FhirItem:
    """A mapped resource: its entry number, `Type/id`, the change, and the patient it is about when that is
    a reference still to resolve (None for a Patient, whose change names its MRN)."""
    entry: int
    label: str
    change: PatientChange | AppointmentRecord
    patient_ref: str | None = None


@dataclass
class ParsedBundle:
    items: list[FhirItem] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0
    skipped: int = 0
    refs: dict[str, str] = field(default_factory=dict)   # Patient reference or fullUrl -> MRN


def entry_error(entry: int, label: str, reason: str) -> RowError:
    return RowError(entry, label, reason, unit="entry")


def read_entries(data: bytes) -> list[tuple[str | None, dict]]:
    """(fullUrl, resource) of a Bundle, or of one resource given alone."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"not JSON ({type(exc).__name__} at byte {getattr(exc, 'pos', 0)})") from None
    if not isinstance(document, dict) or "resourceType" not in document:
        raise BundleError("not a FHIR resource (no resourceType)")
    if document["resourceType"] != "Bundle":
        return [(None, document)]
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        raise BundleError("Bundle.entry is not a list")
    return [(e.get("fullUrl"), e.get("resource")) if isinstance(e, dict) else (None, None) for e in entries]


def parse_entries(entries: Iterable[tuple[str | None, dict]], mrn_system: str, now: datetime,
                  first_entry: int = 1) -> ParsedBundle:
    parsed = ParsedBundle()
    resources = []
    for number, (full_url, resource) in enumerate(entries, start=first_entry):
        parsed.total += 1
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        label = f"{kind}/{resource.get('id', '')}" if kind else "?"
        if kind not in TYPES:  # another type, or an entry without a resource (a transaction's DELETE)
            parsed.skipped += 1
            continue
        model = _validated(kind, resource, number, label, parsed)
        if model is not None:
            resources.append((number, label, full_url, model))
    for number, label, full_url, model in resources:  # Patients first: the others refer to them
        if model.get_resource_type() == "Patient":
            _patient(parsed, number, label, full_url, model, mrn_system, now)
    _others(parsed, [r for r in resources if r[3].get_resource_type() != "Patient"], now)
    return parsed


def _validated(kind: str, resource: dict, number: int, label: str, parsed: ParsedBundle):
    try:
        return get_fhir_model_class(kind).model_validate(resource)
    except ValidationError as exc:
        parsed.errors.append(entry_error(number, label, _reason(exc)))
    except (ValueError, TypeError) as exc:  # fhir.resources raises plain errors for some shapes
        parsed.errors.append(entry_error(number, label, f"not a valid {kind} ({type(exc).__name__})"))
    return None


def _reason(exc: ValidationError) -> str:
    """The fields at fault and pydantic's words for them; never the input (`input` is patient data)."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"] if p != "__root__") or "resource"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# -- Patient ---------------------------------------------------------------------------------------------


def _patient(parsed: ParsedBundle, number: int, label: str, full_url: str | None, p, mrn_system: str,
             now: datetime) -> None:
    identifiers = tuple(_identifiers(p.identifier or [], mrn_system))
    mrn = _mrn(identifiers, mrn_system)
    if mrn is None:
        where = f" of system {mrn_system}" if mrn_system else ""
        parsed.errors.append(entry_error(number, label, f"identifier: no MRN{where}"))
        return
    if p.id:
        identifiers += (Identifier(ID_SYSTEM, p.id, "PI"),)
        parsed.refs[f"Patient/{p.id}"] = mrn
    if full_url:
        parsed.refs[full_url] = mrn
    family, given = _name(p.name or [])
    record = PatientRecord(
        identifiers=identifiers, family_name=family, given_name=given, birth_date=p.birthDate,
        sex=GENDERS.get(p.gender or "", None), language=_language(p.communication or []),
        phones=tuple(_phones(p.telecom or [])), deceased=_deceased(p), deceased_at=_deceased_at(p),
        contacts=tuple(_contacts(p.contact or [])))
    parsed.items.append(FhirItem(number, label, PatientChange(ChangeKind.PERSON, record, _updated(p, now))))


def _identifiers(identifiers, mrn_system: str) -> Iterable[Identifier]:
    for identifier in identifiers:
        if not identifier.value:
            continue
        codes = [c.code for c in (identifier.type.coding or [])] if identifier.type else []
        is_mrn = "MR" in codes or (mrn_system and identifier.system == mrn_system)
        kind = "MR" if is_mrn else (codes or [""])[0]
        yield Identifier(identifier.system or "", identifier.value, kind or "")


def _mrn(identifiers: tuple[Identifier, ...], mrn_system: str) -> str | None:
    """The MRN as the shared feed's identity rule will choose it (patients.services.mrn_of)."""
    if mrn_system:
        chosen = next((i for i in identifiers if i.system == mrn_system), None)
    else:
        chosen = next((i for i in identifiers if i.type == "MR"), identifiers[0] if identifiers else None)
    return chosen.value if chosen else None


def _name(names) -> tuple[str | None, str | None]:
    ranked = sorted(names, key=lambda n: {"official": 0, "usual": 1}.get(n.use or "", 2))
    for name in ranked:
        if name.family or name.given:
            return name.family, " ".join(name.given or []) or None
    return None, None


def _language(communications) -> str | None:
    ranked = sorted(communications, key=lambda c: not c.preferred)
    for communication in ranked:
        codes = [c.code for c in (communication.language.coding or []) if c.code]
        if codes:
            return codes[0].split("-")[0].lower()
    return None


def _phones(telecoms) -> Iterable[Phone]:
    for telecom in telecoms:
        use = PHONE_USES.get(telecom.use or "", "other")
        if telecom.system in ("phone", "sms") and telecom.value and use:
            yield Phone(telecom.value, use)


def _deceased(p) -> bool | None:
    if p.deceasedBoolean is not None:
        return p.deceasedBoolean
    return True if p.deceasedDateTime is not None else None


def _deceased_at(p) -> datetime | None:
    return _instant(p.deceasedDateTime) if p.deceasedDateTime is not None else None


def _contacts(contacts) -> Iterable[ContactRecord]:
    for contact in contacts:
        name = contact.name
        text = (name.text or " ".join([*(name.given or []), name.family or ""]).strip()) if name else ""
        if not text:
            continue
        relation = _text(contact.relationship[0]) if contact.relationship else None
        phone = next((t.value for t in (contact.telecom or []) if t.system == "phone" and t.value), None)
        yield ContactRecord(text, relation, phone)


# -- the others --------------------------------------------------------------------------------------------


def _others(parsed: ParsedBundle, resources: list, now: datetime) -> None:
    lists: dict[str, dict] = {}   # patient reference -> {"allergies": [...], "diagnoses": [...], ...}
    for number, label, _full_url, model in resources:
        kind = model.get_resource_type()
        try:
            if kind in ("AllergyIntolerance", "Condition"):
                _collect(lists, number, label, model, now)
            else:
                parsed.items.append(MAPPERS[kind](number, label, model, now))
        except _Refused as refused:
            parsed.errors.append(entry_error(number, label, str(refused)))
    for ref, held in lists.items():
        record = PatientRecord(identifiers=(), allergies=tuple(held["allergies"]),
                               diagnoses=tuple(held["diagnoses"]))
        change = PatientChange(ChangeKind.PERSON, record, held["at"])
        parsed.items.append(FhirItem(held["entry"], ", ".join(held["labels"]), change, ref))


class _Refused(ValueError):
    pass


def _subject(reference) -> str:
    if reference is None or not reference.reference:
        raise _Refused("no patient reference")
    return reference.reference


def _encounter(number: int, label: str, e, now: datetime) -> FhirItem:
    ref = _subject(e.subject)
    period = e.period
    start = _instant(period.start) if period and period.start else None
    end = _instant(period.end) if period and period.end else None
    if start is None:
        raise _Refused("period.start missing")
    klass = CLASSES.get(e.class_fhir.code or "") if e.class_fhir else None
    visit = VisitRecord(
        visit_number=(e.identifier[0].value if e.identifier and e.identifier[0].value else e.id),
        patient_class=klass, department=_department(e), ward=_location(e), attending=_attending(e),
        admitted_at=start, discharged_at=end if e.status == "finished" else None,
        disposition=_text(e.hospitalization.dischargeDisposition) if e.hospitalization
        and e.hospitalization.dischargeDisposition else None)
    kind = _encounter_kind(e.status, klass, visit)
    change = PatientChange(kind, PatientRecord(identifiers=()), _updated(e, now), visit=visit)
    return FhirItem(number, label, change, ref)


def _encounter_kind(status: str, klass: str | None, visit: VisitRecord) -> ChangeKind:
    if status in ("cancelled", "entered-in-error"):
        return ChangeKind.CANCEL_ADMIT
    if status == "finished" and visit.discharged_at is not None:
        return ChangeKind.DISCHARGE
    return ChangeKind.ADMIT if klass in (None, "inpatient") else ChangeKind.VISIT


def _department(e) -> str | None:
    for concept in [e.serviceType, *(e.type or [])]:
        text = _text(concept) if concept else None
        if text:
            return text[:80]
    provider = e.serviceProvider.display if e.serviceProvider else None
    return provider[:80] if provider else None


def _location(e) -> str | None:
    for location in e.location or []:
        if location.location and location.location.display:
            return location.location.display[:80]
    return None


def _attending(e) -> str | None:
    for participant in e.participant or []:
        if participant.individual and participant.individual.display:
            return participant.individual.display[:200]
    return None


def _appointment(number: int, label: str, a, now: datetime) -> FhirItem:
    patient = next((p.actor for p in a.participant if p.actor and (p.actor.reference or "").startswith(
        ("Patient/", "urn:uuid:"))), None)
    ref = _subject(patient)
    if a.start is None:
        raise _Refused("start missing (a proposed appointment without a time is not imported)")
    department = next((_text(c) for c in [*(a.serviceType or []), *(a.specialty or [])] if _text(c)),
                      _text(a.appointmentType) if a.appointmentType else None)
    record = AppointmentRecord(
        mrn="", starts_at=_instant(a.start), department=(department or "unknown")[:80],
        event_time=_updated(a, now), appointment_id=(a.id or None),
        clinician=_actor(a, "Practitioner"), status=APPOINTMENT_STATUSES.get(a.status, "booked"),
        location=_actor(a, "Location"))
    return FhirItem(number, label, record, ref)


def _actor(a, kind: str) -> str | None:
    for participant in a.participant:
        actor = participant.actor
        if actor and (actor.reference or "").startswith(f"{kind}/") and actor.display:
            return actor.display
    return None


def _collect(lists: dict, number: int, label: str, model, now: datetime) -> None:
    ref = _subject(model.patient if model.get_resource_type() == "AllergyIntolerance" else model.subject)
    held = lists.setdefault(ref, {"allergies": [], "diagnoses": [], "labels": [], "entry": number,
                                  "at": datetime.min.replace(tzinfo=UTC)})
    held["labels"].append(label)
    held["at"] = max(held["at"], _updated(model, now))
    if _status(model.clinicalStatus) in INACTIVE or _status(model.verificationStatus) in WRONG:
        return  # resolved or refuted: not on the patient's current list
    name = _text(model.code) if model.code else None
    if not name:
        raise _Refused("code missing")
    if model.get_resource_type() == "AllergyIntolerance":
        reaction = model.reaction[0] if model.reaction else None
        held["allergies"].append(AllergyRecord(
            name, _text(reaction.manifestation[0]) if reaction and reaction.manifestation else None,
            reaction.severity if reaction and reaction.severity in SEVERITIES else None))
    else:
        code = next((c.code for c in (model.code.coding or []) if c.code), None)
        held["diagnoses"].append(DiagnosisRecord(name, code))


MAPPERS = {"Encounter": _encounter, "Appointment": _appointment}


# -- values ----------------------------------------------------------------------------------------------


def _text(concept) -> str | None:
    if concept is None:
        return None
    if getattr(concept, "text", None):
        return concept.text
    for coding in getattr(concept, "coding", None) or []:
        if coding.display or coding.code:
            return coding.display or coding.code
    return None


def _status(concept) -> str | None:
    codes = [c.code for c in (concept.coding or [])] if concept else []
    return codes[0] if codes else None


def _instant(value: Any) -> datetime:
    """FHIR dateTime as fhir.resources gives it (datetime, or date for a day-precision value) in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    return datetime.fromisoformat(str(value))


def parse_instant(text: str) -> datetime:
    """A FHIR instant as a server writes it ('2026-11-20T10:00:00.123+01:00', '...Z') in UTC."""
    return _instant(datetime.fromisoformat(text)).astimezone(UTC)


def _updated(resource, now: datetime) -> datetime:
    """meta.lastUpdated: when the server's data is from, which orders old and new news."""
    meta = resource.meta
    return _instant(meta.lastUpdated) if meta and meta.lastUpdated else now

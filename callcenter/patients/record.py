"""The source-neutral patient record: what HL7 v2 (PID, PV1, AL1, DG1, NK1), FHIR R4 (Patient, Encounter,
AllergyIntolerance, Condition) and CSV imports all map to before `services.apply` writes it.

A list left as None means "the source did not say" (the stored one stays); a tuple, even empty, replaces
the stored one. Vocabularies are the data model's (db/models.py): sexes F/M/X/U, phone uses
mobile/home/work/other, allergy severities mild/moderate/severe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

# The longest MRN patients.mrn holds: Synthea's and many EHRs' MRNs are 36-character UUIDs.
MRN_MAX_LENGTH = 64


class ChangeKind(StrEnum):
    """What a message says happened. Each source maps its own events here (HL7: A01 admit, A02 transfer, A03
    discharge, A04 register a visit, A05/A08/A28/A31 person data, A11 cancel admit, A13 cancel discharge, A40
    merge)."""

    PERSON = "person"
    ADMIT = "admit"
    VISIT = "visit"
    TRANSFER = "transfer"
    DISCHARGE = "discharge"
    CANCEL_ADMIT = "cancel_admit"
    CANCEL_DISCHARGE = "cancel_discharge"
    MERGE = "merge"


@dataclass(frozen=True)
class Identifier:
    system: str          # HL7 assigning authority (CX-4), FHIR identifier.system
    value: str
    type: str = ""       # identifier type code: MR, NH, SS, PI...


@dataclass(frozen=True)
class Phone:
    number: str          # as the source wrote it; normalised to E.164 when applied
    use: str = "other"   # mobile, home, work, other
    # Set by a reader that already normalised the number with phones.normalize (the CSV import reports a bad
    # number by line and column): used as it is, not normalised a second time.
    e164: str | None = None


@dataclass(frozen=True)
class AllergyRecord:
    substance: str
    reaction: str | None = None
    severity: str | None = None   # mild, moderate, severe


@dataclass(frozen=True)
class DiagnosisRecord:
    name: str
    code: str | None = None
    chronic: bool = False


@dataclass(frozen=True)
class ContactRecord:
    name: str
    relation: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class VisitRecord:
    visit_number: str | None = None
    patient_class: str | None = None   # inpatient, outpatient, emergency, preadmit, recurring, obstetrics
    department: str | None = None      # what discharge follow-up campaigns match (case-insensitive)
    ward: str | None = None
    attending: str | None = None
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None
    disposition: str | None = None


@dataclass(frozen=True)
class PatientRecord:
    identifiers: tuple[Identifier, ...]
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    language: str | None = None
    phones: tuple[Phone, ...] | None = None
    deceased: bool | None = None
    deceased_at: datetime | None = None
    allergies: tuple[AllergyRecord, ...] | None = None
    diagnoses: tuple[DiagnosisRecord, ...] | None = None
    contacts: tuple[ContactRecord, ...] | None = None


@dataclass(frozen=True)
class PatientChange:
    """One thing a source says about one patient, at `event_time` (HL7 EVN-2 or MSH-7, FHIR meta.lastUpdated):
    what `apply` compares with the stored data's time to ignore older news."""

    kind: ChangeKind
    patient: PatientRecord
    event_time: datetime
    visit: VisitRecord | None = None
    # A40: the identifiers of the record merged away (HL7 MRG-1), the patient above being the survivor.
    merged_from: tuple[Identifier, ...] = field(default=())

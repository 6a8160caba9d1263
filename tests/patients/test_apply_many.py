"""`apply_many` (callcenter/patients/services.py): a batch of person changes gives what `apply` one by one
gives: new patients created together with their identifiers and lists, the others (known MRN, a second row of
one MRN, an identifier another patient holds, an incomplete new patient) through `apply`. SQLite and
PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from callcenter.db.models import Patient, PatientIdentifier
from callcenter.patients.record import (
    AllergyRecord,
    ChangeKind,
    ContactRecord,
    Identifier,
    PatientChange,
    PatientRecord,
    Phone,
)
from callcenter.patients.services import IdentityRule, PatientFeed, RecordError

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
RULE = IdentityRule(mrn_system="HOSP")


def person(mrn: str, family: str = "Lovelace", *, national: str | None = None, at: datetime = NOW,
           **fields) -> PatientChange:
    identifiers = (Identifier("HOSP", mrn, "MR"),)
    if national:
        identifiers += (Identifier("NHS", national, "NH"),)
    values = dict(identifiers=identifiers, given_name="Ada", family_name=family,
                  birth_date=date(1950, 12, 10), sex="F",
                  phones=(Phone("(415) 555-0101", "home"), Phone("415-555-0102", "mobile")))
    values.update(fields)
    return PatientChange(ChangeKind.PERSON, PatientRecord(**values), at)


def test_given_mixed_batch_when_applied_many_then_each_result_as_apply_gives_it(db):
    feed = PatientFeed(RULE, None, clock=lambda: NOW)
    with db.session() as session:
        known = feed.apply(session, person("M1", national="N-1"))
    batch = [person("M2", national="N-2", allergies=(AllergyRecord("Penicillin", None, "severe"),),
                    contacts=(ContactRecord("Byron", "parent", "415 555 0199"),), language="es"),
             person("M1", "King", at=NOW + timedelta(hours=1)),          # known MRN: updated
             person("M3", national="N-1"),                               # an identifier M1 holds: moves to M3
             person("M2", "Second", at=NOW + timedelta(hours=1)),        # a second row of a new MRN
             person("M4", given_name=None),                              # new without a given name: refused
             PatientChange(ChangeKind.PERSON, PatientRecord(identifiers=()), NOW)]  # no MRN: refused
    with db.session() as session:
        results = feed.apply_many(session, batch)
    assert [type(r).__name__ for r in results] == ["Applied", "Applied", "Applied", "Applied", "RecordError",
                                                    "RecordError"]
    assert [r.created for r in results[:4]] == [True, False, True, False]
    assert results[1].patient_id == known.patient_id and results[3].patient_id == results[0].patient_id
    assert isinstance(results[4], RecordError) and "given name" in str(results[4])
    with db.session() as session:
        m2 = session.get(Patient, results[0].patient_id)
        assert (m2.family_name, m2.language, m2.sex, m2.source_updated_at) == (
            "Second", "es", "F", NOW + timedelta(hours=1))
        assert [(p.e164, p.kind, p.is_primary) for p in m2.phones] == [
            ("+14155550101", "home", True), ("+14155550102", "mobile", False)]
        assert [a.substance for a in m2.allergies] == ["Penicillin"]
        assert [(c.name, c.phone_e164) for c in m2.contacts] == [("Byron", "+14155550199")]
        assert session.get(Patient, known.patient_id).family_name == "King"
        holder = session.scalar(select(PatientIdentifier.patient_id).where(PatientIdentifier.value == "N-1"))
        assert holder == results[2].patient_id

"""`apply`: one patient change from a hospital system, written in the caller's transaction.

Identity is the MRN of the configured system (HL7 assigning authority, FHIR identifier system); a record
merged away (A40) still finds its survivor by its old MRN. Out-of-order news is handled by event time:
demographics older than the stored ones are left as they are, and so are a visit's details older than the
visit's. A discharge makes the patient a target of the matching discharge follow-up campaign in the same
transaction, through the `FollowUp` port (campaigns/followup.py implements it, so this package imports no
campaign code); a cancelled discharge or admission withdraws the visit's pending follow-up; a death
withdraws every pending target. Errors name fields, never their values: they go back to the sender and into
the inbound log.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Protocol

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    case,
    delete,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from ..db.models import (
    Allergy,
    Appointment,
    Call,
    Callback,
    CampaignAttempt,
    CampaignTarget,
    Complaint,
    Condition,
    Disposition,
    DoNotCall,
    Encounter,
    FollowUpResponse,
    Patient,
    PatientContact,
    PatientFlag,
    PatientIdentifier,
    PatientPhone,
    SurveyResponse,
)
from ..db.prepared import Prepared
from ..db.types import utcnow
from ..phones import normalize
from .record import MRN_MAX_LENGTH, ChangeKind, Identifier, PatientChange, PatientRecord, VisitRecord

SEXES = {"F", "M", "X", "U"}
SEVERITIES = {"mild", "moderate", "severe"}
PHONE_USES = {"mobile", "home", "work", "other"}
INPATIENT_CLASSES = {"inpatient", "obstetrics"}
CANCELLATIONS = (ChangeKind.CANCEL_ADMIT, ChangeKind.CANCEL_DISCHARGE)
# Tables whose rows follow a patient merged away (A40): the survivor gets the record's calls, callbacks,
# campaign history, complaints, follow-up answers. audit_events keep naming the old id (append-only; the old
# row stays).
FOLLOWING_ROWS = (Encounter, Appointment, Allergy, Condition, PatientContact, Call, Disposition, Callback,
                  CampaignAttempt, DoNotCall, SurveyResponse, Complaint, FollowUpResponse)


class RecordError(ValueError):
    """The change cannot be applied as sent (no MRN, a new patient without a name...): the sender must fix
    it. The message names the field, never its value."""


class FollowUp(Protocol):
    """What discharges and deaths do to outbound campaigns (campaigns/followup.py implements it)."""

    def discharged(self, session: Session, encounter_id: int, now: datetime) -> int: ...

    def withdraw_encounter(self, session: Session, encounter_id: int, reason: str, now: datetime) -> int: ...

    def withdraw_patient(self, session: Session, patient_id: int, reason: str, now: datetime) -> int: ...


@dataclass(frozen=True)
class IdentityRule:
    mrn_system: str = ""        # empty: the identifier typed MR, else the first one sent
    default_region: str = "US"  # for phone numbers without a country code


@dataclass(frozen=True)
class Applied:
    patient_id: int | None        # None: nothing written (a cancellation for an unknown patient)
    created: bool = False
    stale: bool = False            # the demographics were older than the stored ones and were not written
    encounter_id: int | None = None
    targets_created: int = 0
    targets_withdrawn: int = 0
    merged_patient_id: int | None = None


def apply(session: Session, change: PatientChange, rule: IdentityRule, followup: FollowUp | None,
          now: datetime) -> Applied:
    if change.kind is ChangeKind.MERGE:
        return _merge(session, change, rule, followup, now)
    session.flush()  # what the caller changed through the ORM, before the plain statements below
    conn = session.connection()
    if change.kind in CANCELLATIONS and _patient_row(conn, mrn_of(change.patient, rule).value) is None:
        return Applied(None)  # a cancellation about a patient we never heard of: nothing to cancel
    patient, created = _find_or_create(conn, change.patient, rule, change.event_time)
    stale = not created and _older(change.event_time, patient.source_updated_at)
    if not stale:
        _write_person(session, conn, patient, change.patient, rule, change.event_time, created)
    result = Applied(patient.id, created=created, stale=stale)
    withdrawn = _on_death(session, patient, followup, now) if patient.deceased else 0
    if change.visit is not None or change.kind is not ChangeKind.PERSON:
        result = _visit(session, patient, change, followup, now, result)
    return _with(result, targets_withdrawn=result.targets_withdrawn + withdrawn)


def _with(result: Applied, **changes) -> Applied:
    return Applied(**{**result.__dict__, **changes})


def _older(event_time: datetime, stored: datetime | None) -> bool:
    return stored is not None and event_time < stored


# ---- identity ----

def mrn_of(record: PatientRecord, rule: IdentityRule) -> Identifier:
    ids = [i for i in record.identifiers if i.value]
    if rule.mrn_system:
        chosen = next((i for i in ids if i.system == rule.mrn_system), None)
    else:
        chosen = next((i for i in ids if i.type == "MR"), ids[0] if ids else None)
    if chosen is None:
        where = f" of system {rule.mrn_system}" if rule.mrn_system else ""
        raise RecordError(f"patient identifier: no MRN{where}")
    if len(chosen.value) > MRN_MAX_LENGTH:
        raise RecordError(f"patient identifier: MRN longer than {MRN_MAX_LENGTH} characters")
    return chosen


def find_patient(session: Session, mrn: str) -> Patient | None:
    """The patient of this MRN, following merges to the surviving record."""
    patient = session.scalar(select(Patient).where(Patient.mrn == mrn))
    for _ in range(10):  # a merge chain; bounded so a loop written by hand cannot hang the interface
        if patient is None or patient.merged_into_id is None:
            return patient
        patient = session.get(Patient, patient.merged_into_id)
    return patient


# The feed's statements, built once with bind parameters: SQLAlchemy keeps each one's cache key, so running
# one costs no statement building or keying (that was a good part of an HL7 message's CPU). The patient and
# the stay are read and written as plain rows, not ORM objects, for the same reason; those run for every
# message are `Prepared` (db/prepared.py: run on the driver's cursor, 30 times cheaper than SQLAlchemy's
# execution).
_PATIENTS = Patient.__table__
_PERSON_FIELDS = ("given_name", "family_name", "date_of_birth", "sex", "language", "deceased", "deceased_at",
                  "source_updated_at")
_PATIENT_COLUMNS = [_PATIENTS.c[name] for name in ("id", "merged_into_id", *_PERSON_FIELDS)]
_PATIENT_BY_MRN = Prepared(select(*_PATIENT_COLUMNS).where(_PATIENTS.c.mrn == bindparam("mrn")))
_PATIENT_BY_ID = Prepared(select(*_PATIENT_COLUMNS).where(_PATIENTS.c.id == bindparam("patient_id")))
_INSERT_PATIENT = insert(_PATIENTS).returning(_PATIENTS.c.id)
_UPDATE_PATIENT = Prepared(update(_PATIENTS).where(_PATIENTS.c.id == bindparam("patient_id")).values(
    {name: bindparam(f"new_{name}") for name in _PERSON_FIELDS}))


def _patient_row(conn: Connection, mrn: str) -> SimpleNamespace | None:
    """`find_patient` as a plain row: the patient of this MRN, following merges to the surviving record."""
    row = _PATIENT_BY_MRN.namespace(conn, {"mrn": mrn})
    for _ in range(10):  # a merge chain; bounded so a loop written by hand cannot hang the interface
        if row is None or row.merged_into_id is None:
            break
        row = _PATIENT_BY_ID.namespace(conn, {"patient_id": row.merged_into_id})
    return row


def _find_or_create(conn: Connection, record: PatientRecord, rule: IdentityRule,
                    event_time: datetime) -> tuple[SimpleNamespace, bool]:
    mrn = mrn_of(record, rule)
    patient = _patient_row(conn, mrn.value)
    if patient is not None:
        return patient, False
    required = (("family name", record.family_name), ("given name", record.given_name),
                ("birth date", record.birth_date))
    missing = [name for name, value in required if not value]
    if missing:
        raise RecordError(f"new patient: {', '.join(missing)} required")
    row = _new_patient(mrn.value, PatientChange(ChangeKind.PERSON, record, event_time))
    patient_id = conn.execute(_INSERT_PATIENT, row).scalar_one()
    return SimpleNamespace(**{"deceased": False, **row, "id": patient_id}), True


def _expire_loaded(session: Session, model: type, row_id: int) -> None:
    """An ORM object of a row just written with a plain statement is stale: a caller holding it (a merge, a
    test) reads the row again."""
    if session.identity_map:
        loaded = session.identity_map.get(session.identity_key(model, row_id))
        if loaded is not None:
            session.expire(loaded)


# ---- demographics ----

def _write_person(session: Session, conn: Connection, patient: SimpleNamespace, record: PatientRecord,
                  rule: IdentityRule, event_time: datetime, created: bool) -> None:
    """The record's demographics, identifiers and lists (a patient just created has its fields already)."""
    if not created:
        _write_fields(patient, record, event_time)
        _UPDATE_PATIENT.rows(conn, {"patient_id": patient.id,
                                    **{f"new_{name}": getattr(patient, name) for name in _PERSON_FIELDS}})
        _expire_loaded(session, Patient, patient.id)
    _write_identifiers(conn, patient.id, record.identifiers)
    _write_lists(conn, patient.id, record, rule, created)


def _write_fields(patient: Patient | SimpleNamespace, record: PatientRecord, event_time: datetime) -> None:
    _write_names(patient, record)
    if record.sex:
        patient.sex = record.sex if record.sex in SEXES else "U"
    if record.language:
        patient.language = record.language[:16]
    if record.deceased is not None:
        patient.deceased = record.deceased
        patient.deceased_at = record.deceased_at if record.deceased else None
    patient.source_updated_at = event_time


def _write_names(patient: Patient | SimpleNamespace, record: PatientRecord) -> None:
    if record.given_name:
        patient.given_name = record.given_name[:100]
    if record.family_name:
        patient.family_name = record.family_name[:100]
    if record.birth_date:
        patient.date_of_birth = record.birth_date


_IDENTIFIERS = PatientIdentifier.__table__
# By system and value, pair by pair: the unique (system, value) index answers each. One statement per number
# of identifiers (a message sends one to three), not expanding IN lists, whose SQL SQLAlchemy renders again
# at every execution (a quarter of a message's statement CPU).
_stored_identifiers_queries: dict[int, Select] = {}
_INSERT_IDENTIFIERS = Prepared(insert(_IDENTIFIERS), ("patient_id", "system", "value", "type"))
_MOVE_IDENTIFIERS = update(_IDENTIFIERS).where(
    _IDENTIFIERS.c.id.in_(bindparam("ids", expanding=True))).values(patient_id=bindparam("new_patient_id"))


def _write_identifiers(conn: Connection, patient_id: int, identifiers: tuple[Identifier, ...]) -> None:
    wanted = {((i.system or "")[:200], i.value): i for i in identifiers if i.value and len(i.value) <= 64}
    if not wanted:
        return
    stored = {(system, value): (row_id, owner)
              for row_id, owner, system, value in _stored_identifiers(conn, list(wanted))}
    new = [row for row in _identifier_rows(patient_id, tuple(wanted.values()))
           if (row["system"], row["value"]) not in stored]
    if new:
        _INSERT_IDENTIFIERS.many(conn, new)
    moved = [row_id for row_id, owner in (stored.get(key, (None, None)) for key in wanted)
             if row_id is not None and owner != patient_id]
    if moved:
        # The same identifier now names this patient (a correction at the source): it moves.
        conn.execute(_MOVE_IDENTIFIERS, {"ids": moved, "new_patient_id": patient_id})


def _stored_identifiers(conn: Connection, keys: list[tuple[str, str]]):
    query = _stored_identifiers_queries.get(len(keys))
    if query is None:
        table = _IDENTIFIERS
        query = _stored_identifiers_queries[len(keys)] = select(
            table.c.id, table.c.patient_id, table.c.system, table.c.value).where(or_(*(
                and_(table.c.system == bindparam(f"system_{n}"), table.c.value == bindparam(f"value_{n}"))
                for n in range(len(keys)))))
    return conn.execute(query, {f"{name}_{n}": value for n, key in enumerate(keys)
                                for name, value in zip(("system", "value"), key, strict=True)})


# The columns a list's rows are compared on (all but id and patient_id), in _list_rows' keys.
_LIST_COLUMNS = {PatientPhone: ("e164", "kind", "is_primary"), Allergy: ("substance", "reaction", "severity"),
                 Condition: ("name", "code", "chronic"), PatientContact: ("name", "relation", "phone_e164")}
_BOOLEAN_COLUMNS = frozenset({"is_primary", "chronic"})
_INSERT_LIST = {model: Prepared(insert(model.__table__), ("patient_id", *columns))
                for model, columns in _LIST_COLUMNS.items()}
_DELETE_LIST = {model: delete(model.__table__).where(model.__table__.c.patient_id == bindparam("patient_id"))
                for model in _LIST_COLUMNS}
_stored_lists_queries: dict[tuple[type, ...], Prepared] = {}


def _write_lists(conn: Connection, patient_id: int, record: PatientRecord, rule: IdentityRule,
                 created: bool) -> None:
    """The lists the record sends replace the stored ones. A list equal to the stored one is left as it is
    (most messages of a feed resend the same phones, allergies and contacts): one read of all of them instead
    of a DELETE and an INSERT each. A patient just created has none to read or delete."""
    lists = _list_rows(patient_id, record, rule)
    stored = {} if created or not lists else _stored_lists(conn, patient_id, tuple(lists))
    for model, rows in lists.items():
        held = stored.get(model, [])
        if held == [_compared(model, row) for row in rows]:
            continue
        if held:
            conn.execute(_DELETE_LIST[model], {"patient_id": patient_id})
        if rows:
            _INSERT_LIST[model].many(conn, rows)


def _stored_lists(conn: Connection, patient_id: int, models: tuple[type, ...]) -> dict[type, list[tuple]]:
    """The patient's stored rows of these lists, in id order, as _compared gives them: one UNION ALL."""
    query = _stored_lists_queries.get(models)
    if query is None:
        query = _stored_lists_queries[models] = Prepared(_stored_lists_query(models))
    found: dict[type, list[tuple]] = {}
    for tag, _id, *values in query.rows(conn, {"patient_id": patient_id}):
        found.setdefault(models[tag], []).append(tuple(values))
    return found


def _stored_lists_query(models: tuple[type, ...]):
    """Text columns only, so that the lists' rows fit one UNION ALL on both databases (booleans as
    '1'/'0')."""
    def column(table, name):
        return case((table.c[name], "1"), else_="0") if name in _BOOLEAN_COLUMNS else table.c[name]

    parts = []
    for tag, model in enumerate(models):
        table = model.__table__
        parts.append(select(literal(tag).label("tag"), table.c.id.label("row_id"),
                            *(column(table, name).label(f"c{n}")
                              for n, name in enumerate(_LIST_COLUMNS[model])))
                     .where(table.c.patient_id == bindparam("patient_id")))
    return union_all(*parts).order_by("tag", "row_id")


def _compared(model: type, row: dict) -> tuple:
    return tuple(("1" if row[name] else "0") if name in _BOOLEAN_COLUMNS else row[name]
                 for name in _LIST_COLUMNS[model])


def _list_rows(patient_id: int, record: PatientRecord, rule: IdentityRule) -> dict[type, list[dict]]:
    """The rows (column values) of each list the record sends (a list it leaves None is not there). Plain
    dicts with every column (the same keys in each row of a table) for Core bulk INSERTs: building ORM
    objects, and the ORM's bulk path, were a good part of an import's and an HL7 message's CPU."""
    lists: dict[type, list[dict]] = {}
    if record.phones is not None:
        lists[PatientPhone] = _phones(patient_id, record, rule)
    if record.allergies is not None:
        lists[Allergy] = [
            dict(patient_id=patient_id, substance=a.substance[:120], reaction=_cut(a.reaction, 200),
                 severity=a.severity if a.severity in SEVERITIES else None)
            for a in record.allergies if a.substance]
    if record.diagnoses is not None:
        lists[Condition] = [
            dict(patient_id=patient_id, name=d.name[:200], code=_cut(d.code, 32), chronic=d.chronic)
            for d in record.diagnoses if d.name]
    if record.contacts is not None:
        lists[PatientContact] = [
            dict(patient_id=patient_id, name=c.name[:200], relation=_cut(c.relation, 64),
                 phone_e164=_e164(c.phone, rule))
            for c in record.contacts if c.name]
    return lists


def _row(**values) -> dict:
    """A row's values as given; None left out, so the column's default applies (as for an ORM object)."""
    return {key: value for key, value in values.items() if value is not None}


def _cut(text: str | None, length: int) -> str | None:
    return text[:length] if text else None


def _e164(number: str | None, rule: IdentityRule) -> str | None:
    return normalize(number, rule.default_region).e164 if number else None


def _phones(patient_id: int, record: PatientRecord, rule: IdentityRule) -> list[dict]:
    rows: dict[str, dict] = {}
    for phone in record.phones or ():
        e164 = phone.e164 or _e164(phone.number, rule)
        if e164 and e164 not in rows:  # a number the source sends twice (home and mobile) is kept once
            use = phone.use if phone.use in PHONE_USES else "other"
            rows[e164] = dict(patient_id=patient_id, e164=e164, kind=use, is_primary=not rows)
    return list(rows.values())


def _on_death(session: Session, patient: SimpleNamespace, followup: FollowUp | None, now: datetime) -> int:
    return followup.withdraw_patient(session, patient.id, "deceased", now) if followup else 0


# ---- visits ----

_ENCOUNTERS = Encounter.__table__
_VISIT_FIELDS = ("kind", "department", "started_at", "discharged_at", "visit_number", "patient_class", "ward",
                 "attending", "disposition", "source_updated_at")
_PATIENT_ENCOUNTERS = select(_ENCOUNTERS.c.id, *(_ENCOUNTERS.c[name] for name in _VISIT_FIELDS)).where(
    _ENCOUNTERS.c.patient_id == bindparam("patient_id"))
_ENCOUNTER_OF_VISIT = Prepared(_PATIENT_ENCOUNTERS.where(
    _ENCOUNTERS.c.visit_number == bindparam("visit_number")))
_LAST_DISCHARGED = Prepared(_PATIENT_ENCOUNTERS.where(_ENCOUNTERS.c.discharged_at.is_not(None)).order_by(
    _ENCOUNTERS.c.discharged_at.desc()).limit(1))
_OPEN_STAY = Prepared(_PATIENT_ENCOUNTERS.where(_ENCOUNTERS.c.discharged_at.is_(None),
                                                _ENCOUNTERS.c.kind == "admission").order_by(
    _ENCOUNTERS.c.started_at.desc()).limit(1))
_INSERT_ENCOUNTER = Prepared(insert(_ENCOUNTERS).returning(_ENCOUNTERS.c.id), ("patient_id", *_VISIT_FIELDS))
_UPDATE_ENCOUNTER = Prepared(update(_ENCOUNTERS).where(_ENCOUNTERS.c.id == bindparam("encounter_id")).values(
    {name: bindparam(f"new_{name}") for name in _VISIT_FIELDS}))
_DELETE_ENCOUNTER = delete(_ENCOUNTERS).where(_ENCOUNTERS.c.id == bindparam("encounter_id"))


def _visit(session: Session, patient: SimpleNamespace, change: PatientChange, followup: FollowUp | None,
           now: datetime, result: Applied) -> Applied:
    conn = session.connection()
    visit = change.visit or VisitRecord()
    encounter = _find_encounter(conn, patient.id, visit, change.kind)
    if change.kind is ChangeKind.CANCEL_ADMIT:
        return _cancel_admit(session, encounter, followup, now, result)
    if encounter is None:
        encounter = _new_encounter(patient.id, visit, change)
        if encounter is None:
            return result
    elif _older(change.event_time, encounter.source_updated_at):
        return _with(result, encounter_id=encounter.id)
    was_discharged = encounter.discharged_at is not None
    _write_visit(encounter, visit, change)
    _save_encounter(session, conn, patient.id, encounter)
    result = _with(result, encounter_id=encounter.id)
    if change.kind is ChangeKind.CANCEL_DISCHARGE and followup:
        return _with(result, targets_withdrawn=followup.withdraw_encounter(
            session, encounter.id, "discharge_cancelled", now))
    if encounter.discharged_at is not None and not was_discharged and followup and not patient.deceased:
        return _with(result, targets_created=followup.discharged(session, encounter.id, now))
    return result


def _find_encounter(conn: Connection, patient_id: int, visit: VisitRecord,
                    kind: ChangeKind) -> SimpleNamespace | None:
    if visit.visit_number:
        return _ENCOUNTER_OF_VISIT.namespace(conn, {"patient_id": patient_id,
                                                    "visit_number": visit.visit_number})
    if kind is ChangeKind.CANCEL_DISCHARGE:
        return _LAST_DISCHARGED.namespace(conn, {"patient_id": patient_id})
    # Without a visit number: the patient's open stay (the newest), which is what an ADT feed talks about.
    return _OPEN_STAY.namespace(conn, {"patient_id": patient_id})


def _new_encounter(patient_id: int, visit: VisitRecord, change: PatientChange) -> SimpleNamespace | None:
    if change.kind in (ChangeKind.PERSON, ChangeKind.CANCEL_DISCHARGE):
        return None  # an update about a visit we never heard of: nothing to update
    inpatient = visit.patient_class in INPATIENT_CLASSES or (
        visit.patient_class is None and change.kind is not ChangeKind.VISIT)
    fields = dict.fromkeys(_VISIT_FIELDS)
    return SimpleNamespace(**fields | dict(id=None, kind="admission" if inpatient else "visit", department="",
                                           started_at=visit.admitted_at or change.event_time))


def _save_encounter(session: Session, conn: Connection, patient_id: int, encounter: SimpleNamespace) -> None:
    values = {name: getattr(encounter, name) for name in _VISIT_FIELDS}
    if encounter.id is None:
        [(encounter.id,)] = _INSERT_ENCOUNTER.rows(conn, {"patient_id": patient_id, **values})
        return
    _UPDATE_ENCOUNTER.rows(conn, {"encounter_id": encounter.id,
                                  **{f"new_{name}": value for name, value in values.items()}})
    _expire_loaded(session, Encounter, encounter.id)


def _write_visit(encounter: SimpleNamespace, visit: VisitRecord, change: PatientChange) -> None:
    for name in ("visit_number", "patient_class", "ward", "attending", "disposition"):
        value = getattr(visit, name)
        if value:
            setattr(encounter, name, value[:_ENCOUNTERS.c[name].type.length])
    encounter.department = (visit.department or visit.ward or encounter.department or "unknown")[:80]
    if visit.admitted_at:
        encounter.started_at = visit.admitted_at
    if change.kind is ChangeKind.DISCHARGE:
        encounter.discharged_at = visit.discharged_at or change.event_time
    elif change.kind is ChangeKind.CANCEL_DISCHARGE:
        encounter.discharged_at, encounter.disposition = None, None
    elif visit.discharged_at:
        encounter.discharged_at = visit.discharged_at
    encounter.source_updated_at = change.event_time


def _cancel_admit(session: Session, encounter: SimpleNamespace | None, followup: FollowUp | None,
                  now: datetime, result: Applied) -> Applied:
    if encounter is None:
        return result
    withdrawn = (followup.withdraw_encounter(session, encounter.id, "admission_cancelled", now)
                 if followup else 0)
    _expire_loaded(session, Encounter, encounter.id)
    session.execute(_DELETE_ENCOUNTER, {"encounter_id": encounter.id})
    return _with(result, targets_withdrawn=withdrawn)


# ---- merge (A40) ----

def _merge(session: Session, change: PatientChange, rule: IdentityRule, followup: FollowUp | None,
           now: datetime) -> Applied:
    prior_mrn = mrn_of(PatientRecord(identifiers=change.merged_from), rule)
    prior = find_patient(session, prior_mrn.value)
    survivor_mrn = mrn_of(change.patient, rule)
    survivor = find_patient(session, survivor_mrn.value)
    if prior is not None and survivor is None:
        # The survivor's MRN is new to us: the record merged away simply takes it.
        prior.mrn = survivor_mrn.value
        session.flush()
    base = apply(session, PatientChange(ChangeKind.PERSON, change.patient, change.event_time), rule, followup,
                 now)
    if prior is None or prior.id == base.patient_id:
        return base
    _move_rows(session, prior.id, base.patient_id)
    prior.merged_into_id = base.patient_id
    return _with(base, merged_patient_id=prior.id)


def _move_rows(session: Session, old: int, new: int) -> None:
    session.flush()
    for model in FOLLOWING_ROWS:
        session.execute(update(model).where(model.patient_id == old).values(patient_id=new))
    _move_unique(session, PatientPhone, PatientPhone.e164, old, new)
    _move_unique(session, PatientFlag, PatientFlag.flag, old, new)
    _move_identifiers(session, old, new)
    _move_targets(session, old, new)


def _move_unique(session: Session, model, key, old: int, new: int) -> None:
    """Rows unique per patient (a phone, a flag): the survivor keeps its own and gets the others; the merged
    record keeps none (a caller's number must pop the survivor only)."""
    held = select(key).where(model.patient_id == new).scalar_subquery()
    session.execute(update(model).where(model.patient_id == old, key.not_in(held)).values(patient_id=new))
    session.execute(delete(model).where(model.patient_id == old))


def _move_identifiers(session: Session, old: int, new: int) -> None:
    session.execute(update(PatientIdentifier).where(PatientIdentifier.patient_id == old)
                    .values(patient_id=new))


def _move_targets(session: Session, old: int, new: int) -> None:
    """Campaign targets follow, except where the survivor already has the same one (kept on the old record,
    closed): a patient is not called twice about one discharge."""
    for target in session.scalars(select(CampaignTarget).where(CampaignTarget.patient_id == old)).all():
        subject = new if target.subject_kind == "patient" else target.subject_id
        twin = session.scalar(select(CampaignTarget.id).where(
            CampaignTarget.campaign_name == target.campaign_name, CampaignTarget.patient_id == new,
            CampaignTarget.subject_kind == target.subject_kind, CampaignTarget.subject_id == subject))
        if twin is None:
            target.patient_id, target.subject_id = new, subject
        elif target.status == "pending":
            target.status, target.outcome = "expired", {"reason": "merged"}
    session.flush()


# ---- many new patients at once (a first import) ----

def apply_many(session: Session, changes: list[PatientChange], rule: IdentityRule, followup: FollowUp | None,
               now: datetime) -> list[Applied | RecordError]:
    """`apply` for a batch (an import file's rows), each change's result (or RecordError) in order. Person
    changes about MRNs nobody holds yet, whose identifiers nobody holds either, are created together: one
    flush for the batch instead of several statements per patient (a first import of 100k patients). Every
    other change goes through `apply`, one by one, after them."""
    results: list[Applied | RecordError | None] = [None] * len(changes)
    fresh = _fresh(session, changes, rule, results)
    if fresh:
        for i, patient_id in zip((i for i, _mrn in fresh), _insert_new(session, changes, fresh, rule),
                                 strict=True):
            results[i] = Applied(patient_id, created=True)
    for i, change in enumerate(changes):
        if results[i] is None:
            try:
                results[i] = apply(session, change, rule, followup, now)
            except RecordError as exc:
                results[i] = exc
    session.flush()
    return results


def _insert_new(session: Session, changes: list[PatientChange], fresh: list[tuple[int, str]],
                rule: IdentityRule) -> list[int]:
    """The new patients and their identifiers and lists as a few multi-row INSERTs (ORM bulk insert: no
    unit of work per object), their rows built by the same functions as one patient's."""
    patients = [_new_patient(mrn, changes[i]) for i, mrn in fresh]
    ids = list(session.scalars(insert(Patient).returning(Patient.id, sort_by_parameter_order=True), patients))
    rows: dict[type, list[dict]] = {PatientIdentifier: []}
    for (i, _mrn), patient_id in zip(fresh, ids, strict=True):
        record = changes[i].patient
        rows[PatientIdentifier] += _identifier_rows(patient_id, record.identifiers)
        for model, values in _list_rows(patient_id, record, rule).items():
            rows.setdefault(model, []).extend(values)
    for model, values in rows.items():
        if values:
            session.execute(insert(model.__table__), values)
    return ids


def _new_patient(mrn: str, change: PatientChange) -> dict:
    """A new patient's row, its fields written by `_write_fields` as for one patient (on a plain namespace:
    an ORM object per row cost more than the INSERT)."""
    fields = SimpleNamespace(mrn=mrn, given_name="", family_name="", date_of_birth=change.patient.birth_date)
    _write_fields(fields, change.patient, change.event_time)
    return _row(**vars(fields))


def _fresh(session: Session, changes: list[PatientChange], rule: IdentityRule,
           results: list) -> list[tuple[int, str]]:
    """(index, MRN) of the changes that create a patient nobody could be: new MRN, new identifiers, complete,
    the first of the batch for its MRN and for each identifier. Refusals of the MRN go into `results`."""
    candidates: dict[str, int] = {}
    for i, change in enumerate(changes):
        if change.kind is not ChangeKind.PERSON or change.visit is not None:
            continue
        try:
            mrn = mrn_of(change.patient, rule).value
        except RecordError as exc:
            results[i] = exc
            continue
        record = change.patient
        if record.family_name and record.given_name and record.birth_date:
            candidates.setdefault(mrn, i)
    if not candidates:
        return []
    known = set(session.scalars(select(Patient.mrn).where(Patient.mrn.in_(list(candidates)))))
    pairs = {i: _identifier_keys(changes[i].patient.identifiers) for i in candidates.values()}
    seen: dict[tuple[str, str], int] = {}
    for keys in pairs.values():
        for key in keys:
            seen[key] = seen.get(key, 0) + 1
    taken = {(system, value) for system, value in session.execute(
        select(PatientIdentifier.system, PatientIdentifier.value).where(*_identifier_keys_in(seen)))}
    return [(i, mrn) for mrn, i in candidates.items() if mrn not in known
            and not any(key in taken or seen[key] > 1 for key in pairs[i])]


def _identifier_keys_in(keys: Iterable[tuple[str, str]]) -> tuple:
    """WHERE clauses for the identifiers of these (system, value) keys that the unique (system, value) index
    answers: by value alone, every lookup read the whole table (a cost per message growing with the
    hospital's patients). Cross pairs it also finds (another key's system with this value) are harmless:
    callers look their keys up in what it returns."""
    keys = list(keys)
    return (PatientIdentifier.system.in_({system for system, _ in keys}),
            PatientIdentifier.value.in_({value for _, value in keys}))


def _identifier_keys(identifiers: tuple[Identifier, ...]) -> set[tuple[str, str]]:
    return {((i.system or "")[:200], i.value) for i in identifiers if i.value and len(i.value) <= 64}


def _identifier_rows(patient_id: int, identifiers: tuple[Identifier, ...]) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for identifier in identifiers:
        for system, value in _identifier_keys((identifier,)):
            row = dict(patient_id=patient_id, system=system, value=value, type=identifier.type[:16] or None)
            rows.setdefault((system, value), row)
    return list(rows.values())


class PatientFeed:
    """`apply` with its collaborators bound: what main.py gives each source (HL7 v2, FHIR, CSV), which call
    it inside their own transaction (with their inbound log row or import report)."""

    def __init__(self, rule: IdentityRule, followup: FollowUp | None, clock: Callable[[], datetime] = utcnow):
        self.rule, self.followup, self.clock = rule, followup, clock

    def apply(self, session: Session, change: PatientChange) -> Applied:
        return apply(session, change, self.rule, self.followup, self.clock())

    def apply_many(self, session: Session, changes: list[PatientChange]) -> list[Applied | RecordError]:
        return apply_many(session, changes, self.rule, self.followup, self.clock())

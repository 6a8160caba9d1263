"""The data model. Portable between SQLite (development, tests) and PostgreSQL (production).

Every timestamp is an aware UTC datetime (`UtcDateTime`). Vocabularies that the code branches on (states,
kinds, roles) are enforced by CHECK constraints, so a typo in a state name fails at the write instead of
producing a call that no report ever finds. Open vocabularies (call outcome, event type, audit action) are
not constrained.

`call_events` and `audit_events` are append-only: the migration installs triggers that abort UPDATE and
DELETE. They carry ids of calls, agents, patients... but no foreign keys: a log must be writable for anything
that happened (an agent state change has no call; a stray channel may never get a call row) and must outlive
whatever it mentions.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.ext.mutable import MutableDict, MutableList
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .types import UtcDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SEXES = ("F", "M", "X", "U")
PHONE_KINDS = ("mobile", "home", "work", "other")
SEVERITIES = ("mild", "moderate", "severe")
ENCOUNTER_KINDS = ("visit", "admission")
# What one message from a hospital system (HL7 v2 over MLLP) came to: kept with the raw bytes (issue 15).
INBOUND_OUTCOMES = ("received", "applied", "duplicate", "rejected", "failed")
APPOINTMENT_STATUSES = ("booked", "confirmed", "cancelled", "completed", "no_show")
# "relations": the patient-relations team, who work the tickets (issue 17) and nothing of the desks.
USER_ROLES = ("agent", "nurse", "supervisor", "admin", "relations")
AGENT_STATES = ("logged_out", "available", "paused", "ringing", "on_call", "wrapup")
# Why a disposition became a task (DispositionTask): released by a supervisor, or the agent left the desk.
DISPOSITION_TASK_REASONS = ("supervisor_release", "agent_away")
CALL_DIRECTIONS = ("inbound", "outbound")
CALLER_STATUSES = ("valid", "anonymous", "malformed")
CALL_STATUSES = ("ivr", "queued", "offering", "connected", "ended")
# A call that may still be going on. Queries ask `status IN` these, never `!= "ended"`: the status index
# then keeps them as cheap with years of ended calls as with none.
OPEN_CALL_STATUSES = tuple(s for s in CALL_STATUSES if s != "ended")
LEG_ROLES = ("caller", "agent", "snoop")
LEG_OUTCOMES = ("answered", "no_answer", "busy", "failed", "hangup")
CALLBACK_STATUSES = ("scheduled", "done", "cancelled", "failed")
CAMPAIGN_KINDS = ("discharge_followup", "appointment_reminder", "chronic_check", "satisfaction_survey")
TARGET_STATUSES = ("pending", "in_progress", "completed", "failed", "opted_out", "excluded", "expired")
# How one dial attempt ended on the line. 'person' and 'machine' are answered calls (the AMD verdict);
# 'abandoned' is a progressive call answered by a person whom no agent took within the limit.
ATTEMPT_RESULTS = ("dialing", "person", "machine", "no_answer", "busy", "failed", "abandoned")
DNC_SOURCES = ("ivr_key", "agent", "admin", "import", "patient_request")
# Tickets (issue 17, callcenter/complaints/): complaints, suggestions and praise from every channel.
COMPLAINT_STATUSES = ("received", "assigned", "in_progress", "waiting_patient", "resolved", "closed")
# The patient is still waiting for an answer (waiting_patient too: the ticket is not done, only paused).
OPEN_COMPLAINT_STATUSES = ("received", "assigned", "in_progress", "waiting_patient")
COMPLAINT_KINDS = ("complaint", "suggestion", "praise")
COMPLAINT_SEVERITIES = ("low", "medium", "high", "critical")
COMPLAINT_CHANNELS = ("phone", "web", "letter", "email", "sms")
MAIL_STATUSES = ("queued", "sent", "dead")  # the emails' outbox (mail/outbox.py)

# SQLite has no BIGINT autoincrement: only "INTEGER PRIMARY KEY" is an alias of the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name or column)


def new_call_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# -- patients ----------------------------------------------------------------------------------------------


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (one_of("sex", SEXES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1), default="U")
    language: Mapped[str] = mapped_column(String(16), default="en")
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Fed by the hospital's systems (callcenter/patients/): when the patient died (never dialed then), the
    # record this one was merged into (its MRN still finds the survivor; audit rows keep naming this id), and
    # the event time of the newest demographics applied (older messages do not overwrite them).
    deceased: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    deceased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    source_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    phones: Mapped[list[PatientPhone]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", order_by="PatientPhone.id")
    allergies: Mapped[list[Allergy]] = relationship(cascade="all, delete-orphan", order_by="Allergy.id")
    conditions: Mapped[list[Condition]] = relationship(cascade="all, delete-orphan", order_by="Condition.id")
    flags: Mapped[list[PatientFlag]] = relationship(cascade="all, delete-orphan", order_by="PatientFlag.id")
    encounters: Mapped[list[Encounter]] = relationship(
        cascade="all, delete-orphan", order_by="Encounter.started_at")
    appointments: Mapped[list[Appointment]] = relationship(
        cascade="all, delete-orphan", order_by="Appointment.starts_at")
    identifiers: Mapped[list[PatientIdentifier]] = relationship(
        cascade="all, delete-orphan", order_by="PatientIdentifier.id")
    contacts: Mapped[list[PatientContact]] = relationship(
        cascade="all, delete-orphan", order_by="PatientContact.id")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class PatientPhone(Base):
    """One number may belong to several patients (a family landline), so e164 is indexed, not unique."""

    __tablename__ = "patient_phones"
    __table_args__ = (UniqueConstraint("patient_id", "e164"), one_of("kind", PHONE_KINDS))

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="mobile")
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)

    patient: Mapped[Patient] = relationship(back_populates="phones")


class PatientIdentifier(Base):
    """Every identifier a hospital system sent for the patient (MRN, national number, other sites' MRNs), by
    its system (HL7 assigning authority, FHIR identifier system). The MRN of the configured system is
    also `patients.mrn`, which identity matching uses."""

    __tablename__ = "patient_identifiers"
    __table_args__ = (UniqueConstraint("system", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(64))
    type: Mapped[str | None] = mapped_column(String(16))


class PatientContact(Base):
    """A next of kin or other contact person (HL7 NK1, FHIR Patient.contact)."""

    __tablename__ = "patient_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str | None] = mapped_column(String(64))
    phone_e164: Mapped[str | None] = mapped_column(String(20))


class Allergy(Base):
    __tablename__ = "allergies"
    __table_args__ = (one_of("severity", SEVERITIES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    substance: Mapped[str] = mapped_column(String(120))
    reaction: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(16))


class Condition(Base):
    __tablename__ = "conditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(32))
    chronic: Mapped[bool] = mapped_column(Boolean, default=False)


class PatientFlag(Base):
    __tablename__ = "patient_flags"
    __table_args__ = (UniqueConstraint("patient_id", "flag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    flag: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class Encounter(Base):
    """A visit or an admission; discharged_at is set when an admission ends."""

    __tablename__ = "encounters"
    __table_args__ = (one_of("kind", ENCOUNTER_KINDS), Index(None, "patient_id", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    discharged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    summary: Mapped[str | None] = mapped_column(Text)
    # From the hospital's systems (callcenter/patients/): the visit number (HL7 PV1-19, FHIR Encounter
    # identifier), class (inpatient, outpatient, emergency...), ward, attending doctor, discharge disposition,
    # and the event time of the newest data applied.
    visit_number: Mapped[str | None] = mapped_column(String(64), index=True)
    patient_class: Mapped[str | None] = mapped_column(String(16))
    ward: Mapped[str | None] = mapped_column(String(80))
    attending: Mapped[str | None] = mapped_column(String(200))
    disposition: Mapped[str | None] = mapped_column(String(64))
    source_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (one_of("status", APPOINTMENT_STATUSES), Index(None, "patient_id", "starts_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    department: Mapped[str] = mapped_column(String(80))
    clinician: Mapped[str | None] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    location: Mapped[str | None] = mapped_column(String(200))
    # From the hospital's systems (callcenter/patients/appointments.py): the appointment's id there (FHIR
    # Appointment id, a CSV appointment_id), which a later import updates by, and the time of its data.
    source_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    source_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# -- staff, agents, queues -------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = (one_of("role", USER_ROLES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Sign-in (callcenter/auth): failures counted since failed_logins_since, for the admin's view; guessing is
    # slowed per address (auth/throttle.py), never by locking the account.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_logins_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Sessions live in cookies; bumping this ends every session of the user (sign-out, password change).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set with a password an admin chose: the user picks their own at the next sign-in before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The phone of a user without a desk (a supervisor's, for listen/whisper/barge): an Asterisk dial string.
    phone_endpoint: Mapped[str | None] = mapped_column(String(255))


class ApiClient(Base):
    """A machine client of the HTTP API (callcenter/auth/clients.py): named, scoped, revocable. Only the
    SHA-256 of its secret is stored. A revoked client keeps its row: audit rows name it by id."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON(), default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Agent(Base):
    """A desk that can take calls. `endpoint` is an Asterisk dial string ('PJSIP/1001')."""

    __tablename__ = "agents"
    __table_args__ = (one_of("state", AGENT_STATES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    endpoint: Mapped[str] = mapped_column(String(255))
    skills: Mapped[list[str]] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    languages: Mapped[list[str]] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    state: Mapped[str] = mapped_column(String(16), default="logged_out")
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    state_since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_call_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User | None] = relationship()


def _queue_skill_default(context) -> str:
    return context.get_current_parameters()["name"]


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    skill: Mapped[str] = mapped_column(String(64), default=_queue_skill_default)
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=30)
    moh_class: Mapped[str] = mapped_column(String(80), default="default")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Every caller of this queue is sent to the short survey when the agent hangs up (issue 17).
    post_call_survey: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# -- calls ------------------------------------------------------------------------------------------------


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        one_of("direction", CALL_DIRECTIONS),
        one_of("caller_status", CALLER_STATUSES),
        one_of("status", CALL_STATUSES),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_call_id)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    channel_id: Mapped[str | None] = mapped_column(String(128), index=True)
    caller_raw: Mapped[str | None] = mapped_column(String(255))
    caller_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    caller_status: Mapped[str] = mapped_column(String(16), default="anonymous")
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    candidate_patient_ids: Mapped[list[int]] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    language: Mapped[str | None] = mapped_column(String(16))
    ivr_path: Mapped[list] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    queue_name: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="ivr", index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    end_reason: Mapped[str | None] = mapped_column(String(255))
    # An outbound campaign call (issue 6): the campaign's name; NULL for every other call.
    campaign_name: Mapped[str | None] = mapped_column(String(64), index=True)

    legs: Mapped[list[CallLeg]] = relationship(back_populates="call", order_by="CallLeg.id")
    recordings: Mapped[list[Recording]] = relationship(back_populates="call", order_by="Recording.id")


class CallLeg(Base):
    __tablename__ = "call_legs"
    __table_args__ = (one_of("role", LEG_ROLES), one_of("outcome", LEG_OUTCOMES))

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    endpoint: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))

    call: Mapped[Call] = relationship(back_populates="legs")


class Recording(Base):
    """A finished (or running) Asterisk recording; `path` is relative to the recordings dir once fetched."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    path: Mapped[str | None] = mapped_column(String(1024))
    format: Mapped[str] = mapped_column(String(16), default="wav")
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # Unknown when the recording was found without having been seen to start (e.g. after a restart).
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    call: Mapped[Call] = relationship(back_populates="recordings")


# -- append-only logs -------------------------------------------------------------------------------------


class CallEvent(Base):
    """Every state change of every call, in order. Append-only (database triggers)."""

    __tablename__ = "call_events"
    # (call_id, id) also serves lookups by call_id alone, so call_id needs no index of its own.
    # (ts, type, call_id) answers "which calls have events of these types in [from, to)" from the index alone
    # (the KPI computation), without reading the rows.
    __table_args__ = (Index(None, "ts"), Index(None, "call_id", "id"), Index(None, "ts", "type", "call_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(Integer)
    queue_name: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(MutableDict.as_mutable(JSON()), default=dict)


class KpiState(Base):
    """How far the KPI store (kpi_calls, kpi_facts) has followed the event log: one row (id 1). Every call
    with a folded event of id <= `folded_through` on a day in kpi_days has its current record stored. A
    different `fold_version` (the code's meaning of a record) empties the store."""

    __tablename__ = "kpi_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fold_version: Mapped[int] = mapped_column(Integer)
    folded_through: Mapped[int] = mapped_column(BigId)


class KpiDay(Base):
    """A UTC day whose calls are all in the KPI store (kept up to date from then on by the event ids)."""

    __tablename__ = "kpi_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class KpiCall(Base):
    """One folded call: how many folded events (and the last id) its stored facts reflect, and who the patient
    was and when first named (first-contact resolution looks for the same patient's next call here). A cache:
    kpi/compute.py writes it, deleting rows is safe while kpi_days is emptied with them."""

    __tablename__ = "kpi_calls"
    __table_args__ = (Index(None, "patient_id", "contact_us"),)

    call_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigId)
    events: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int | None] = mapped_column(Integer)
    contact_us: Mapped[int | None] = mapped_column(BigInteger)  # microseconds since the epoch


class KpiFact(Base):
    """One KPI figure of a call (a queue segment, a handling, a transfer, a callback, a red flag, an outbound
    attempt, a first-contact candidate) at its anchor instant, with its additive sums as columns so reports
    total them with GROUP BY. Settings are not applied: a segment keeps its raw wait and how long the caller
    waited before leaving, compared with the current settings in the query (docs/kpi.md). Durations are whole
    microseconds (in floats: exact, so sums do not depend on their order)."""

    __tablename__ = "kpi_facts"
    __table_args__ = (Index(None, "ts"), Index(None, "call_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    minute: Mapped[int] = mapped_column(Integer)  # minutes since the epoch (UTC): the bucket key in SQL
    queue: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(Integer)
    campaign: Mapped[str | None] = mapped_column(String(64))
    attempt_id: Mapped[int | None] = mapped_column(Integer)  # an attempt whose end the event log lacks
    wait: Mapped[float | None] = mapped_column(Float)  # segment: microseconds until answered
    ended: Mapped[str | None] = mapped_column(String(16))  # segment: 'abandoned' | 'other' if left unanswered
    gone: Mapped[float | None] = mapped_column(Float)  # segment: microseconds until the caller left
    patient_id: Mapped[int | None] = mapped_column(Integer)  # first-contact candidate
    contact_us: Mapped[int | None] = mapped_column(BigInteger)
    offered: Mapped[int] = mapped_column(Integer)
    handle_sum: Mapped[float] = mapped_column(Float)
    handlings: Mapped[int] = mapped_column(Integer)
    transfers: Mapped[int] = mapped_column(Integer)
    callbacks: Mapped[int] = mapped_column(Integer)
    red_flags: Mapped[int] = mapped_column(Integer)
    esc_sum: Mapped[float] = mapped_column(Float)
    esc_n: Mapped[int] = mapped_column(Integer)
    fcr_base: Mapped[int] = mapped_column(Integer)
    out_dialed: Mapped[int] = mapped_column(Integer)
    out_contacts: Mapped[int] = mapped_column(Integer)
    out_completed: Mapped[int] = mapped_column(Integer)
    out_abandoned: Mapped[int] = mapped_column(Integer)
    amd_human: Mapped[int] = mapped_column(Integer)
    amd_machine: Mapped[int] = mapped_column(Integer)
    confirmations: Mapped[int] = mapped_column(Integer)
    cancellations: Mapped[int] = mapped_column(Integer)
    opt_outs: Mapped[int] = mapped_column(Integer)


class AuditEvent(Base):
    """Who saw which patient record or recording, when and why. Append-only (database triggers)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "ts"),
        Index(None, "patient_id", "ts"),
        Index(None, "call_id"),
        Index(None, "recording_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_agent_id: Mapped[int | None] = mapped_column(Integer)
    actor_client_id: Mapped[int | None] = mapped_column(Integer)   # an API client (api_clients.id)
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(Integer)
    call_id: Mapped[str | None] = mapped_column(String(32))
    recording_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(MutableDict.as_mutable(JSON()), default=dict)


class Disposition(Base):
    """An agent's wrap-up of a call: what it was about (a code) and notes. One per agent per call."""

    __tablename__ = "dispositions"
    __table_args__ = (UniqueConstraint("call_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class Callback(Base):
    """A call the hospital owes a patient: scheduled by an agent (or the IVR), due at a time, for a queue or
    one agent."""

    __tablename__ = "callbacks"
    __table_args__ = (one_of("status", CALLBACK_STATUSES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    queue_name: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16), default="scheduled", server_default="scheduled")
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    origin_call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result_call_id: Mapped[str | None] = mapped_column(String(32))
    # Urgent: a red flag with no nurse free, or an escalation owed on a call whose caller hung up; due at
    # once, dialed by the urgent dialer (callbacks/dialer.py).
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Dialed by the urgent dialer as soon as due (an escalation owed on a call that ended); others are
    # worked by a person from the desk's list.
    autodial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Listed and dialed most urgent first (callbacks/services.py: URGENT_PRIORITY for urgent ones).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Attempts made, the last one's result (answered, busy, no_answer, failed), and who is working it now.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_result: Mapped[str | None] = mapped_column(String(16))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))


class DispositionTask(Base):
    """A disposition still owed when the desk had to move on without it: a supervisor released the desk
    from wrap-up, or the agent left (console closed) and was logged out. The agent (or a supervisor for
    them) completes it later; saving the call's disposition closes it (desk/services.py)."""

    __tablename__ = "disposition_tasks"
    __table_args__ = (UniqueConstraint("call_id", "agent_id"), one_of("reason", DISPOSITION_TASK_REASONS),
                      Index(None, "agent_id", "completed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    released_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disposition_id: Mapped[int | None] = mapped_column(ForeignKey("dispositions.id"))


APPEND_ONLY_TABLES = ("call_events", "audit_events")


class InboundMessage(Base):
    """Every message a hospital system sent (HL7 v2 over MLLP, issue 15), its raw bytes stored before
    anything else, then what became of it. Rows are never deleted (a trigger refuses it) and the bytes never
    change; only the outcome moves on (received -> applied / duplicate / rejected / failed, and again on a
    re-apply). `applied_key` (sender + control id) is unique and set only in the transaction that applied
    the message: a second copy, even on another connection at the same moment, cannot apply twice."""

    __tablename__ = "inbound_messages"
    __table_args__ = (one_of("outcome", INBOUND_OUTCOMES), Index(None, "outcome", "id"),
                      Index(None, "sender", "control_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(16), default="hl7v2")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    peer: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sender: Mapped[str | None] = mapped_column(String(200))
    control_id: Mapped[str | None] = mapped_column(String(64))
    message_type: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), default="received")
    ack_code: Mapped[str | None] = mapped_column(String(2))
    # What was wrong, in words without patient data (field names, not their values).
    error: Mapped[str | None] = mapped_column(Text)
    patient_id: Mapped[int | None] = mapped_column(Integer)
    applied_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# -- outbound campaigns (issue 6) -------------------------------------------------------------------------


class Campaign(Base):
    """A campaign definition as loaded from YAML (campaigns/*.yaml) or edited by an admin. The YAML text is
    the source of truth, validated by callcenter/campaigns/schema.py; `version` rises with every change."""

    __tablename__ = "campaigns"
    __table_args__ = (one_of("kind", CAMPAIGN_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    source_yaml: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    loaded_from: Mapped[str | None] = mapped_column(String(1024))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CampaignTarget(Base):
    """One patient (and the appointment or discharge it is about) that a campaign must reach. Planning is
    idempotent: the unique key makes a second plan of the same day find the same rows."""

    __tablename__ = "campaign_targets"
    __table_args__ = (
        one_of("status", TARGET_STATUSES),
        UniqueConstraint("campaign_name", "patient_id", "subject_kind", "subject_id"),
        Index(None, "campaign_name", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_name: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    # What the call is about: 'appointment' / 'encounter' with its id, or 'patient' with the patient's id.
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_result: Mapped[str | None] = mapped_column(String(16))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What the patient answered: {"confirmed": true}, {"cancelled": true}, {"score": 4}, {"red_flag": ...}.
    outcome: Mapped[dict] = mapped_column(MutableDict.as_mutable(JSON()), default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CampaignAttempt(Base):
    """One dial of one target: when, how the line answered (AMD verdict), how long, which keys."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (one_of("result", ATTEMPT_RESULTS), Index(None, "campaign_name", "started_at"),
                      Index(None, "patient_id", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("campaign_targets.id", ondelete="CASCADE"), index=True)
    campaign_name: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str | None] = mapped_column(String(32), index=True)
    worker: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result: Mapped[str] = mapped_column(String(16), default="dialing")
    amd_status: Mapped[str | None] = mapped_column(String(16))
    amd_cause: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    # Menu keys only (1-5, 9...), never digits a patient typed as data.
    keys: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # What the call achieved: completed, confirmed, cancelled, opted_out, red_flag, message_left, ...
    outcome: Mapped[str | None] = mapped_column(String(32))


class DialClaim(Base):
    """A patient being dialed right now. The primary key is the patient, so a second worker's (or a second
    campaign's) claim on the same patient fails in the database, whatever the process."""

    __tablename__ = "dial_claims"

    patient_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    campaign_name: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # A claim left by a crashed worker stops blocking the patient after this.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DoNotCall(Base):
    """A number, or one patient (all their numbers), that no campaign may dial. Never deleted by campaigns."""

    __tablename__ = "do_not_call"
    __table_args__ = (one_of("source", DNC_SOURCES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str | None] = mapped_column(String(20), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    # None: every campaign; else only campaigns of this kind (a patient may refuse surveys, not reminders).
    campaign_kind: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    call_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CallSurvey(Base):
    """The survey after an inbound call (issue 17): one per call, against the agent who took it and its queue.
    An answer is written as it is given, so a caller who hangs up mid-survey leaves what they answered."""
    __tablename__ = "call_surveys"
    __table_args__ = (CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    queue_name: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    satisfaction: Mapped[int | None] = mapped_column(Integer)   # 1 very dissatisfied .. 5 very satisfied
    resolved: Mapped[bool | None] = mapped_column(Boolean)      # was the caller's matter resolved
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the last answer


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_name: Mapped[str] = mapped_column(String(64), index=True)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_targets.id", ondelete="SET NULL"))
    call_id: Mapped[str | None] = mapped_column(String(32))
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    question: Mapped[str] = mapped_column(String(64), default="overall")
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class Complaint(Base):
    """A ticket (complaint, suggestion or praise), found by its serial number (self-service status,
    resolution-time KPI). `patient_id` None: anonymous, or a caller not identified; the contact fields are
    what the patient left to be answered (patient data: never logged). Its history is `complaint_events`."""

    __tablename__ = "complaints"
    __table_args__ = (one_of("status", COMPLAINT_STATUSES), one_of("kind", COMPLAINT_KINDS),
                      one_of("severity", COMPLAINT_SEVERITIES), one_of("channel", COMPLAINT_CHANNELS),
                      UniqueConstraint("serial_year", "serial_seq"))

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)  # digits only, check digit last
    # The serial's parts (serial.py); None on rows written before issue 17, whose serials were free text.
    serial_year: Mapped[int | None] = mapped_column(Integer)
    serial_seq: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="complaint")
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    category: Mapped[str] = mapped_column(String(64), default="general")
    department: Mapped[str] = mapped_column(String(64), default="general")
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    handling_group: Mapped[str] = mapped_column(String(64), default="patient_relations")
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # 0: the handling group; 1: the department head; 2: the patient-relations director (routing.yaml).
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution_text: Mapped[str] = mapped_column(Text, default="")
    resolution_channel: Mapped[str] = mapped_column(String(16), default="")  # how the result was told
    # The result as the patient is told it (the hotline speaks it to a caller who types the serial), apart
    # from the handler's resolution notes above; its language chooses the voice (complaints/voice.py).
    patient_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    summary_language: Mapped[str] = mapped_column(String(8), default="", server_default="")
    call_id: Mapped[str | None] = mapped_column(String(32), index=True)
    recording_id: Mapped[int | None] = mapped_column(Integer)
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)


class ComplaintSerial(Base):
    """The last sequence number given per year: one row per year, incremented in the transaction that
    inserts the ticket, so serials have no gaps (a rolled-back ticket gives its number back) and two
    tickets created at once wait for each other's row lock instead of taking the same number."""

    __tablename__ = "complaint_serials"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ComplaintEvent(Base):
    """Every step of a ticket (received, assigned, escalated, resolved...), with its actor and time;
    append-only like the other logs (the migration's triggers refuse UPDATE and DELETE)."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))  # "user:7", "api:sms", "web", "system:escalation"
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ComplaintAttachment(Base):
    """A file kept with a ticket (a scanned letter): stored owner-only under [complaints] attachments_dir
    like recordings, named by its id; the original name kept for display only."""

    __tablename__ = "complaint_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))  # relative to the attachments directory
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)


# -- webhooks (events out, issue 15) -------------------------------------------------------------------------

WEBHOOK_DELIVERY_STATUSES = ("pending", "delivered", "dead")


class WebhookSubscription(Base):
    """A hospital system that wants events: where to POST them, which ones, the HMAC secret, and what more
    than ids it was granted (`scopes`, e.g. "clinical")."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))  # kept in clear: signing needs it; never shown again
    events: Mapped[list] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    scopes: Mapped[list] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)


class WebhookOutbox(Base):
    """An event to send, written in the transaction of the row that caused it (eventlog.py); the delivery
    worker turns it into one delivery per subscription and deletes it."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32))  # stable, public: receivers de-duplicate on it
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict] = mapped_column(JSON(), default=dict)  # ids and operational facts only
    clinical: Mapped[dict] = mapped_column(JSON(), default=dict)  # only for subscriptions granted "clinical"


class WebhookDelivery(Base):
    """One event for one subscription: the exact body sent (so a re-send is byte for byte the same), its
    attempts, and the claim of the worker sending it now (claimed_by + claimed_until, a lease)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (one_of("status", WEBHOOK_DELIVERY_STATUSES), Index(None, "status", "next_attempt_at"),
                      Index(None, "subscription_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


# -- text messages (issue 17; callcenter/sms/) -------------------------------------------------------------

TEXT_DIRECTIONS = ("in", "out")
# out: queued -> sent (the gateway took it) -> delivered / failed (its delivery report); dead after the
# last retry; suppressed when an opt-out or a gone appointment made it pointless before it left. in: received.
TEXT_STATUSES = ("queued", "sent", "delivered", "failed", "dead", "suppressed", "received")


class TextMessage(Base):
    """One text message, either way. An outgoing one is written in the transaction of what caused it (a
    reminder planned, an attempt that reached nobody, a keyword answered) and is the outbox row the SMS
    worker claims (claimed_by + claimed_until, a lease), sends and settles; an incoming one is kept on the
    patient's timeline with what it was taken for (`keyword`)."""

    __tablename__ = "text_messages"
    __table_args__ = (one_of("direction", TEXT_DIRECTIONS), one_of("status", TEXT_STATUSES),
                      Index(None, "status", "next_attempt_at"), Index(None, "patient_id", "created_at"),
                      Index(None, "e164", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3))
    patient_id: Mapped[int | None] = mapped_column(Integer)
    e164: Mapped[str] = mapped_column(String(20))
    # Why it was sent (reminder, tried_to_call, ticket_ack, ticket_result, reply) or "inbound".
    purpose: Mapped[str] = mapped_column(String(32))
    template: Mapped[str | None] = mapped_column(String(32))
    template_version: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16), default="en")
    body: Mapped[str] = mapped_column(Text)
    # What it is about: an appointment, a campaign target, a ticket.
    subject_kind: Mapped[str | None] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    # One text per cause (a second plan of the same reminders finds the first): e.g. "reminder:appointment:7".
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    campaign_kind: Mapped[str | None] = mapped_column(String(32))  # which do-not-call entries stop it
    send_window: Mapped[str | None] = mapped_column(String(11))  # "08:00-21:00" in the patient's zone, or any
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # in: what the text was taken for (confirm, cancel, stop, start, help, unknown, free_text, complaint).
    keyword: Mapped[str | None] = mapped_column(String(16))
    reply_to_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TextDeliveryReport(Base):
    """A delivery report the gateway sent for a text (Kannel's DLR: 1 delivered, 2 failed, 4 buffered, 8
    taken by the SMSC, 16 refused by the SMSC), every one kept."""

    __tablename__ = "text_delivery_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("text_messages.id", ondelete="CASCADE"),
                                            index=True)
    code: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# -- follow-up questionnaires (issue 16; callcenter/followup/) ---------------------------------------------

FOLLOWUP_QUESTION_TYPES = ("yes_no", "single_choice", "multiple_choice", "scale", "number", "date",
                           "free_text", "recorded")
# How an answer was given: an automated phone call, the agent-guided form on the console, a paper sheet typed
# in later; and who gave it into the system.
FOLLOWUP_CHANNELS = ("phone", "console", "paper")
FOLLOWUP_ANSWERED_BY = ("agent", "automated")

class MailOutbox(Base):
    """An email to a patient about their ticket (issue 17, mail/outbox.py): the acknowledgement of a ticket
    opened by email and the "answer is ready" note, written in the ticket's transaction; the outbox row the
    mail worker claims (claimed_by + claimed_until, a lease), sends over SMTP and settles."""

    __tablename__ = "mail_outbox"
    __table_args__ = (one_of("status", MAIL_STATUSES), Index(None, "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))   # ticket_ack, ticket_result
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)   # one email per cause
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)



class FollowUpQuestion(Base):
    """A question of the bank under its stable code: the type and unit never change under a code (answers
    stay comparable across questionnaires and studies); the wording may, each questionnaire version keeping
    the wording it was asked with."""

    __tablename__ = "followup_questions"
    __table_args__ = (one_of("type", FOLLOWUP_QUESTION_TYPES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(24))
    unit: Mapped[str | None] = mapped_column(String(32))
    definition: Mapped[dict] = mapped_column(JSON(), default=dict)  # the bank's current wording and limits
    bank_version: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FollowUpQuestionnaire(Base):
    __tablename__ = "followup_questionnaires"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    current_version: Mapped[str] = mapped_column(String(64))  # new responses are given in this one
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FollowUpQuestionnaireVersion(Base):
    """One version of a questionnaire, never changed once stored: its file text and its definition resolved
    from the bank (wording, choices, ranges, skip logic, red flags), which is what its answers mean."""

    __tablename__ = "followup_questionnaire_versions"
    __table_args__ = (UniqueConstraint("questionnaire_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("followup_questionnaires.id"))
    version: Mapped[str] = mapped_column(String(64))
    source_yaml: Mapped[str] = mapped_column(Text)
    definition: Mapped[dict] = mapped_column(JSON())
    review_status: Mapped[str] = mapped_column(String(64))
    loaded_from: Mapped[str | None] = mapped_column(String(500))
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    loaded_by_user_id: Mapped[int | None] = mapped_column(Integer)


class FollowUpResponse(Base):
    """One patient's filling of one questionnaire version (the answers so far drive its skip logic)."""

    __tablename__ = "followup_responses"
    # One console response per call: two "Start" clicks at once must not make two forms of one call (the
    # second is refused: followup/services.py). Phone responses are the flow's, paper ones have no call.
    __table_args__ = (one_of("channel", FOLLOWUP_CHANNELS),
                      Index("uq_followup_responses_console_call", "call_id", unique=True,
                            sqlite_where=text("channel = 'console'"),
                            postgresql_where=text("channel = 'console'")))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("followup_questionnaire_versions.id"))
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    study: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FollowUpAnswer(Base):
    """One answer: its normalised value (JSON), the version it was given in, how (channel), when, by whom
    (an agent, or the automated call) and on which call; the red flag it raised, if any."""

    __tablename__ = "followup_answers"
    __table_args__ = (one_of("channel", FOLLOWUP_CHANNELS), one_of("answered_by", FOLLOWUP_ANSWERED_BY),
                      UniqueConstraint("response_id", "question_code"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    response_id: Mapped[int] = mapped_column(BigId, ForeignKey("followup_responses.id"))
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("followup_questionnaire_versions.id"))
    question_code: Mapped[str] = mapped_column(String(64), index=True)
    value: Mapped[dict] = mapped_column(JSON())  # {"value": ...}: a bare JSON null or false is awkward in SQL
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
    answered_by: Mapped[str] = mapped_column(String(16))
    agent_user_id: Mapped[int | None] = mapped_column(Integer)
    # The authenticity report finds an automated follow-up's answers by its call.
    call_id: Mapped[str | None] = mapped_column(String(32), index=True)
    red_flag_disposition: Mapped[str | None] = mapped_column(String(64))
    red_flag_escalation: Mapped[str | None] = mapped_column(String(32))


# -- care plans and the follow-up desk (issue 16; callcenter/careplans/) -----------------------------------

CARE_PLAN_KINDS = ("chronic", "vip")
CARE_PLAN_CHANNELS = ("automated", "agent")
CARE_PLAN_STATUSES = ("active", "ended", "withdrawn")
# A follow-up a plan owes: open while pending (the desk's to call, or waiting for its due day), calling (a
# campaign target of the plan's campaign dials it) or escalated (to the plan's nurse after too many tries);
# else closed by its outcome, or withdrawn (the patient died, the plan ended).
CARE_FOLLOWUP_STATUSES = ("pending", "calling", "escalated", "completed", "unreachable", "refused",
                          "wrong_number", "withdrawn")
OPEN_CARE_FOLLOWUP_STATUSES = ("pending", "calling", "escalated")


class CarePlan(Base):
    """A chronic or VIP patient's long-term follow-up: what for (condition), from when to when, how often
    (an RFC 5545 RRULE read with dateutil, in the hospital's time zone), which questionnaire (a code of
    callcenter/followup), by an automated call (through the named campaign) or by an agent, and the nurse
    that missed follow-ups escalate to after `max_tries`."""

    __tablename__ = "care_plans"
    __table_args__ = (one_of("kind", CARE_PLAN_KINDS), one_of("channel", CARE_PLAN_CHANNELS),
                      one_of("status", CARE_PLAN_STATUSES), Index(None, "schedule", "starts_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="chronic")
    condition: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(80))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    schedule: Mapped[str] = mapped_column(String(200))      # an RRULE, e.g. FREQ=DAILY;INTERVAL=14
    questionnaire_code: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    campaign_name: Mapped[str | None] = mapped_column(String(64))   # the automated channel's campaign
    nurse_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The last due day follow-ups were made for: the next planning starts after it (the unique key of
    # care_plan_followups keeps a repeated or concurrent planning from making one twice anyway). Planning
    # joins its due days to the plans by (schedule, starts_on): that index.
    planned_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class CarePlanFollowUp(Base):
    """One follow-up a plan owes on one due day (the hospital's calendar): worked on the follow-up desk
    (agent channel, or once escalated) or dialed as the campaign target it points to (automated channel)."""

    __tablename__ = "care_plan_followups"
    __table_args__ = (one_of("status", CARE_FOLLOWUP_STATUSES), UniqueConstraint("plan_id", "due_on"),
                      Index(None, "status", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    due_on: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)     # moved by a reschedule or a retry
    status: Mapped[str] = mapped_column(String(16), default="pending")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    campaign_target_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_targets.id", ondelete="SET NULL"))
    last_call_id: Mapped[str | None] = mapped_column(String(32))
    escalated_to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CarePlanEvent(Base):
    """The plan's history on the patient's record: enrolment, each follow-up's outcome, escalations,
    reschedules, the end. Kinds and details carry ids and codes, never free text about the patient."""

    __tablename__ = "care_plan_events"
    __table_args__ = (Index(None, "patient_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(Integer)
    followup_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict] = mapped_column(JSON(), default=dict)

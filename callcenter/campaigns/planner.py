"""Planning: a campaign's target rule as one set-based SQL statement that upserts campaign_targets.

Idempotent: the unique key (campaign, patient, subject kind, subject id) makes a second plan find the rows
the first made (INSERT ... SELECT ... ON CONFLICT DO NOTHING, SQLite and PostgreSQL alike), so a plan can run
at every scheduled run and by hand without doubling anyone. No row goes through the ORM: 100k targets plan
in about a second.

A pending target whose subject is gone (appointment cancelled or already started, encounter removed) becomes
'expired'; a chronic-care target closed more than `days` ago is opened again (the patient is due again).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from ..db.models import (
    Appointment,
    CampaignAttempt,
    CampaignTarget,
    Condition,
    Encounter,
    Patient,
    PatientPhone,
)
from .schema import CampaignDef, TargetRule


@dataclass(frozen=True)
class PlanReport:
    campaign: str
    created: int      # new targets
    reopened: int     # chronic-care targets due again
    expired: int      # pending targets whose subject is gone
    pending: int      # targets waiting to be dialed after this plan
    no_phone: int     # new targets without any phone number (excluded)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def plan_targets(session: Session, campaign: CampaignDef, now: datetime, hospital_zone: str) -> PlanReport:
    rule = campaign.target
    subjects = _subjects(rule, now, ZoneInfo(hospital_zone), campaign.name)
    created, no_phone = _insert_missing(session, campaign.name, subjects, now)
    reopened = _reopen_chronic(session, campaign.name, rule, now) if rule.rule == "chronic_not_reached" else 0
    expired = _expire_gone(session, campaign.name, rule, now)
    pending = session.scalar(select(func.count()).select_from(CampaignTarget).where(
        CampaignTarget.campaign_name == campaign.name, CampaignTarget.status == "pending")) or 0
    return PlanReport(campaign.name, created, reopened, expired, pending, no_phone)


def plan_encounter(session: Session, campaign: CampaignDef, encounter_id: int, now: datetime) -> int:
    """A discharge just written (the HL7 feed, issue 15): its patient becomes a target now if the campaign's
    rule selects this encounter, without waiting for the next planning run. Returns the targets created."""
    if campaign.target.rule != "discharged":
        return 0
    subjects = _discharged(campaign.target, now).where(Encounter.id == encounter_id)
    created, _ = _insert_missing(session, campaign.name, subjects, now)
    return created


def target_subjects(session: Session, campaign: str, subjects: Select, now: datetime) -> tuple[int, int]:
    """Targets of `campaign` for subjects another package chose (care plans' due follow-ups, issue 16:
    subject kind 'care_followup'), written as the rules' are: the patient's primary phone, no one deceased
    or merged, nothing twice. (created, created without a phone)."""
    return _insert_missing(session, campaign, subjects, now)


# ---- who the rule selects: (patient_id, subject_kind, subject_id) ----

def _subjects(rule: TargetRule, now: datetime, hospital: ZoneInfo, campaign: str) -> Select:
    if rule.rule == "discharged":
        return _discharged(rule, now)
    if rule.rule == "appointments":
        return _appointments(rule, now, hospital)
    if rule.rule == "chronic_not_reached":
        return _chronic(rule, now, campaign)
    return _recent_visits(rule, now)


def _same_department(column, department: str | None):
    return func.lower(column) == department.lower() if department else literal(True)


def _discharged(rule: TargetRule, now: datetime) -> Select:
    since = now - timedelta(days=rule.within_days)
    return select(Encounter.patient_id, literal("encounter").label("subject_kind"),
                  Encounter.id.label("subject_id")).where(
        Encounter.kind == "admission", Encounter.discharged_at > since, Encounter.discharged_at <= now,
        _same_department(Encounter.department, rule.department))


def _appointments(rule: TargetRule, now: datetime, hospital: ZoneInfo) -> Select:
    """Appointments on the hospital's calendar day `days_ahead` from today, still to come."""
    day = now.astimezone(hospital).date() + timedelta(days=rule.days_ahead)
    start = datetime.combine(day, time(0), hospital).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), hospital).astimezone(UTC)
    return select(Appointment.patient_id, literal("appointment").label("subject_kind"),
                  Appointment.id.label("subject_id")).where(
        Appointment.status.in_(rule.statuses), Appointment.starts_at >= max(start, now),
        Appointment.starts_at < end, _same_department(Appointment.department, rule.department))


def _chronic(rule: TargetRule, now: datetime, campaign: str) -> Select:
    chronic = select(Condition.id).where(Condition.patient_id == Patient.id, Condition.chronic.is_(True))
    if rule.condition_code:
        chronic = chronic.where(Condition.code == rule.condition_code)
    return select(Patient.id.label("patient_id"), literal("patient").label("subject_kind"),
                  Patient.id.label("subject_id")).where(exists(chronic), ~_reached(Patient.id, campaign, now,
                                                                                    rule.days))


def _reached(patient_id, campaign: str, now: datetime, days: int):
    """A person answered a call of this campaign in the last `days` days."""
    return exists(select(CampaignAttempt.id).where(
        CampaignAttempt.patient_id == patient_id, CampaignAttempt.campaign_name == campaign,
        CampaignAttempt.result == "person", CampaignAttempt.started_at > now - timedelta(days=days)))


def _recent_visits(rule: TargetRule, now: datetime) -> Select:
    since = now - timedelta(days=rule.within_days)
    visit = and_(Encounter.kind == "visit", Encounter.started_at > since, Encounter.started_at <= now)
    stay = and_(Encounter.kind == "admission", Encounter.discharged_at > since,
                Encounter.discharged_at <= now)
    return select(Encounter.patient_id, literal("encounter").label("subject_kind"),
                  Encounter.id.label("subject_id")).where(
        or_(visit, stay), _same_department(Encounter.department, rule.department))


# ---- writing ----

def _primary_phone(patient_id):
    return (select(PatientPhone.e164).where(PatientPhone.patient_id == patient_id)
            .order_by(PatientPhone.is_primary.desc(), PatientPhone.id).limit(1).scalar_subquery())


def _insert_missing(session: Session, campaign: str, subjects: Select, now: datetime) -> tuple[int, int]:
    found = subjects.subquery("found")
    rows = select(found.c.patient_id, found.c.subject_kind, found.c.subject_id,
                  _primary_phone(found.c.patient_id).label("phone")).subquery("rows")
    new = select(
        literal(campaign), rows.c.patient_id, rows.c.phone, rows.c.subject_kind, rows.c.subject_id,
        case((rows.c.phone.is_(None), "excluded"), else_="pending"), literal(0),
        literal(now, CampaignTarget.next_attempt_at.type),
        literal({}, JSON()), literal(now, CampaignTarget.created_at.type),
    ).where(~_gone(rows.c.patient_id), ~exists(select(CampaignTarget.id).where(
        CampaignTarget.campaign_name == campaign, CampaignTarget.patient_id == rows.c.patient_id,
        CampaignTarget.subject_kind == rows.c.subject_kind, CampaignTarget.subject_id == rows.c.subject_id)))
    columns = ["campaign_name", "patient_id", "phone_e164", "subject_kind", "subject_id", "status",
               "attempts", "next_attempt_at", "outcome", "created_at"]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # NOT EXISTS keeps the common case cheap; ON CONFLICT covers a second planner running at the same time.
    statement = dialect.insert(CampaignTarget).from_select(columns, new).on_conflict_do_nothing()
    before = _count(session, campaign)
    session.execute(statement)
    # Counted, not rowcount: psycopg reports -1 for INSERT ... SELECT ... ON CONFLICT.
    created = _count(session, campaign) - before
    no_phone = session.scalar(select(func.count()).select_from(CampaignTarget).where(
        CampaignTarget.campaign_name == campaign, CampaignTarget.status == "excluded",
        CampaignTarget.created_at == now, CampaignTarget.phone_e164.is_(None))) or 0
    return created, no_phone


def _gone(patient_id):
    """A patient who died, or a record merged into another (the survivor is targeted): never a target."""
    return exists(select(Patient.id).where(Patient.id == patient_id, or_(
        Patient.deceased.is_(True), Patient.merged_into_id.is_not(None))))


def _count(session: Session, campaign: str) -> int:
    return session.scalar(select(func.count()).select_from(CampaignTarget).where(
        CampaignTarget.campaign_name == campaign)) or 0


def _reopen_chronic(session: Session, campaign: str, rule: TargetRule, now: datetime) -> int:
    """A chronic patient is called again `days` after the last attempt of a closed target."""
    result = session.execute(update(CampaignTarget).where(
        CampaignTarget.campaign_name == campaign, CampaignTarget.subject_kind == "patient",  # the rule's own
        CampaignTarget.status.in_(("completed", "failed", "expired")),
        CampaignTarget.last_attempt_at < now - timedelta(days=rule.days),
    ).values(status="pending", attempts=0, next_attempt_at=now, completed_at=None))
    return result.rowcount or 0


def _expire_gone(session: Session, campaign: str, rule: TargetRule, now: datetime) -> int:
    pending = and_(CampaignTarget.campaign_name == campaign, CampaignTarget.status == "pending")
    if rule.rule == "appointments":
        alive = exists(select(Appointment.id).where(
            Appointment.id == CampaignTarget.subject_id, Appointment.status.in_(rule.statuses),
            Appointment.starts_at > now))
        gone = and_(pending, CampaignTarget.subject_kind == "appointment", ~alive)
    elif rule.rule == "chronic_not_reached":
        return 0
    else:
        alive = exists(select(Encounter.id).where(Encounter.id == CampaignTarget.subject_id))
        gone = and_(pending, CampaignTarget.subject_kind == "encounter", ~alive)
    result = session.execute(update(CampaignTarget).where(gone).values(
        status="expired", outcome={"reason": "subject_gone"}, completed_at=now))
    return result.rowcount or 0

"""Care plans (enrolment, planning their follow-ups, escalation, history) and the follow-up desk's use cases.

One concept, one home: automated calls are what campaigns make. A plan on the automated channel names a
campaign (automated mode, its flow asks the questionnaire); each of its follow-ups, once due, becomes a target
of that campaign (subject kind 'care_followup', the follow-up's id) through the campaign planner's own
`target_subjects`, so the campaign's dialer, compliance rules (window, do-not-call, caps), claims and attempts
dial it like any other, and the plan reads the target's result back at its next planning. A plan on the agent
channel puts its follow-ups on the follow-up desk (the work list here), dialed through the console's
click-to-dial. There is no second dialer and no second attempt ledger.

A follow-up the patient was not reached for `max_tries` times (the desk's 'unreachable', the campaign's
attempts) escalates to the plan's nurse: it then shows on that nurse's desk list only.

A death (the hospital's feed, or 'deceased' on the desk, which records it as the feed would) withdraws every
open follow-up and ends every active plan of the patient, through the patient feed's `FollowUp` port
(`PatientFollowUps` wraps the campaigns' one).

Every read of patient data (work list, preview, history) writes its audit rows in the same transaction.
Logs name plans, follow-ups and patients by id only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Date, MetaData, String, Table, and_, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..campaigns.planner import target_subjects
from ..db.database import Database
from ..db.models import (
    OPEN_CARE_FOLLOWUP_STATUSES,
    CampaignTarget,
    CarePlan,
    CarePlanEvent,
    CarePlanFollowUp,
    Patient,
    PatientPhone,
    User,
)
from ..db.queries import AuditActor, add_audit_event, patient_summary
from ..db.types import UtcDateTime, utcnow
from . import schedule
from .exceptions import AlreadyClosed, AlreadyEnrolled, CarePlanError, CarePlanNotFound, NotYours

log = logging.getLogger(__name__)

SUBJECT_KIND = "care_followup"    # campaign_targets.subject_kind of a care plan's automated follow-up
OUTCOMES = ("completed", "unreachable", "refused", "wrong_number", "deceased")
RETRY_AFTER = timedelta(days=1)   # an unreachable patient is tried again the next day
LIST_LIMIT = 200
VIEWS = ("due_today", "overdue", "upcoming", "escalated", "all")


# ---- who asks ----

@dataclass(frozen=True)
class Viewer:
    """Who works the desk, as web/request.py's Reader sees them: role and user id (API clients: no role,
    everything). Agents see the agent channel's follow-ups not escalated; nurses those too, plus the ones
    escalated to them; supervisors and admins everything."""
    user_id: int | None
    role: str | None
    api_client: str | None = None
    api_client_id: int | None = None

    @property
    def actor(self) -> AuditActor:
        return AuditActor(self.user_id, None, self.api_client, self.api_client_id)

    @property
    def sees_all(self) -> bool:
        return self.role not in ("agent", "nurse")


def _visible(who: Viewer):
    """The SQL condition of the follow-ups `who` may see (on care_plan_followups joined to care_plans)."""
    if who.sees_all:
        return literal(True)
    desk_work = and_(CarePlan.channel == "agent", CarePlanFollowUp.status == "pending")
    if who.role == "nurse":
        return or_(desk_work, and_(CarePlanFollowUp.status == "escalated",
                                   CarePlanFollowUp.escalated_to_user_id == who.user_id))
    return desk_work


def _may_see(who: Viewer, plan: CarePlan, followup: CarePlanFollowUp) -> bool:
    if who.sees_all:
        return True
    if followup.status == "escalated":
        return who.role == "nurse" and followup.escalated_to_user_id == who.user_id
    return plan.channel == "agent" and followup.status == "pending"


# ---- enrolment ----

@dataclass(frozen=True)
class Enrolment:
    """A plan to enrol: the patient by id (the API) or by MRN (the console's form, where staff read it)."""
    patient_id: int | None
    condition: str
    department: str
    starts_on: date
    schedule: str
    questionnaire: str
    channel: str
    nurse_user_id: int
    ends_on: date | None = None
    kind: str = "chronic"
    campaign: str | None = None
    max_tries: int = 3
    mrn: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> Enrolment:
        """Each problem as CarePlanError "FIELD: what", so that a form shows it on its field."""
        by_mrn = body.get("patient_id") is None and body.get("mrn") not in (None, "")
        return cls(patient_id=None if by_mrn else _int(body, "patient_id"),
                   mrn=_text(body, "mrn", 64) if by_mrn else None, condition=_text(body, "condition", 200),
                   department=_text(body, "department", 80), starts_on=_date(body, "starts_on"),
                   schedule=_text(body, "schedule", 200), questionnaire=_text(body, "questionnaire", 64),
                   channel=_text(body, "channel", 16), nurse_user_id=_int(body, "nurse_user_id"),
                   ends_on=_date(body, "ends_on") if body.get("ends_on") else None,
                   kind=body.get("kind") or "chronic", campaign=body.get("campaign") or None,
                   max_tries=_int(body, "max_tries") if body.get("max_tries") not in (None, "") else 3)


def _int(body: dict, key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CarePlanError(f"{key}: required, a whole number")
    return value


def _text(body: dict, key: str, length: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > length:
        raise CarePlanError(f"{key}: required, 1 to {length} characters")
    return value.strip()


def _date(body: dict, key: str) -> date:
    value = body.get(key)
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CarePlanError(f"{key}: a date YYYY-MM-DD") from None


class Questionnaires(Protocol):
    """What enrolment and the preview need of followup/services.py's QuestionnaireService."""
    async def current(self, code: str): ...


class Campaigns(Protocol):
    """What enrolment needs of campaigns/services.py's CampaignService."""
    async def get(self, name: str): ...


class Dialer(Protocol):
    """calls/controls.py's CallControls: the console's click-to-dial."""
    async def dial(self, agent_number: str, body: dict) -> str: ...


@dataclass(frozen=True)
class PlanReport:
    plans: int          # active plans looked at
    created: int        # follow-ups made
    targets: int        # campaign targets made for automated follow-ups now due
    completed: int      # automated follow-ups whose target completed
    escalated: int      # follow-ups escalated to their nurse
    through: str        # the last due day planned (hospital calendar)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CarePlanService:
    db: Database
    hospital_zone: str
    questionnaires: Questionnaires
    campaigns: Campaigns
    followups: Any = None      # the patient feed's FollowUp port (PatientFollowUps), for 'deceased'
    dialer: Dialer | None = None
    clock: Callable[[], datetime] = utcnow
    _zone: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.hospital_zone or "UTC")

    # ---- plans ----

    async def enrol(self, enrolment: Enrolment, actor: AuditActor) -> int:
        rule = schedule.normalize(enrolment.schedule)
        await self._check_delivery(enrolment)
        plan_id = await self.db.run(self._enrol, enrolment, rule, actor)
        log.info("care plan %d enrolled patient %d", plan_id, enrolment.patient_id)
        return plan_id

    async def _check_delivery(self, enrolment: Enrolment) -> None:
        if enrolment.kind not in ("chronic", "vip"):
            raise CarePlanError("kind: 'chronic' or 'vip'")
        if not 1 <= enrolment.max_tries <= 20:
            raise CarePlanError("max_tries: from 1 to 20")
        if enrolment.ends_on and enrolment.ends_on < enrolment.starts_on:
            raise CarePlanError("ends_on: before starts_on")
        await self.questionnaires.current(enrolment.questionnaire)   # UnknownQuestionnaire: 404
        if enrolment.channel == "automated":
            if not enrolment.campaign:
                raise CarePlanError("campaign: the automated channel calls through a campaign; name it")
            campaign = await self.campaigns.get(enrolment.campaign)
            if campaign.mode != "automated":
                raise CarePlanError("campaign: the automated channel needs a campaign in automated mode")
        elif enrolment.channel != "agent":
            raise CarePlanError("channel: 'automated' or 'agent'")

    def _enrol(self, session: Session, e: Enrolment, rule: str, actor: AuditActor) -> int:
        # The patient's row locked before anything is read (a no-op UPDATE: the write lock on SQLite, the
        # row's on PostgreSQL), two enrolments at once go one after the other, the second seeing the first.
        session.execute(update(Patient).where(Patient.mrn == e.mrn if e.mrn is not None
                                              else Patient.id == e.patient_id).values(mrn=Patient.mrn),
                        execution_options={"synchronize_session": False})
        patient = (session.get(Patient, e.patient_id) if e.mrn is None
                   else session.scalar(select(Patient).where(Patient.mrn == e.mrn)))
        if patient is None or patient.deceased or patient.merged_into_id is not None:
            raise CarePlanNotFound(f"{'mrn' if e.mrn else 'patient_id'}: no such (living, unmerged) patient")
        nurse = session.get(User, e.nurse_user_id)
        if nurse is None or nurse.role != "nurse" or not nurse.active:
            raise CarePlanError("nurse_user_id: not an active nurse")
        if session.scalar(select(CarePlan.id).where(
                CarePlan.patient_id == patient.id, CarePlan.status == "active",
                func.lower(CarePlan.condition) == e.condition.lower(), CarePlan.schedule == rule,
                CarePlan.questionnaire_code == e.questionnaire, CarePlan.channel == e.channel).limit(1)):
            # The same plan again (a form sent twice, a second nurse) would call the patient twice as often.
            raise AlreadyEnrolled("condition: the patient already has an active care plan for this condition "
                                  "with the same schedule, questionnaire and channel")
        e = replace(e, patient_id=patient.id)
        plan = CarePlan(patient_id=e.patient_id, kind=e.kind, condition=e.condition, department=e.department,
                        starts_on=e.starts_on, ends_on=e.ends_on, schedule=rule,
                        questionnaire_code=e.questionnaire, channel=e.channel,
                        campaign_name=e.campaign if e.channel == "automated" else None,
                        nurse_user_id=e.nurse_user_id, max_tries=e.max_tries, status="active",
                        created_at=self.clock(), created_by_user_id=actor.user_id)
        session.add(plan)
        session.flush()
        _history(session, plan, "enrolled", self.clock(), actor.user_id,
                 detail={"schedule": rule, "channel": e.channel, "questionnaire": e.questionnaire})
        add_audit_event(session, "care_plan_enrolled", actor=actor, patient_id=e.patient_id,
                        detail={"plan_id": plan.id})
        return plan.id

    async def nurses(self) -> list[dict]:
        """The active nurses a plan can name as responsible (staff, no patient data)."""
        return await self.db.run(_nurses)

    async def end(self, plan_id: int, actor: AuditActor, reason: str = "ended") -> None:
        await self.db.run(self._end, plan_id, actor, reason)

    def _end(self, session: Session, plan_id: int, actor: AuditActor, reason: str) -> None:
        plan = session.get(CarePlan, plan_id)
        if plan is None:
            raise CarePlanNotFound("no such care plan")
        if plan.status != "active":
            raise AlreadyClosed("the care plan has ended")
        _end_plans(session, [plan], "ended", reason, self.clock(), actor.user_id)
        add_audit_event(session, "care_plan_ended", actor=actor, patient_id=plan.patient_id,
                        detail={"plan_id": plan.id, "reason": reason})

    # ---- planning ----

    async def plan(self, now: datetime | None = None, *, days_ahead: int = 0) -> PlanReport:
        """Follow-ups of every active plan due up to `days_ahead` days after today (hospital calendar), the
        automated ones now due handed to their campaign, and what the campaigns did to earlier ones read
        back. Idempotent: planning again makes nothing twice."""
        now = now or self.clock()
        through = schedule.hospital_today(now, self._zone) + timedelta(days=days_ahead)
        report = await self.db.run(self._plan, now, through)
        log.info("care plans planned through %s: %d follow-ups made, %d targets, %d escalated", through,
                 report.created, report.targets, report.escalated)
        return report

    def _plan(self, session: Session, now: datetime, through: date) -> PlanReport:
        completed, escalated = _read_back(session, now)
        plans, created = _make_followups(session, through, self._zone, now)
        targets = _hand_to_campaigns(session, now)
        return PlanReport(plans, created, targets, completed, escalated, through.isoformat())

    # ---- the desk ----

    async def work_list(self, who: Viewer, *, view: str = "due_today", department: str | None = None,
                        plan_id: int | None = None, now: datetime | None = None) -> list[dict]:
        if view not in VIEWS:
            raise CarePlanError(f"view: one of {', '.join(VIEWS)}")
        return await self.db.run(self._work_list, who, view, department, plan_id, now or self.clock())

    def _work_list(self, session: Session, who: Viewer, view: str, department: str | None,
                   plan_id: int | None, now: datetime) -> list[dict]:
        query = (select(CarePlanFollowUp, CarePlan, Patient)
                 .join(CarePlan, CarePlan.id == CarePlanFollowUp.plan_id)
                 .join(Patient, Patient.id == CarePlanFollowUp.patient_id)
                 .where(CarePlanFollowUp.status.in_(OPEN_CARE_FOLLOWUP_STATUSES), _visible(who),
                        *self._view(view, now))
                 .order_by(CarePlanFollowUp.due_at, CarePlanFollowUp.id).limit(LIST_LIMIT))
        if department:
            query = query.where(func.lower(CarePlan.department) == department.lower())
        if plan_id is not None:
            query = query.where(CarePlan.id == plan_id)
        rows = session.execute(query).all()
        for patient_id in sorted({p.id for _, _, p in rows}):
            add_audit_event(session, "care_followup_list", actor=who.actor, patient_id=patient_id,
                            detail={"view": view})
        return [_row(f, plan, patient, now, self._zone) for f, plan, patient in rows]

    def _view(self, view: str, now: datetime) -> tuple:
        today = schedule.hospital_today(now, self._zone)
        start, end = schedule.day_start(today, self._zone), schedule.day_start(today + timedelta(days=1),
                                                                               self._zone)
        at = CarePlanFollowUp.due_at
        return {"due_today": (at >= start, at < end), "overdue": (at < start,),
                "upcoming": (at >= end,), "escalated": (CarePlanFollowUp.status == "escalated",),
                "all": ()}[view]

    async def preview(self, followup_id: int, who: Viewer) -> dict:
        """What the desk shows before the call: the follow-up, its plan, the patient's summary (audited)
        and the questionnaire's questions in the patient's language."""
        found = await self.db.run(self._preview, followup_id, who)
        _, questionnaire = await self.questionnaires.current(found["plan"]["questionnaire"])
        language = found["patient"].get("language") or "en"
        found["questionnaire"] = _questions(questionnaire, language)
        return found

    def _preview(self, session: Session, followup_id: int, who: Viewer) -> dict:
        followup, plan = self._get(session, followup_id, who)
        summary = patient_summary(session, followup.patient_id, now=self.clock())
        add_audit_event(session, "care_followup_preview", actor=who.actor, patient_id=followup.patient_id,
                        detail={"followup_id": followup.id, "plan_id": plan.id})
        return {"followup": _followup_json(followup, self._zone), "plan": _plan_json(plan),
                "patient": summary}

    async def dial(self, followup_id: int, who: Viewer, agent_number: str) -> str:
        """The preview's Call button: the patient's primary phone dialed through the console's click-to-dial
        from the desk `agent_number` (the view checked it is the user's own)."""
        if self.dialer is None:
            raise CarePlanError("no telephony in this server")
        patient_id, phone = await self.db.run(self._phone, followup_id, who)
        call_id = await self.dialer.dial(agent_number, {"phone": phone, "patient_id": patient_id})
        await self.db.run(self._dialed, followup_id, call_id, who)
        log.info("follow-up %d: call %s placed from desk %s", followup_id, call_id, agent_number)
        return call_id

    def _phone(self, session: Session, followup_id: int, who: Viewer) -> tuple[int, str]:
        followup, _ = self._get(session, followup_id, who, open_only=True)
        phone = session.scalar(select(PatientPhone.e164).where(PatientPhone.patient_id == followup.patient_id)
                               .order_by(PatientPhone.is_primary.desc(), PatientPhone.id).limit(1))
        if phone is None:
            raise CarePlanError("the patient has no phone number")
        return followup.patient_id, phone

    def _dialed(self, session: Session, followup_id: int, call_id: str, who: Viewer) -> None:
        followup = session.get(CarePlanFollowUp, followup_id)
        followup.last_call_id = call_id
        _history(session, followup.plan_id, "dialed", self.clock(), who.user_id, followup,
                 detail={"call_id": call_id}, patient_id=followup.patient_id)

    async def record_outcome(self, followup_id: int, outcome: str, who: Viewer,
                             call_id: str | None = None) -> dict:
        if outcome not in OUTCOMES:
            raise CarePlanError(f"outcome: one of {', '.join(OUTCOMES)}")
        return await self.db.run(self._record_outcome, followup_id, outcome, who, call_id)

    def _record_outcome(self, session: Session, followup_id: int, outcome: str, who: Viewer,
                        call_id: str | None) -> dict:
        followup, plan = self._get(session, followup_id, who, open_only=True)
        now = self.clock()
        followup.last_outcome = outcome
        followup.last_call_id = call_id or followup.last_call_id
        if outcome == "deceased":
            self._deceased(session, followup.patient_id, now)
        elif outcome == "unreachable":
            _unreachable(session, followup, plan, now, who.user_id)
        else:
            _close(followup, outcome, now, who.user_id)
        _history(session, plan, "outcome", now, who.user_id, followup,
                 detail={"outcome": outcome, "status": followup.status, "call_id": followup.last_call_id})
        add_audit_event(session, "care_followup_outcome", actor=who.actor, patient_id=followup.patient_id,
                        call_id=call_id, detail={"followup_id": followup.id, "outcome": outcome})
        return _followup_json(followup, self._zone)

    def _deceased(self, session: Session, patient_id: int, now: datetime) -> None:
        """Recorded on the patient as the hospital's feed records a death, then withdrawn through the same
        port the feed calls (campaign targets, care plans), so both ways of learning it do the same."""
        patient = session.get(Patient, patient_id)
        if not patient.deceased:
            patient.deceased, patient.deceased_at = True, now
        if self.followups is not None:
            self.followups.withdraw_patient(session, patient_id, "deceased", now)
        else:
            withdraw_patient_plans(session, patient_id, "deceased", now)

    async def reschedule(self, followup_id: int, when: datetime, who: Viewer) -> dict:
        if when.tzinfo is None:
            raise CarePlanError("when: a time with its UTC offset")
        return await self.db.run(self._reschedule, followup_id, when, who)

    def _reschedule(self, session: Session, followup_id: int, when: datetime, who: Viewer) -> dict:
        followup, plan = self._get(session, followup_id, who, open_only=True)
        before = followup.due_at
        followup.due_at = when
        if followup.campaign_target_id is not None:
            session.execute(update(CampaignTarget).where(
                CampaignTarget.id == followup.campaign_target_id, CampaignTarget.status == "pending",
            ).values(next_attempt_at=when))
        _history(session, plan, "rescheduled", self.clock(), who.user_id, followup,
                 detail={"from": before.isoformat(), "to": when.isoformat()})
        add_audit_event(session, "care_followup_rescheduled", actor=who.actor, patient_id=followup.patient_id,
                        detail={"followup_id": followup.id})
        return _followup_json(followup, self._zone)

    def _get(self, session: Session, followup_id: int, who: Viewer,
             open_only: bool = False) -> tuple[CarePlanFollowUp, CarePlan]:
        followup = session.get(CarePlanFollowUp, followup_id)
        plan = followup and session.get(CarePlan, followup.plan_id)
        if followup is None or plan is None:
            raise CarePlanNotFound("no such follow-up")
        if open_only and followup.status not in OPEN_CARE_FOLLOWUP_STATUSES:
            raise AlreadyClosed(f"the follow-up is {followup.status}")
        if not _may_see(who, plan, followup):
            raise NotYours("this follow-up is not on your desk's list")
        return followup, plan

    # ---- the patient record ----

    async def history(self, patient_id: int, who: Viewer) -> dict:
        """The patient's plans and their history (an audited read of the patient record)."""
        return await self.db.run(self._history, patient_id, who)

    def _history(self, session: Session, patient_id: int, who: Viewer) -> dict:
        if session.get(Patient, patient_id) is None:
            raise CarePlanNotFound("no such patient")
        plans = session.scalars(select(CarePlan).where(CarePlan.patient_id == patient_id)
                                .order_by(CarePlan.id)).all()
        events = session.scalars(select(CarePlanEvent).where(CarePlanEvent.patient_id == patient_id)
                                 .order_by(CarePlanEvent.at, CarePlanEvent.id)).all()
        add_audit_event(session, "care_plan_history", actor=who.actor, patient_id=patient_id)
        return {"patient_id": patient_id, "plans": [_plan_json(p) for p in plans],
                "events": [_event_json(e) for e in events]}


def _nurses(session: Session) -> list[dict]:
    rows = session.scalars(select(User).where(User.role == "nurse", User.active.is_(True))
                           .order_by(User.display_name, User.id)).all()
    return [{"id": u.id, "name": u.display_name or u.username} for u in rows]


# ---- planning, set-based where it counts (100k plans in seconds: scripts/bench-careplans) ----

def _make_followups(session: Session, through: date, zone: ZoneInfo, now: datetime) -> tuple[int, int]:
    """Set-based: the due days are computed once per distinct (schedule, start, end, planned-through) in
    Python (dateutil), a few thousand rows for 100k plans, written to a temporary table and joined to the
    plans in one INSERT ... SELECT; no follow-up row passes through Python."""
    due = and_(CarePlan.status == "active", CarePlan.starts_on <= through,
               or_(CarePlan.planned_through.is_(None), CarePlan.planned_through < through))
    living = select(Patient.id).where(Patient.id == CarePlan.patient_id, Patient.deceased.is_(False),
                                      Patient.merged_into_id.is_(None)).exists()
    # The plans counted in the same scan that finds their distinct keys.
    keys = session.execute(select(CarePlan.schedule, CarePlan.starts_on, CarePlan.ends_on,
                                  CarePlan.planned_through, func.count()).where(due, living).group_by(
        CarePlan.schedule, CarePlan.starts_on, CarePlan.ends_on, CarePlan.planned_through)).all()
    days = [{"schedule": rule, "starts_on": starts, "ends_on": ends or _NONE, "after": after or _NONE,
             "due_on": day, "due_at": schedule.due_at(day, zone)}
            for rule, starts, ends, after, _ in keys
            for day in schedule.due_days(rule, starts, after, through, ends)]
    plans = sum(count for *_, count in keys)
    created = _insert_due(session, days, (CarePlan.status == "active", living), now) if days else 0
    session.execute(update(CarePlan).where(due, living).values(planned_through=through),
                    execution_options={"synchronize_session": False})
    return plans, created


_NONE = date(1, 1, 1)   # stands for NULL (no end, never planned) in the join: NULL never equals NULL
# The due days of one planning, a temporary table of this transaction's connection (dropped at its end; a
# rolled-back transaction takes it back on both databases). Filled with one executemany: a VALUES list of
# thousands of rows cost more CPU to build and compile in SQLAlchemy (0.36 s for 2,000 rows) than the rest
# of the planning in Python together.
_DUE_DAYS = Table("care_plan_due_days", MetaData(), Column("schedule", String(200)),
                  Column("starts_on", Date), Column("ends_on", Date), Column("after", Date),
                  Column("due_on", Date), Column("due_at", UtcDateTime), prefixes=["TEMPORARY"])


def _insert_due(session: Session, days: list[dict], where: tuple, now: datetime) -> int:
    connection = session.connection()
    _DUE_DAYS.drop(connection, checkfirst=True)   # one left by a planning that failed before its end
    _DUE_DAYS.create(connection)
    session.execute(_DUE_DAYS.insert(), days)
    table, plan = _DUE_DAYS, CarePlan
    rows = select(plan.id, plan.patient_id, table.c.due_on, table.c.due_at, literal("pending"), literal(0),
                  literal(now, UtcDateTime)).select_from(table).join(plan, and_(
                      plan.schedule == table.c.schedule, plan.starts_on == table.c.starts_on,
                      func.coalesce(plan.ends_on, _NONE) == table.c.ends_on,
                      func.coalesce(plan.planned_through, _NONE) == table.c.after)).where(*where)
    # In the unique key's order: its B-tree grows at the end instead of being split all over.
    rows = rows.order_by(plan.id, table.c.due_on)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # The unique (plan, due day) key: a planner running at the same time makes nothing twice either.
    statement = dialect.insert(CarePlanFollowUp).from_select(
        ["plan_id", "patient_id", "due_on", "due_at", "status", "tries", "created_at"], rows
    ).on_conflict_do_nothing(index_elements=["plan_id", "due_on"])
    before = _count_followups(session)
    done = session.execute(statement).rowcount
    _DUE_DAYS.drop(connection)
    # Python's sqlite3 and psycopg report -1 for an INSERT ... SELECT that ends ON CONFLICT.
    return done if done is not None and done >= 0 else _count_followups(session) - before


def _count_followups(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CarePlanFollowUp)) or 0


def _hand_to_campaigns(session: Session, now: datetime) -> int:
    """Automated follow-ups now due become targets of their plan's campaign, then 'calling'."""
    waiting = and_(CarePlanFollowUp.status == "pending", CarePlanFollowUp.campaign_target_id.is_(None),
                   CarePlanFollowUp.due_at <= now, CarePlan.channel == "automated")
    campaigns = session.scalars(select(CarePlan.campaign_name).join(
        CarePlanFollowUp, CarePlanFollowUp.plan_id == CarePlan.id).where(waiting).distinct()).all()
    made = 0
    for campaign in campaigns:
        subjects = (select(CarePlanFollowUp.patient_id, literal(SUBJECT_KIND).label("subject_kind"),
                           CarePlanFollowUp.id.label("subject_id"))
                    .join(CarePlan, CarePlan.id == CarePlanFollowUp.plan_id)
                    .where(waiting, CarePlan.campaign_name == campaign))
        made += target_subjects(session, campaign, subjects, now)[0]
    target = (select(CampaignTarget.id).where(CampaignTarget.subject_kind == SUBJECT_KIND,
                                              CampaignTarget.subject_id == CarePlanFollowUp.id,
                                              CampaignTarget.patient_id == CarePlanFollowUp.patient_id)
              .limit(1).scalar_subquery())
    automated = select(CarePlan.id).where(CarePlan.channel == "automated")
    session.execute(update(CarePlanFollowUp).where(
        CarePlanFollowUp.status == "pending", CarePlanFollowUp.campaign_target_id.is_(None),
        CarePlanFollowUp.due_at <= now, CarePlanFollowUp.plan_id.in_(automated),
        target.is_not(None)).values(campaign_target_id=target, status="calling"),
        execution_options={"synchronize_session": False})
    return made


def _read_back(session: Session, now: datetime) -> tuple[int, int]:
    """What the campaigns made of the automated follow-ups being called: completed, or the patient not
    reached (attempts used up, or as many tries as the plan allows): escalated to the plan's nurse."""
    t, f = CampaignTarget, CarePlanFollowUp
    rows = session.execute(select(f, CarePlan, t.status, t.attempts, t.outcome)
                           .join(CarePlan, CarePlan.id == f.plan_id).join(t, t.id == f.campaign_target_id)
                           .where(f.status == "calling", or_(
                               t.status.not_in(("pending", "in_progress")),
                               and_(t.status == "pending", t.attempts >= CarePlan.max_tries)))).all()
    completed = escalated = 0
    for followup, plan, status, attempts, outcome in rows:
        followup.tries = attempts
        if status == "completed":
            _close(followup, "completed", now, None)
            completed += 1
        elif status == "opted_out":
            _close(followup, "refused", now, None)
        elif (outcome or {}).get("reason") == "deceased":
            _close(followup, "withdrawn", now, None)
        else:
            _expire_target(session, followup.campaign_target_id, now)
            _escalate(session, followup, plan, now, None)
            escalated += 1
        _history(session, plan, "campaign_result", now, None, followup,
                 detail={"target_status": status, "attempts": attempts, "status": followup.status})
    return completed, escalated


def _expire_target(session: Session, target_id: int, now: datetime) -> None:
    session.execute(update(CampaignTarget).where(CampaignTarget.id == target_id,
                                                 CampaignTarget.status == "pending").values(
        status="expired", outcome={"reason": "escalated_to_nurse"}, completed_at=now))


# ---- one follow-up's moves ----

def _unreachable(session: Session, followup: CarePlanFollowUp, plan: CarePlan, now: datetime,
                 user_id: int | None) -> None:
    followup.tries += 1
    if followup.status == "escalated":
        _close(followup, "unreachable", now, user_id)   # the nurse could not reach them either
    elif followup.tries >= plan.max_tries:
        _escalate(session, followup, plan, now, user_id)
    else:
        followup.due_at = now + RETRY_AFTER


def _escalate(session: Session, followup: CarePlanFollowUp, plan: CarePlan, now: datetime,
              user_id: int | None) -> None:
    followup.status, followup.escalated_at = "escalated", now
    followup.escalated_to_user_id = plan.nurse_user_id
    _history(session, plan, "escalated", now, user_id, followup,
             detail={"tries": followup.tries, "nurse_user_id": plan.nurse_user_id})
    log.info("follow-up %d escalated to nurse user %d after %d tries", followup.id, plan.nurse_user_id,
             followup.tries)


def _close(followup: CarePlanFollowUp, status: str, now: datetime, user_id: int | None) -> None:
    followup.status, followup.closed_at, followup.closed_by_user_id = status, now, user_id


def withdraw_patient_plans(session: Session, patient_id: int, reason: str, now: datetime) -> int:
    """Every open follow-up of the patient withdrawn and every active plan ended: the follow-ups the
    campaigns are calling have their targets withdrawn by the campaigns' own port."""
    plans = session.scalars(select(CarePlan).where(CarePlan.patient_id == patient_id,
                                                   CarePlan.status == "active")).all()
    # Through the patient's plans (indexed) and the (plan, due day) key: no index on the follow-ups' patient
    # to keep up at every planning.
    theirs = select(CarePlan.id).where(CarePlan.patient_id == patient_id)
    withdrawn = _withdraw_open(session, (CarePlanFollowUp.plan_id.in_(theirs),), reason, now)
    _end_plans(session, plans, "withdrawn", reason, now, None, withdraw=False)
    return withdrawn


def _withdraw_open(session: Session, where: tuple, reason: str, now: datetime) -> int:
    open_ = session.scalars(select(CarePlanFollowUp).where(
        CarePlanFollowUp.status.in_(OPEN_CARE_FOLLOWUP_STATUSES), *where)).all()
    for followup in open_:
        _close(followup, "withdrawn", now, None)
        followup.last_outcome = followup.last_outcome or reason[:16]
        if followup.campaign_target_id is not None:
            _expire_target(session, followup.campaign_target_id, now)
    return len(open_)


def _end_plans(session: Session, plans: Iterable[CarePlan], status: str, reason: str, now: datetime,
               user_id: int | None, withdraw: bool = True) -> None:
    for plan in plans:
        if withdraw:
            _withdraw_open(session, (CarePlanFollowUp.plan_id == plan.id,), reason, now)
        plan.status, plan.ended_at, plan.end_reason = status, now, reason[:32]
        _history(session, plan, status, now, user_id, detail={"reason": reason})


class PatientFollowUps:
    """The patient feed's `FollowUp` port (patients/services.py) for campaigns and care plans together:
    discharges and cancelled stays are the campaigns' (campaigns/followup.py); a death withdraws the
    campaigns' targets and the care plans' follow-ups alike."""

    def __init__(self, campaigns) -> None:
        self._campaigns = campaigns

    def discharged(self, session: Session, encounter_id: int, now: datetime) -> int:
        return self._campaigns.discharged(session, encounter_id, now)

    def withdraw_encounter(self, session: Session, encounter_id: int, reason: str, now: datetime) -> int:
        return self._campaigns.withdraw_encounter(session, encounter_id, reason, now)

    def withdraw_patient(self, session: Session, patient_id: int, reason: str, now: datetime) -> int:
        targets = self._campaigns.withdraw_patient(session, patient_id, reason, now)
        return targets + withdraw_patient_plans(session, patient_id, reason, now)


# ---- history and JSON ----

def _history(session: Session, plan: CarePlan | int, kind: str, now: datetime, user_id: int | None,
             followup: CarePlanFollowUp | None = None, *, detail: dict | None = None,
             patient_id: int | None = None) -> None:
    plan_id = plan if isinstance(plan, int) else plan.id
    patient_id = patient_id if patient_id is not None else plan.patient_id
    session.add(CarePlanEvent(plan_id=plan_id, patient_id=patient_id, followup_id=followup and followup.id,
                              at=now, kind=kind, actor_user_id=user_id, detail=detail or {}))


def _row(followup: CarePlanFollowUp, plan: CarePlan, patient: Patient, now: datetime,
         zone: ZoneInfo) -> dict:
    return {**_followup_json(followup, zone), "overdue": followup.due_at < now,
            "patient": {"id": patient.id, "mrn": patient.mrn, "name": patient.full_name},
            "plan": {"id": plan.id, "condition": plan.condition, "department": plan.department,
                     "channel": plan.channel, "kind": plan.kind}}


def _followup_json(f: CarePlanFollowUp, zone: ZoneInfo) -> dict:
    return {"id": f.id, "plan_id": f.plan_id, "patient_id": f.patient_id, "due_on": f.due_on.isoformat(),
            "due_at": f.due_at.isoformat(), "due_local": f.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "status": f.status, "tries": f.tries, "last_outcome": f.last_outcome,
            "last_call_id": f.last_call_id, "escalated_to_user_id": f.escalated_to_user_id}


def _plan_json(p: CarePlan) -> dict:
    return {"id": p.id, "patient_id": p.patient_id, "kind": p.kind, "condition": p.condition,
            "department": p.department, "starts_on": p.starts_on.isoformat(),
            "ends_on": p.ends_on.isoformat() if p.ends_on else None, "schedule": p.schedule,
            "questionnaire": p.questionnaire_code, "channel": p.channel, "campaign": p.campaign_name,
            "nurse_user_id": p.nurse_user_id, "max_tries": p.max_tries, "status": p.status,
            "end_reason": p.end_reason}


def _event_json(e: CarePlanEvent) -> dict:
    return {"plan_id": e.plan_id, "followup_id": e.followup_id, "at": e.at.isoformat(), "kind": e.kind,
            "actor_user_id": e.actor_user_id, "detail": e.detail}


def _questions(questionnaire, language: str) -> dict:
    def text(texts) -> str:
        return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
    return {"id": questionnaire.id, "version": questionnaire.version, "title": text(questionnaire.title),
            "review_status": questionnaire.review_status,
            "questions": [{"code": i.code, "type": i.question.type, "text": text(i.question.text)}
                          for i in questionnaire.items]}

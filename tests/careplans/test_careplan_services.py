"""Care plans on SQLite and PostgreSQL with a controlled clock: enrolment, planning when due (idempotent, the
calendar moving on month by month), the automated channel through campaign targets, escalation after N tries,
the desk's outcomes, reschedule and visibility, deaths, and the audited history."""
from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from callcenter.careplans.exceptions import AlreadyClosed, CarePlanError, CarePlanNotFound, NotYours
from callcenter.careplans.services import SUBJECT_KIND
from callcenter.db.models import (
    AuditEvent,
    CampaignTarget,
    CarePlan,
    CarePlanEvent,
    CarePlanFollowUp,
    Patient,
)
from callcenter.db.queries import AuditActor
from callcenter.followup.exceptions import UnknownQuestionnaire

from ..campaigns.conftest import add_discharge
from .conftest import CAMPAIGN, NOW, add_patient, enrolment

pytestmark = pytest.mark.usefixtures("staff")


def followups(db, plan_id: int | None = None) -> list[CarePlanFollowUp]:
    with db.session() as session:
        query = select(CarePlanFollowUp).order_by(CarePlanFollowUp.due_on)
        if plan_id is not None:
            query = query.where(CarePlanFollowUp.plan_id == plan_id)
        return list(session.scalars(query))


def patient(db, n: int = 1, **options) -> int:
    with db.session() as session:
        return add_patient(session, n, **options).id


def audits(db, action: str) -> list[AuditEvent]:
    with db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def enrol(careplans, staff, patient_id: int, **options) -> int:
    return await careplans.enrol(enrolment(patient_id, staff["nurse"], **options),
                                 AuditActor(staff["supervisor"]))


# ---- enrolment ----

async def test_given_a_patient_when_enrolled_then_the_plan_its_history_and_audit_row(db, careplans, staff):
    plan_id = await enrol(careplans, staff, patient(db), schedule="every 14 days")

    with db.session() as session:
        plan = session.get(CarePlan, plan_id)
        [event] = session.scalars(select(CarePlanEvent)).all()
    assert plan.schedule == "FREQ=DAILY;INTERVAL=14" and plan.status == "active"
    assert event.kind == "enrolled" and event.detail["questionnaire"] == "hypertension"
    assert [a.patient_id for a in audits(db, "care_plan_enrolled")] == [plan.patient_id]


@pytest.mark.parametrize(("changes", "error", "says"), [
    ({"questionnaire": "no_such_form"}, UnknownQuestionnaire, "no_such_form"),
    ({"channel": "automated"}, CarePlanError, "name it"),
    ({"channel": "fax"}, CarePlanError, "'automated' or 'agent'"),
    ({"schedule": "FREQ=DAILY;COUNT=2"}, CarePlanError, "COUNT"),
    ({"ends_on": date(2026, 1, 1)}, CarePlanError, "before starts_on"),
    ({"max_tries": 0}, CarePlanError, "max_tries")])
async def test_given_a_bad_enrolment_when_enrolled_then_refused_and_nothing_stored(
        db, careplans, staff, changes, error, says):
    with pytest.raises(error) as caught:
        await enrol(careplans, staff, patient(db), **changes)

    assert says in str(caught.value)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(CarePlan)) == 0


async def test_given_the_same_enrolment_sent_twice_at_once_then_one_plan_and_one_refusal(
        db, careplans, staff):
    patient_id = patient(db)
    results = await asyncio.gather(enrol(careplans, staff, patient_id), enrol(careplans, staff, patient_id),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["AlreadyEnrolled", "int"]
    with db.session() as session:
        assert len(session.scalars(select(CarePlan)).all()) == 1


async def test_given_an_agent_named_as_nurse_when_enrolled_then_refused(db, careplans, staff):
    with pytest.raises(CarePlanError, match="not an active nurse"):
        await careplans.enrol(enrolment(patient(db), staff["agent"]), AuditActor(staff["supervisor"]))


# ---- planning ----

async def test_given_plans_when_planned_twice_then_each_follow_up_is_made_once(db, careplans, staff):
    await enrol(careplans, staff, patient(db, 1), schedule="every 14 days", starts_on=date(2026, 11, 3))
    await enrol(careplans, staff, patient(db, 2), schedule="monthly", starts_on=date(2026, 11, 24))

    first = await careplans.plan(days_ahead=30)
    second = await careplans.plan(days_ahead=30)
    with db.session() as session:   # even with the plans' bookmark put back: the unique key holds
        for plan in session.scalars(select(CarePlan)):
            plan.planned_through = None
    third = await careplans.plan(days_ahead=30)

    assert (first.plans, first.created) == (2, 6)   # Nov 3, 17, Dec 1, 15 (through Dec 24); Nov 24, Dec 24
    assert (second.plans, second.created) == (0, 0)
    assert (third.plans, third.created) == (2, 0)
    assert [f.due_on for f in followups(db)] == [date(2026, 11, 3), date(2026, 11, 17), date(2026, 11, 24),
                                                 date(2026, 12, 1), date(2026, 12, 15), date(2026, 12, 24)]


async def test_given_a_monthly_plan_from_the_31st_when_the_clock_moves_month_by_month_then_one_per_month(
        db, careplans, staff, clock):
    plan_id = await enrol(careplans, staff, patient(db), starts_on=date(2027, 1, 31))
    clock.now = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)
    made = []
    for _ in range(9):                      # the 15th of January to September
        made.append((await careplans.plan()).created)
        clock.now = (clock.now.replace(day=1) + timedelta(days=32)).replace(day=15)
    clock.now = datetime(2027, 9, 30, 3, 30, tzinfo=UTC)    # the 30th in UTC, still the 29th in New York
    made.append((await careplans.plan()).created)
    clock.now = datetime(2027, 9, 30, 13, 0, tzinfo=UTC)
    made.append((await careplans.plan()).created)

    assert made == [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1]
    assert [f.due_on for f in followups(db, plan_id)] == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31),
        date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31), date(2027, 9, 30)]


async def test_given_a_daily_plan_over_the_dst_change_when_planned_then_due_at_0900_new_york_each_day(
        db, careplans, staff, clock):
    plan_id = await enrol(careplans, staff, patient(db), schedule="FREQ=DAILY", starts_on=date(2027, 3, 13))
    clock.now = datetime(2027, 3, 13, 12, 0, tzinfo=UTC)

    await careplans.plan(days_ahead=1)

    due = [f.due_at for f in followups(db, plan_id)]
    assert due == [datetime(2027, 3, 13, 14, 0, tzinfo=UTC), datetime(2027, 3, 14, 13, 0, tzinfo=UTC)]


async def test_given_a_plan_that_ends_when_planned_past_its_end_then_nothing_after_it(db, careplans, staff):
    await enrol(careplans, staff, patient(db), schedule="FREQ=WEEKLY", starts_on=date(2026, 11, 24),
                ends_on=date(2026, 12, 8))

    await careplans.plan(days_ahead=60)

    assert [f.due_on for f in followups(db)] == [date(2026, 11, 24), date(2026, 12, 1), date(2026, 12, 8)]


async def test_given_a_deceased_patient_when_planned_then_no_follow_up(db, careplans, staff):
    patient_id = patient(db)
    await enrol(careplans, staff, patient_id)
    with db.session() as session:
        session.get(Patient, patient_id).deceased = True

    assert (await careplans.plan(days_ahead=30)).created == 0


# ---- the agent channel on the desk ----

async def test_given_the_desk_when_listed_then_due_today_overdue_by_department_and_plan_audited(
        db, careplans, staff, viewers):
    first = await enrol(careplans, staff, patient(db, 1), starts_on=date(2026, 11, 24))
    await enrol(careplans, staff, patient(db, 2), starts_on=date(2026, 10, 20))     # Oct 20, then Nov 20
    await enrol(careplans, staff, patient(db, 3), department="Surgery")
    await careplans.plan()

    today = await careplans.work_list(viewers["agent"], view="due_today")
    overdue = await careplans.work_list(viewers["agent"], view="overdue")
    surgery = await careplans.work_list(viewers["agent"], view="all", department="surgery")
    by_plan = await careplans.work_list(viewers["agent"], view="all", plan_id=first)

    assert sorted(r["patient"]["id"] for r in today) == [1, 3]
    assert [(r["patient"]["id"], r["due_on"]) for r in overdue] == [(2, "2026-10-20"), (2, "2026-11-20")]
    assert [r["plan"]["department"] for r in surgery] == ["Surgery"]
    assert [r["plan"]["id"] for r in by_plan] == [first]
    assert today[0]["patient"]["name"].startswith("Test Patient")
    listed = audits(db, "care_followup_list")
    assert {(a.patient_id, a.actor_user_id) for a in listed} == {(1, staff["agent"]), (2, staff["agent"]),
                                                                 (3, staff["agent"])}


async def test_given_an_unreachable_patient_when_tried_max_times_then_escalated_to_the_nurse_only(
        db, careplans, staff, viewers, clock):
    await enrol(careplans, staff, patient(db), max_tries=2)
    await careplans.plan()
    [row] = await careplans.work_list(viewers["agent"])

    first = await careplans.record_outcome(row["id"], "unreachable", viewers["agent"])
    clock.advance(days=1)
    second = await careplans.record_outcome(row["id"], "unreachable", viewers["agent"])

    assert first["status"] == "pending" and first["tries"] == 1
    assert datetime.fromisoformat(first["due_at"]) == NOW + timedelta(days=1)
    assert second["status"] == "escalated" and second["escalated_to_user_id"] == staff["nurse"]
    assert await careplans.work_list(viewers["agent"], view="all") == []
    assert await careplans.work_list(viewers["nurse2"], view="all") == []
    [escalated] = await careplans.work_list(viewers["nurse"], view="escalated")
    assert escalated["id"] == row["id"]
    with pytest.raises(NotYours):
        await careplans.record_outcome(row["id"], "completed", viewers["agent"])
    done = await careplans.record_outcome(row["id"], "completed", viewers["nurse"], call_id="c-77")
    assert done["status"] == "completed" and done["last_call_id"] == "c-77"
    with pytest.raises(AlreadyClosed):
        await careplans.record_outcome(row["id"], "refused", viewers["nurse"])
    kinds = [e["kind"] for e in (await careplans.history(1, viewers["nurse"]))["events"]]
    assert kinds == ["enrolled", "outcome", "escalated", "outcome", "outcome"]


@pytest.mark.parametrize("outcome", ["completed", "refused", "wrong_number"])
async def test_given_a_follow_up_when_an_outcome_is_recorded_then_it_is_closed_with_it(
        db, careplans, staff, viewers, outcome):
    await enrol(careplans, staff, patient(db))
    await careplans.plan()
    [row] = await careplans.work_list(viewers["agent"])

    result = await careplans.record_outcome(row["id"], outcome, viewers["agent"])

    assert result["status"] == outcome and result["last_outcome"] == outcome
    assert await careplans.work_list(viewers["agent"], view="all") == []
    with pytest.raises(CarePlanError, match="outcome: one of"):
        await careplans.record_outcome(row["id"], "bored", viewers["agent"])


async def test_given_a_follow_up_when_rescheduled_then_it_moves_to_that_day(db, careplans, staff, viewers):
    await enrol(careplans, staff, patient(db))
    await careplans.plan()
    [row] = await careplans.work_list(viewers["agent"])
    later = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)

    moved = await careplans.reschedule(row["id"], later, viewers["agent"])

    assert datetime.fromisoformat(moved["due_at"]) == later and moved["due_local"] == "2026-11-27 15:00"
    assert await careplans.work_list(viewers["agent"]) == []
    [upcoming] = await careplans.work_list(viewers["agent"], view="upcoming")
    assert upcoming["id"] == row["id"]
    with pytest.raises(CarePlanError, match="UTC offset"):
        await careplans.reschedule(row["id"], datetime(2026, 11, 28, 9, 0), viewers["agent"])


async def test_given_a_follow_up_when_previewed_then_summary_and_questions_in_the_patients_language_audited(
        db, careplans, staff, viewers):
    patient_id = patient(db, language="es")
    await enrol(careplans, staff, patient_id)
    await careplans.plan()
    [row] = await careplans.work_list(viewers["agent"])

    shown = await careplans.preview(row["id"], viewers["agent"])

    assert shown["patient"]["id"] == patient_id and shown["patient"]["phones"][0]["e164"] == "+15550000001"
    assert shown["questionnaire"]["id"] == "hypertension" and shown["questionnaire"]["questions"]
    assert shown["plan"]["condition"] == "Hypertension"
    [audit] = audits(db, "care_followup_preview")
    assert (audit.patient_id, audit.actor_user_id) == (patient_id, staff["agent"])
    with pytest.raises(CarePlanNotFound):
        await careplans.preview(999, viewers["agent"])


# ---- deaths ----

async def test_given_deceased_on_the_desk_then_every_pending_follow_up_and_campaign_target_is_withdrawn(
        db, careplans, staff, viewers, care_campaign, campaigns, clock):
    patient_id = patient(db)
    await enrol(careplans, staff, patient_id)
    await enrol(careplans, staff, patient_id, schedule="FREQ=WEEKLY", channel="automated", campaign=CAMPAIGN)
    with db.session() as session:
        add_discharge(session, session.get(Patient, patient_id), NOW - timedelta(hours=2))
        session.add(CampaignTarget(campaign_name="discharge-x", patient_id=patient_id,
                                   subject_kind="encounter", subject_id=1, status="pending", attempts=0,
                                   next_attempt_at=NOW, outcome={}))
    await careplans.plan(days_ahead=14)
    [row] = await careplans.work_list(viewers["agent"])

    await careplans.record_outcome(row["id"], "deceased", viewers["agent"])

    with db.session() as session:
        assert session.get(Patient, patient_id).deceased is True
        assert {t.status for t in session.scalars(select(CampaignTarget))} == {"excluded"}
        assert {p.status for p in session.scalars(select(CarePlan))} == {"withdrawn"}
    assert {f.status for f in followups(db)} == {"withdrawn"}
    assert (await careplans.plan(days_ahead=60)).created == 0


async def test_given_a_death_from_the_hospital_feed_then_the_care_plans_are_withdrawn_the_same_way(
        db, careplans, staff):
    patient_id = patient(db)
    await enrol(careplans, staff, patient_id)
    await careplans.plan()

    with db.session() as session:
        withdrawn = careplans.followups.withdraw_patient(session, patient_id, "deceased", NOW)

    assert withdrawn == 1 and {f.status for f in followups(db)} == {"withdrawn"}


# ---- the automated channel: campaign targets ----

async def dial_and_miss(campaigns, clock, times: int) -> None:
    for _ in range(times):
        [job] = await campaigns.claim(CAMPAIGN, "w", 5)
        await campaigns.finish(job.attempt_id, "no_answer")
        clock.advance(hours=1, minutes=1)


async def test_given_an_automated_plan_when_due_then_its_campaign_dials_it_as_a_target_made_once(
        db, careplans, staff, care_campaign, campaigns, viewers):
    patient_id = patient(db)
    await enrol(careplans, staff, patient_id, channel="automated", campaign=CAMPAIGN)

    first = await careplans.plan(days_ahead=30)
    second = await careplans.plan(days_ahead=30)

    assert (first.created, first.targets, second.targets) == (2, 1, 0)   # Nov 24 now due; Dec 24 not yet
    with db.session() as session:
        [target] = session.scalars(select(CampaignTarget)).all()
    today = followups(db)[0]
    assert (target.subject_kind, target.subject_id, target.status) == (SUBJECT_KIND, today.id, "pending")
    assert today.status == "calling" and today.campaign_target_id == target.id
    assert await careplans.work_list(viewers["agent"], view="all") == []   # the campaign's, not the desk's
    [job] = await campaigns.claim(CAMPAIGN, "w", 5)
    assert (job.patient_id, job.subject_kind, job.subject_id) == (patient_id, SUBJECT_KIND, today.id)


async def test_given_an_automated_follow_up_answered_when_planned_then_completed(
        db, careplans, staff, care_campaign, campaigns):
    await enrol(careplans, staff, patient(db), channel="automated", campaign=CAMPAIGN)
    await careplans.plan()
    [job] = await campaigns.claim(CAMPAIGN, "w", 5)
    await campaigns.finish(job.attempt_id, "person", answered_at=NOW, outcome="survey_done")

    report = await careplans.plan()

    assert report.completed == 1 and followups(db)[0].status == "completed"


async def test_given_an_automated_follow_up_not_answered_max_tries_times_then_escalated_and_no_longer_dialed(
        db, careplans, staff, care_campaign, campaigns, clock, viewers):
    await enrol(careplans, staff, patient(db), channel="automated", campaign=CAMPAIGN, max_tries=2)
    await careplans.plan()
    await dial_and_miss(campaigns, clock, 1)

    assert (await careplans.plan()).escalated == 0
    await dial_and_miss(campaigns, clock, 1)
    report = await careplans.plan()

    [followup] = followups(db)
    assert report.escalated == 1 and followup.status == "escalated" and followup.tries == 2
    assert followup.escalated_to_user_id == staff["nurse"]
    assert await campaigns.claim(CAMPAIGN, "w", 5) == []    # the campaign's target was closed
    [row] = await careplans.work_list(viewers["nurse"], view="escalated")
    assert row["plan"]["channel"] == "automated"
    with db.session() as session:
        assert session.get(CampaignTarget, followup.campaign_target_id).status == "expired"


async def test_given_an_automated_follow_up_when_rescheduled_then_its_target_waits_until_then(
        db, careplans, staff, care_campaign, campaigns, viewers):
    await enrol(careplans, staff, patient(db), channel="automated", campaign=CAMPAIGN)
    await careplans.plan()
    [row] = await careplans.work_list(viewers["supervisor"], view="all")
    later = NOW + timedelta(days=2)

    await careplans.reschedule(row["id"], later, viewers["supervisor"])

    assert await campaigns.claim(CAMPAIGN, "w", 5) == []
    with db.session() as session:
        assert session.get(CampaignTarget, followups(db)[0].campaign_target_id).next_attempt_at == later


# ---- the plan's end and history ----

async def test_given_an_ended_plan_then_its_open_follow_ups_are_withdrawn_and_none_made(db, careplans, staff,
                                                                                         viewers):
    plan_id = await enrol(careplans, staff, patient(db))
    await careplans.plan()

    await careplans.end(plan_id, AuditActor(staff["supervisor"]), "patient_request")

    assert {f.status for f in followups(db)} == {"withdrawn"}
    assert (await careplans.plan(days_ahead=90)).created == 0
    history = await careplans.history(1, viewers["supervisor"])
    assert history["plans"][0]["status"] == "ended" and history["plans"][0]["end_reason"] == "patient_request"
    assert [e["kind"] for e in history["events"]] == ["enrolled", "ended"]
    assert [a.patient_id for a in audits(db, "care_plan_history")] == [1]
    with pytest.raises(AlreadyClosed):
        await careplans.end(plan_id, AuditActor(staff["supervisor"]))

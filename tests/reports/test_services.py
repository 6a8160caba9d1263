"""Follow-up performance on the synthetic month (tests/reports/synthetic.py), worked out by hand, compared
exactly on SQLite and PostgreSQL; and the follow-up rate against the KPI dashboard's for the same data."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter import config
from callcenter.db.models import (
    AuditEvent,
    Call,
    CallEvent,
    CampaignAttempt,
    CampaignTarget,
    CarePlan,
    CarePlanFollowUp,
    Encounter,
    Patient,
    Recording,
    User,
)
from callcenter.db.queries import AuditActor
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import AnswerGiven, QuestionnaireService
from callcenter.kpi.compute import KpiService
from callcenter.reports.services import ReportError, ReportQuery, ReportService, UnknownReport, parse_days

from . import synthetic as month
from .synthetic import TZ


def cfg():
    c = config.load(env={})
    c.site.time_zone = TZ.key
    c.reports.followup_days = 3
    c.reports.followup_days_by_department = "surgery:1"
    c.reports.min_talk_seconds = 60
    return c


def clock():
    return month.at(month.TODAY, "12:00")


@pytest.fixture
def seeded(db):
    with db.session() as session:
        month.seed(session)
    return db


def service(db) -> ReportService:
    return ReportService(db, cfg(), clock=clock)


def november(name: str, **more) -> ReportQuery:
    return ReportQuery(name, datetime.combine(month.FIRST, time(0), TZ),
                       datetime.combine(month.LAST + timedelta(days=1), time(0), TZ), **more)


def rows(report) -> dict[str, dict]:
    return {r["key"]: r for r in report.rows}


def pick(row: dict, *names: str) -> tuple:
    return tuple(row[n] for n in names)


RATE = ("discharged", "followed_up", "followup_rate")


async def test_given_the_synthetic_month_when_the_rate_is_cut_by_department_then_it_is_the_hand_computed(
        seeded):
    report = await service(seeded).report(november("followup-rate", by="department"))

    by = rows(report)
    assert list(by) == ["Cardiology", "Medicine", "Surgery"]
    assert pick(by["Cardiology"], *RATE) == (4, 3, 3 / 4)  # E1 E2 E11 of E1 E2 E3 E11
    assert pick(by["Medicine"], *RATE) == (2, 0, 0.0)
    assert pick(by["Surgery"], *RATE) == (3, 2, 2 / 3)  # E4 (the last evening, Dec 1 in UTC) and E5
    assert pick(report.total, *RATE) == (9, 5, 5 / 9)  # not E7 (Oct 31 local), E8 (Dec 1 local), E9 (visit)


async def test_given_the_synthetic_month_when_cut_by_ward_attending_and_staff_then_each_partitions_it(
        seeded):
    s = service(seeded)
    ward = rows(await s.report(november("followup-rate", by="ward")))
    attending = rows(await s.report(november("followup-rate", by="attending")))
    staff = await s.report(november("followup-rate", by="staff"))

    assert {k: pick(r, "discharged", "followed_up") for k, r in ward.items()} == {
        "C1": (3, 3), "C2": (1, 0), "M1": (2, 0), "S1": (2, 2), "S2": (1, 0)}
    assert {k: pick(r, "discharged", "followed_up") for k, r in attending.items()} == {
        "(none)": (1, 0), "Dr A": (3, 3), "Dr B": (1, 0), "Dr C": (2, 2), "Dr D": (2, 0)}
    # 1001 completed E1 E2; 1002 completed E11 and failed E6; automated: E3 tried, E4 completed;
    # nobody called E5 (completed without a call), E10 (not planned), E12 (not yet called)
    assert {r["label"]: pick(r, "discharged", "followed_up") for r in staff.rows} == {
        "1001 · Ana": (2, 2), "1002 · Ben": (2, 1), "Automated calls": (2, 1), "No call on record": (3, 1)}
    assert pick(staff.total, *RATE) == (9, 5, 5 / 9)


async def test_given_the_synthetic_month_when_timeliness_is_reported_then_local_days_and_department_deadlines(
        seeded):
    report = await service(seeded).report(november("timeliness", by="department"))

    kinds = ("deadline_days", "on_time", "late", "overdue", "not_due")
    by = rows(report)
    assert pick(by["Cardiology"], *kinds) == (3, 2, 1, 1, 0)  # E1 E11 on time, E2 a day late, E3 overdue
    # E4: discharged Nov 30 23:30, done Dec 1 23:30 local: on time (in UTC days it would be Dec 1 -> Dec 2)
    assert pick(by["Surgery"], *kinds) == (1, 2, 0, 1, 0)
    assert pick(by["Medicine"], *kinds) == (3, 0, 0, 1, 1)  # E12 due Dec 3 = today: not yet overdue
    assert pick(report.total, "on_time", "late", "overdue", "not_due", "timely_rate") == (4, 1, 3, 1, 4 / 9)


PROOF_KINDS = ("completed", "verified", "automated", "short", "unrecorded", "automated_short", "unanswered",
               "no_answers", "no_call", "flagged")


async def test_given_the_synthetic_month_when_authenticity_is_reported_then_unproven_staff_ones_are_flagged(
        seeded):
    report = await service(seeded).report(november("authenticity", by="staff"))

    assert pick(report.total, *PROOF_KINDS) == (5, 1, 1, 1, 1, 0, 0, 0, 1, 3)
    assert report.total["authentic_rate"] == 2 / 5  # E1 recorded, E4 automated: answered 3 min, answers
    assert {r["label"]: pick(r, *PROOF_KINDS) for r in report.rows} == {
        "1001 · Ana": (2, 1, 0, 1, 0, 0, 0, 0, 0, 1),  # E1 120 s over two recordings; E2 30 s
        "1002 · Ben": (1, 0, 0, 0, 1, 0, 0, 0, 0, 1),
        "Automated calls": (1, 0, 1, 0, 0, 0, 0, 0, 0, 0),
        "No call on record": (1, 0, 0, 0, 0, 0, 0, 0, 1, 1)}
    flagged = report.detail["rows"]
    assert [(r["encounter_id"], r["call_id"], r["recorded_seconds"], r["flag"]) for r in flagged] == [
        (2, "c2", 30.0, "Recording too short"), (5, None, 0.0, "No call linked"),
        (11, "c11", 0.0, "Call not recorded")]


# Automated completions of Medicine (ward M2), discharged Nov 6..10 at 10:00 local: call, talk seconds
# (answered to ended), answers on it (questionnaire answers with the call id, triage answers in its log).
AUTOMATED = [(13, "c13", None, 0, 0),   # never answered: flagged
             (14, "c14", 30, 0, 1),     # answered 30 s, one triage answer: too short for the 60 s minimum
             (15, "c15", 120, 0, 0),    # answered 2 min, no answer stored: flagged
             (16, "c16", 120, 1, 0),    # answered 2 min, a questionnaire answer: proven
             (17, None, None, 0, 0)]    # the attempt names a call with no row: no call linked


@pytest.fixture
async def automated(seeded):
    questionnaires = QuestionnaireService(seeded, clock=lambda: month.nov(12))
    bank = load_bank()
    shipped = load_questionnaires(bank=bank).values()
    await questionnaires.load(bank, [(q, Path(q.path).read_text()) for q in shipped])
    await seeded.run(_seed_automated)
    for eid, call_id, _, questionnaire_answers, _ in AUTOMATED:
        if questionnaire_answers:
            response = await questionnaires.start_response("copd", channel="phone", patient_id=eid,
                                                           call_id=call_id)
            await questionnaires.record_answer(AnswerGiven(response, "breathing_worse", 3, channel="phone",
                                                           answered_by="automated", call_id=call_id))
    return seeded


def _seed_automated(session) -> None:
    for n, (eid, call_id, talk, _, triage_answers) in enumerate(AUTOMATED):
        discharged, called = month.nov(6 + n), month.nov(7 + n)
        session.add(Patient(id=eid, mrn=f"M{eid}", given_name="Pat", family_name=f"Number{eid}",
                            date_of_birth=date(1950, 1, 1)))
        session.flush()
        session.add(Encounter(id=eid, patient_id=eid, kind="admission", department="Medicine", ward="M2",
                              started_at=month.nov(1), discharged_at=discharged))
        session.flush()
        session.add(CampaignTarget(id=eid, campaign_name=month.CAMPAIGN, patient_id=eid,
                                   subject_kind="encounter", subject_id=eid, status="completed",
                                   completed_at=called + timedelta(minutes=5)))
        if call_id is not None:
            answered = called + timedelta(seconds=20) if talk is not None else None
            session.add(Call(id=call_id, direction="outbound", status="ended", patient_id=eid,
                             started_at=called, answered_at=answered, campaign_name=month.CAMPAIGN,
                             ended_at=answered + timedelta(seconds=talk) if answered else called))
            session.add_all(CallEvent(call_id=call_id, ts=called, type="triage_answered", data={})
                            for _ in range(triage_answers))
        session.flush()
        session.add(CampaignAttempt(id=100 + eid, target_id=eid, campaign_name=month.CAMPAIGN, patient_id=eid,
                                    call_id=call_id or f"gone{eid}", started_at=called, result="person",
                                    outcome="completed"))


async def test_given_automated_completions_when_authenticity_is_reported_then_talk_time_and_answers_judged(
        automated):
    report = await service(automated).report(november("authenticity", by="ward"))

    by = rows(report)
    assert pick(by["M2"], *PROOF_KINDS) == (5, 0, 1, 0, 0, 1, 1, 1, 1, 4)
    assert pick(report.total, *PROOF_KINDS) == (10, 1, 2, 1, 1, 1, 1, 1, 2, 7)
    assert report.total["authentic_rate"] == 3 / 10  # E1 recorded; E4 and E16 automated, answered, answers
    flagged = [(r["encounter_id"], r["call_id"], r["talk_seconds"], r["flag"]) for r in report.detail["rows"]
               if r["encounter_id"] >= 13]
    assert flagged == [(13, "c13", None, "Automated call not answered"),
                       (14, "c14", 30.0, "Automated call too short"),
                       (15, "c15", 120.0, "No answers on the call"),
                       (17, "gone17", None, "No call linked")]


async def test_given_the_synthetic_month_when_outcomes_are_reported_then_each_discharge_counts_once(seeded):
    report = await service(seeded).report(november("outcomes", by="department"))

    kinds = ("completed", "red_flag", "in_progress", "unreachable", "refused", "not_planned")
    assert pick(report.total, *kinds) == (4, 1, 2, 1, 0, 1)
    assert pick(rows(report)["Surgery"], *kinds) == (1, 1, 0, 1, 0, 0)


async def test_given_overdue_follow_ups_when_listed_then_names_are_shown_and_each_patient_read_audited(
        seeded):
    actor = AuditActor(user_id=None, api_client="reports-test")
    report = await service(seeded).report(november("overdue"), actor)

    assert [(r["encounter_id"], r["label"], str(r["due"]), r["days_overdue"]) for r in report.rows] == [
        (3, "Pat Number3", "2026-11-23", 10), (6, "Pat Number6", "2026-11-26", 7),
        (10, "Pat Number10", "2026-12-01", 2)]
    with seeded.session() as session:
        audited = session.scalars(select(AuditEvent.patient_id).where(
            AuditEvent.action == "report_overdue_list").order_by(AuditEvent.patient_id)).all()
    assert audited == [3, 6, 10]


async def test_given_the_overdue_list_when_asked_without_a_reader_then_refused(seeded):
    with pytest.raises(ReportError):
        await service(seeded).report(november("overdue"))


async def test_given_the_same_data_when_the_kpi_dashboard_and_the_report_give_the_follow_up_rate_then_equal(
        seeded):
    q = november("followup-rate", by="ward")
    kpi = await KpiService(seeded, cfg(), clock=clock).report(q.start, q.end, by="month")
    report = await service(seeded).report(q)

    assert kpi.totals["followup_rate"] == report.total["followup_rate"] == 5 / 9
    assert kpi.row("2026-11").kpis["followup_rate"] == 5 / 9


def test_given_department_deadlines_when_parsed_then_case_is_ignored_and_bad_items_are_named():
    assert parse_days("Cardiology:2, surgery : 3") == {"cardiology": 2, "surgery": 3}
    with pytest.raises(ReportError, match="'surgery' is not 'department:days'"):
        parse_days("surgery")


# -- questionnaire answers ----------------------------------------------------------------------------------


@pytest.fixture
async def answered(seeded):
    """Satisfaction answers of patients 1, 3 and 6 in November and of patient 11 in December; patient 5's
    surgery follow-up raising two red flags."""
    now = {"at": month.nov(1)}
    questionnaires = QuestionnaireService(seeded, clock=lambda: now["at"])
    bank = load_bank()
    shipped = load_questionnaires(bank=bank).values()
    await questionnaires.load(bank, [(q, Path(q.path).read_text()) for q in shipped])

    async def fill(patient: int, code: str, when, answers: dict) -> None:
        now["at"] = when
        response = await questionnaires.start_response(code, channel="phone", patient_id=patient)
        for question, value in answers.items():
            await questionnaires.record_answer(AnswerGiven(response, question, value, channel="phone",
                                                           answered_by="automated", call_id="q"))

    satisfaction = "satisfaction_after_discharge"
    await fill(1, satisfaction, month.nov(3), {"recommend_hospital": 2, "staff_kindness": 4,
                                               "discharge_information": 4, "what_to_improve": "more info"})
    await fill(3, satisfaction, month.nov(22), {"recommend_hospital": 5, "staff_kindness": 3,
                                                "discharge_information": 1})
    await fill(6, satisfaction, month.nov(26), {"recommend_hospital": 4, "staff_kindness": 2,
                                                "discharge_information": 5})
    await fill(11, satisfaction, month.dec(2), {"recommend_hospital": 1})
    await fill(5, "post_discharge_surgery", month.nov(16), {
        "overall_recovery": 3, "pain_score": 9, "fever_since_discharge": False, "wound_redness": False,
        "wound_discharge": "pus"})
    return seeded


async def test_given_satisfaction_answers_when_reported_then_by_the_stay_department_and_question(answered):
    report = await service(answered).report(november("satisfaction"))

    fields = ("answers", "mean", "satisfied", "neutral", "dissatisfied", "top_box")
    assert {r["key"]: pick(r, *fields) for r in report.rows} == {
        "Cardiology|discharge_information": (2, 2.5, 1, 0, 1, 0.5),
        "Cardiology|recommend_hospital": (2, 3.5, 1, 0, 1, 0.5),
        "Cardiology|staff_kindness": (2, 3.5, 1, 1, 0, 0.5),
        "Surgery|discharge_information": (1, 5.0, 1, 0, 0, 1.0),
        "Surgery|recommend_hospital": (1, 4.0, 1, 0, 0, 1.0),
        "Surgery|staff_kindness": (1, 2.0, 0, 0, 1, 0.0)}
    fields = ("answers", "satisfied", "neutral", "dissatisfied", "top_box")
    assert pick(report.total, *fields) == (9, 5, 1, 3, 5 / 9)


async def test_given_answers_when_reported_by_question_code_then_counted_per_value_and_text_never_shown(
        answered):
    s = service(answered)
    recommend = await s.report(november("answers", code="recommend_hospital"))
    improve = await s.report(november("answers", code="what_to_improve"))

    assert [(r["label"], r["answer"], r["answers"]) for r in recommend.rows] == [
        ("Cardiology", "2", 1), ("Cardiology", "5", 1), ("Surgery", "4", 1)]  # not December's 1
    assert [(r["label"], r["answer"], r["answers"]) for r in improve.rows] == [
        ("Cardiology", "(answered)", 1)]
    with pytest.raises(UnknownReport):
        await s.report(november("answers", code="no_such_question"))


async def test_given_follow_up_answers_with_red_flags_when_reported_then_by_department_question_and_rung(
        answered):
    report = await service(answered).report(november("red-flags"))

    fields = ("label", "question_code", "disposition", "escalation", "red_flags")
    assert [pick(r, *fields) for r in report.rows] == [
        ("Surgery", "pain_score", "nurse_now", "nurse_transfer", 1),
        ("Surgery", "wound_discharge", "nurse_now", "nurse_transfer", 1)]
    assert report.total["red_flags"] == 2


# -- care plans ----------------------------------------------------------------------------------------------


@pytest.fixture
def care_plans(seeded):
    """P1 Cardiology chronic by agent, P2 Cardiology VIP automated, P3 Medicine chronic by agent; their
    follow-ups due in November (and one either side)."""
    with seeded.session() as session:
        session.add(User(id=500, username="nurse-reports", display_name="Nurse", role="nurse"))
        session.flush()
        for plan_id, patient, department, kind, channel in ((1, 1, "Cardiology", "chronic", "agent"),
                                                             (2, 2, "Cardiology", "vip", "automated"),
                                                             (3, 3, "Medicine", "chronic", "agent")):
            session.add(CarePlan(id=plan_id, patient_id=patient, kind=kind, condition="heart failure",
                                 department=department, starts_on=month.FIRST,
                                 schedule="FREQ=WEEKLY;INTERVAL=2",
                                 questionnaire_code="hypertension", channel=channel, nurse_user_id=500,
                                 campaign_name=month.CAMPAIGN if channel == "automated" else None))
        session.flush()
        for plan_id, day, status in ((1, 3, "completed"), (1, 17, "unreachable"), (2, 10, "completed"),
                                     (2, 24, "withdrawn"), (3, 5, "refused"), (3, 19, "escalated"),
                                     (3, 30, "pending")):
            session.add(CarePlanFollowUp(plan_id=plan_id, patient_id=plan_id, due_on=date(2026, 11, day),
                                         due_at=month.nov(day), status=status))
        session.add(CarePlanFollowUp(plan_id=1, patient_id=1, due_on=date(2026, 12, 1), due_at=month.dec(1)))
        session.add(CarePlanFollowUp(plan_id=3, patient_id=3, due_on=date(2026, 10, 31),
                                     due_at=month.at(date(2026, 10, 31)), status="completed"))
    return seeded


async def test_given_care_plan_follow_ups_when_adherence_is_reported_then_done_missed_open_and_withdrawn(
        care_plans):
    s = service(care_plans)
    by_department = await s.report(november("care-plan-adherence", by="department"))
    by_channel = await s.report(november("care-plan-adherence", by="channel"))

    fields = ("due", "completed", "missed", "open", "withdrawn", "overdue", "adherence")
    assert {r["key"]: pick(r, *fields) for r in by_department.rows} == {
        "Cardiology": (4, 2, 1, 0, 1, 0, 2 / 3), "Medicine": (3, 0, 1, 2, 0, 2, 0.0)}
    assert pick(by_department.total, *fields) == (7, 2, 2, 2, 1, 2, 2 / 6)
    assert {r["key"]: pick(r, *fields) for r in by_channel.rows} == {
        "agent": (5, 1, 2, 2, 0, 2, 1 / 5), "automated": (2, 1, 0, 0, 1, 0, 1.0)}


async def test_given_completed_care_plan_follow_ups_when_adherence_is_reported_then_unproven_ones_flagged(
        care_plans):
    """Hand-computed, [reports] min_talk_seconds 60: P1's desk completion on Nov 3 links a call recorded for
    90 s (proven); P3's desk completion added on Nov 12 names no call (flagged, as `record_outcome` allows);
    P2's automated one on Nov 10 was completed by a campaign attempt whose call was answered for 120 s but
    holds no answers (flagged)."""
    def seed(session):
        session.add(Call(id="cp1", direction="outbound", status="ended", agent_id=month.A1, patient_id=1,
                         started_at=month.nov(3), answered_at=month.nov(3),
                         ended_at=month.nov(3) + timedelta(minutes=2)))
        session.add(Call(id="cp2", direction="outbound", status="ended", patient_id=2,
                         started_at=month.nov(10), answered_at=month.nov(10),
                         ended_at=month.nov(10) + timedelta(seconds=120),
                         campaign_name=month.CAMPAIGN))
        session.flush()
        session.add(Recording(call_id="cp1", agent_id=month.A1, name="call-cp1", duration_seconds=90))
        session.add(CampaignTarget(id=900, campaign_name=month.CAMPAIGN, patient_id=2,
                                   subject_kind="care_followup", subject_id=2, status="completed",
                                   completed_at=month.nov(10)))
        session.flush()
        session.add(CampaignAttempt(id=900, target_id=900, campaign_name=month.CAMPAIGN, patient_id=2,
                                    call_id="cp2", started_at=month.nov(10), result="person",
                                    outcome="completed"))
        followups = {f.due_on.day: f for f in session.scalars(select(CarePlanFollowUp).where(
            CarePlanFollowUp.status == "completed", CarePlanFollowUp.due_on >= month.FIRST))}
        followups[3].last_call_id = "cp1"
        followups[10].campaign_target_id = 900
        session.add(CarePlanFollowUp(id=950, plan_id=3, patient_id=3, due_on=date(2026, 11, 12),
                                     due_at=month.nov(12), status="completed"))
    await care_plans.run(seed)

    report = await service(care_plans).report(november("care-plan-adherence", by="channel"))

    assert {r["key"]: (r["completed"], r["flagged"]) for r in report.rows} == {
        "agent": (2, 1), "automated": (1, 1)}
    assert report.total["flagged"] == 2
    assert [(r["followup_id"], r["channel"], r["call_id"], r["talk_seconds"], r["flag"])
            for r in report.detail["rows"]] == [
        (report.detail["rows"][0]["followup_id"], "automated", "cp2", 120.0, "No answers on the call"),
        (950, "agent", None, None, "No call linked")]

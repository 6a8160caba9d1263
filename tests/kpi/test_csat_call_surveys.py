"""CSAT of the survey after an inbound call (issue 17) in the KPIs: by the agent who took the call and by its
queue, from call_surveys, with hand-computed values on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date

from callcenter.db.models import Agent, Call, CallSurvey, Queue, SurveyResponse

from .synthetic import at
from .test_compute import kpi_service, local_day

DAY = date(2026, 11, 23)
ANA, BEN = 1, 2


def seed(db) -> None:
    """Ana's calls: 5, 4, 2 (2 of 3 satisfied) in scheduling, and one caller who hung up before answering;
    Ben's: 3 in scheduling, 5 in clinical; a campaign survey (5, no agent, no queue); a survey of the next
    day (outside the report)."""
    surveys = [("c1", ANA, "scheduling", 5, "09:00"), ("c2", ANA, "scheduling", 4, "10:00"),
               ("c3", ANA, "scheduling", 2, "11:00"), ("c4", ANA, "scheduling", None, "11:30"),
               ("c5", BEN, "scheduling", 3, "12:00"), ("c6", BEN, "clinical", 5, "13:00")]
    with db.session() as s:
        s.add_all([Queue(name="scheduling", title="Scheduling"), Queue(name="clinical", title="Clinical"),
                   Agent(id=ANA, number="1001", name="Ana", endpoint="Local/1001"),
                   Agent(id=BEN, number="1002", name="Ben", endpoint="Local/1002")])
        s.flush()
        for call_id, agent, queue, score, clock in surveys + [("c7", BEN, "clinical", 1, "next")]:
            when = at("09:00", date(2026, 11, 24)) if clock == "next" else at(clock, DAY)
            s.add(Call(id=call_id, status="ended", started_at=when, queue_name=queue, agent_id=agent))
            s.flush()
            s.add(CallSurvey(call_id=call_id, agent_id=agent, queue_name=queue, started_at=when,
                             satisfaction=score, resolved=None if score is None else score >= 3,
                             answered_at=None if score is None else when))
        s.add(SurveyResponse(campaign_name="satisfaction", score=5, created_at=at("15:00", DAY)))


async def test_given_post_call_surveys_when_reported_by_agent_then_csat_per_agent_and_in_totals(db):
    seed(db)

    report = await kpi_service(db).report(*local_day(DAY), by="agent")

    rows = {row.key: row.kpis["csat"] for row in report.rows}
    assert (rows["1001"], rows["1002"]) == (2 / 3, 1 / 2)
    assert report.totals["csat"] == 4 / 6, "the campaign's survey and both agents' calls, not the next day's"


async def test_given_post_call_surveys_when_reported_by_queue_then_csat_per_queue(db):
    seed(db)

    report = await kpi_service(db).report(*local_day(DAY), by="queue")

    rows = {row.key: row.kpis["csat"] for row in report.rows}
    assert (rows["scheduling"], rows["clinical"]) == (2 / 4, 1.0)


async def test_given_post_call_surveys_when_filtered_to_one_agent_then_only_their_answers(db):
    seed(db)

    report = await kpi_service(db).report(*local_day(DAY), by="day", agent="1002")

    assert report.totals["csat"] == 1 / 2

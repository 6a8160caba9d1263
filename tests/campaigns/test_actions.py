"""Campaign flow actions (campaigns/actions.py) on both databases: a key that could not be served (an
appointment no longer changeable, an invalid survey score) is a `campaign_outcome` event too, so reports and
KPIs see it, and does not hide a real outcome of the same call."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callcenter.campaigns.actions import CampaignActions
from callcenter.campaigns.claims import DialJob
from callcenter.campaigns.schema import load_campaign_text
from callcenter.db.models import CallEvent, CampaignTarget

from .conftest import (
    NOW,
    TOMORROW_10,
    add_appointment,
    add_campaign,
    add_discharge,
    add_patient,
    campaign_yaml,
)


def _job(campaign, patient_id: int, subject_kind: str, subject_id: int, target_id: int = 12) -> DialJob:
    return DialJob(attempt_id=11, target_id=target_id, campaign=campaign, patient_id=patient_id,
                   phone_e164="+15550000001", language="en", subject_kind=subject_kind, subject_id=subject_id,
                   worker="t")


async def _outcome_events(events, db) -> list[dict]:
    await events.flush()
    with db.session() as s:
        return [e.data for e in s.scalars(select(CallEvent).where(CallEvent.type == "campaign_outcome")
                                          .order_by(CallEvent.id))]


async def test_given_a_cancelled_appointment_when_the_patient_confirms_then_not_possible_event_and_outcome(
        db, events, flows_dir, clock):
    with db.session() as s:
        patient = add_patient(s, 1)
        appointment_id = add_appointment(s, patient, TOMORROW_10, status="cancelled").id
        patient_id = patient.id
    campaign = load_campaign_text(campaign_yaml(), "c.yaml", flows_dir)
    job = _job(campaign, patient_id, "appointment", appointment_id)
    bound = CampaignActions(db, events, clock=clock).bind("c" * 32, job)

    result = await bound.run("appointment.confirm", {}, {})
    await bound.run("outcome", {"outcome": "completed"}, {})   # the flow's scheduling node, later

    assert result == "not_possible"
    assert [(e["outcome"], e.get("action")) for e in await _outcome_events(events, db)] == [
        ("not_possible", "appointment.confirm"), ("completed", None)]
    assert bound.outcome == "completed", "the call's real outcome is the attempt's"


async def test_given_an_invalid_survey_score_then_invalid_event_and_a_later_score_wins(
        db, events, campaigns, clock, tmp_path):
    with db.session() as s:
        add_discharge(s, add_patient(s, 2), NOW - timedelta(days=1))
    campaign = await add_campaign(campaigns, tmp_path, campaign_yaml(
        "survey", kind="satisfaction_survey", target="{rule: recent_discharges_or_visits, within_days: 7}",
        flow="satisfaction-survey"))
    await campaigns.plan("survey")
    with db.session() as s:
        target = s.scalars(select(CampaignTarget)).one()
        job = _job(campaign, target.patient_id, target.subject_kind, target.subject_id, target.id)
    bound = CampaignActions(db, events, clock=clock).bind("d" * 32, job)

    first = await bound.run("survey.record", {}, {"survey.score": "7"})
    assert (first, bound.outcome) == ("invalid", "invalid"), "an attempt with only a bad key says so"
    second = await bound.run("survey.record", {}, {"survey.score": "4"})

    assert second == "done" and bound.outcome == "survey_done"
    assert [(e["outcome"], e.get("score")) for e in await _outcome_events(events, db)] == [
        ("invalid", None), ("survey_score", 4)]

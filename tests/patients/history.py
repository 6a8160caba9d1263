"""A patient with something of every kind in their history (issue 17's timeline): an inbound call with a
recording, a campaign's reminder call, a questionnaire with answers, a complaint ticket. Shared by the
timeline's database tests and its browser test."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from callcenter.complaints import routing
from callcenter.complaints.services import Actor, NewTicket, create
from callcenter.db.models import (
    Call,
    CampaignAttempt,
    CampaignTarget,
    FollowUpAnswer,
    FollowUpQuestionnaire,
    FollowUpQuestionnaireVersion,
    FollowUpResponse,
    Recording,
)


@dataclass(frozen=True)
class History:
    inbound_call: str
    reminder_call: str
    response_id: int
    ticket_id: int
    ticket_serial: str


def seed_history(session: Session, patient_id: int, now: datetime) -> History:
    inbound = Call(direction="inbound", patient_id=patient_id, queue_name="results", status="ended",
                   outcome="completed", started_at=now - timedelta(days=3),
                   answered_at=now - timedelta(days=3) + timedelta(seconds=40),
                   ended_at=now - timedelta(days=3) + timedelta(seconds=160))
    reminder = Call(direction="outbound", patient_id=patient_id, status="ended", outcome="completed",
                    started_at=now - timedelta(days=2))
    session.add_all([inbound, reminder])
    session.flush()
    session.add(Recording(call_id=inbound.id, name=f"history-{inbound.id}", duration_seconds=118.0))
    target = CampaignTarget(campaign_name="appointment-reminders", patient_id=patient_id,
                            subject_kind="appointment", subject_id=patient_id, status="completed")
    session.add(target)
    session.flush()
    session.add(CampaignAttempt(target_id=target.id, campaign_name="appointment-reminders",
                                patient_id=patient_id, call_id=reminder.id, started_at=reminder.started_at,
                                result="person"))
    questionnaire = FollowUpQuestionnaire(code="history_check", title="Post-discharge check", kind="followup",
                                          current_version="2")
    session.add(questionnaire)
    session.flush()
    version = FollowUpQuestionnaireVersion(questionnaire_id=questionnaire.id, version="2", source_yaml="",
                                           definition={}, review_status="example")
    session.add(version)
    session.flush()
    response = FollowUpResponse(questionnaire_version_id=version.id, patient_id=patient_id, channel="phone",
                                call_id=reminder.id, started_at=now - timedelta(days=1))
    session.add(response)
    session.flush()
    session.add_all([FollowUpAnswer(response_id=response.id, questionnaire_version_id=version.id,
                                    question_code="pain_score", value={"value": 3}, channel="phone",
                                    answered_by="automated"),
                     FollowUpAnswer(response_id=response.id, questionnaire_version_id=version.id,
                                    question_code="wound_ok", value={"value": True}, channel="phone",
                                    answered_by="automated")])
    new = NewTicket(channel="phone", text="The <b>parking</b> was full", patient_id=patient_id,
                    call_id=inbound.id)
    ticket = create(session, new, routing.load(), Actor(origin="test"), now - timedelta(hours=1))
    session.flush()
    return History(inbound.id, reminder.id, response.id, ticket.id, ticket.serial)

"""One patient's history across the contact center, newest first (issue 17 item 7): calls (inbound,
click-to-dial and campaign calls, with their recordings), questionnaire answers, tickets, text messages
both ways (sms/: what the patient wrote and what we texted, with its delivery), and the history of the
patient's care plans (careplans/: enrolment, each follow-up's outcome, escalations, reschedules, the end).
It is part of the record the desk opens (desk/services) and of the call page (triage/http), so reading it is
the record's read, audited by that read's own row; an entry's `detail` is what opening it shows, `href` the
page that holds more (which checks its own permissions)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import (
    Agent,
    Call,
    CampaignAttempt,
    CarePlan,
    CarePlanEvent,
    Complaint,
    FollowUpAnswer,
    FollowUpQuestionnaire,
    FollowUpQuestionnaireVersion,
    FollowUpResponse,
    Recording,
    TextMessage,
)

LIMIT = 50  # entries of each kind; the record shows the newest across kinds


def timeline(session: Session, patient_id: int, limit: int = LIMIT) -> list[dict[str, Any]]:
    entries = _calls(session, patient_id, limit) + _questionnaires(session, patient_id, limit) + \
        _tickets(session, patient_id, limit) + _texts(session, patient_id, limit) + \
        _care_plans(session, patient_id, limit)
    entries.sort(key=lambda e: e["at"] or "", reverse=True)
    return entries[:limit]


def _entry(kind: str, at: datetime | None, title: str, detail: dict[str, Any],
           href: str | None = None) -> dict:
    return {"kind": kind, "at": at.isoformat() if at else None, "title": title, "detail": detail,
            "href": href}


def _calls(session: Session, patient_id: int, limit: int) -> list[dict]:
    rows = session.execute(select(Call, Agent.name).outerjoin(Agent, Call.agent_id == Agent.id)
                           .where(Call.patient_id == patient_id)
                           .order_by(Call.started_at.desc()).limit(limit)).all()
    ids = [call.id for call, _ in rows]
    campaigns = dict(session.execute(select(CampaignAttempt.call_id, CampaignAttempt.campaign_name)
                                     .where(CampaignAttempt.call_id.in_(ids))).all()) if ids else {}
    recordings: dict[str, list[dict]] = defaultdict(list)
    for rec in session.scalars(select(Recording).where(Recording.call_id.in_(ids)).order_by(Recording.id)) \
            if ids else ():
        recordings[rec.call_id].append({"id": rec.id, "seconds": rec.duration_seconds})
    entries = []
    for call, agent in rows:
        campaign = campaigns.get(call.id)
        what = f"{campaign} call" if campaign else f"{call.direction.capitalize()} call"
        where = call.queue_name or ""
        title = " · ".join(p for p in (what, where, call.outcome or call.status, agent or "") if p)
        talk = ((call.ended_at - call.answered_at).total_seconds()
                if call.answered_at and call.ended_at else None)
        entries.append(_entry("call", call.started_at, title, {
            "call_id": call.id, "direction": call.direction, "queue": call.queue_name, "campaign": campaign,
            "status": call.status, "outcome": call.outcome, "agent": agent, "talk_seconds": talk,
            "recordings": recordings.get(call.id, [])}, f"/calls/{call.id}"))
    return entries


def _questionnaires(session: Session, patient_id: int, limit: int) -> list[dict]:
    rows = session.execute(
        select(FollowUpResponse, FollowUpQuestionnaire.title, FollowUpQuestionnaireVersion.version)
        .join(FollowUpQuestionnaireVersion,
              FollowUpQuestionnaireVersion.id == FollowUpResponse.questionnaire_version_id)
        .join(FollowUpQuestionnaire,
              FollowUpQuestionnaire.id == FollowUpQuestionnaireVersion.questionnaire_id)
        .where(FollowUpResponse.patient_id == patient_id)
        .order_by(FollowUpResponse.started_at.desc()).limit(limit)).all()
    answers: dict[int, list[dict]] = defaultdict(list)
    ids = [response.id for response, _, _ in rows]
    for answer in session.scalars(select(FollowUpAnswer).where(FollowUpAnswer.response_id.in_(ids))
                                  .order_by(FollowUpAnswer.id)) if ids else ():
        answers[answer.response_id].append({"question": answer.question_code,
                                            "value": (answer.value or {}).get("value")})
    return [_entry("questionnaire", response.started_at, f"{title} (version {version}) · {response.channel}",
                   {"response_id": response.id, "channel": response.channel, "call_id": response.call_id,
                    "answers": answers.get(response.id, [])})
            for response, title, version in rows]


def _tickets(session: Session, patient_id: int, limit: int) -> list[dict]:
    from ..complaints.serial import display  # the serial as it is told to patients
    rows = session.scalars(select(Complaint).where(Complaint.patient_id == patient_id)
                           .order_by(Complaint.opened_at.desc()).limit(limit)).all()
    return [_entry("ticket", t.opened_at,
                   f"{t.kind.capitalize()} {display(t.serial)} · {t.status.replace('_', ' ')}",
                   {"ticket_id": t.id, "serial": t.serial, "kind": t.kind, "channel": t.channel,
                    "status": t.status, "department": t.department}, f"/complaints/{t.id}")
            for t in rows]


def _texts(session: Session, patient_id: int, limit: int) -> list[dict]:
    rows = session.scalars(select(TextMessage).where(TextMessage.patient_id == patient_id)
                           .order_by(TextMessage.created_at.desc(), TextMessage.id.desc()).limit(limit)).all()
    return [_entry("sms", t.created_at, _text_title(t),
                   {"text_id": t.id, "direction": _FROM_TO[t.direction],
                    "purpose": t.purpose, "keyword": t.keyword, "status": t.status, "text": t.body})
            for t in rows]


_FROM_TO = {"in": "from the patient", "out": "to the patient"}


def _text_title(t: TextMessage) -> str:
    if t.direction == "in":
        return f"From the patient · {(t.keyword or 'text').replace('_', ' ')}"
    return f"To the patient · {t.purpose.replace('_', ' ')} · {t.status}"


def _care_plans(session: Session, patient_id: int, limit: int) -> list[dict]:
    rows = session.execute(select(CarePlanEvent, CarePlan.kind, CarePlan.condition)
                           .join(CarePlan, CarePlan.id == CarePlanEvent.plan_id)
                           .where(CarePlanEvent.patient_id == patient_id)
                           .order_by(CarePlanEvent.at.desc(), CarePlanEvent.id.desc()).limit(limit)).all()
    return [_entry("care_plan", e.at, " · ".join((_PLAN_KINDS.get(kind, kind), condition,
                                                   e.kind.replace("_", " "))),
                   {"plan_id": e.plan_id, "followup_id": e.followup_id, "event": e.kind, **(e.detail or {})})
            for e, kind, condition in rows]


_PLAN_KINDS = {"chronic": "Chronic", "vip": "VIP"}

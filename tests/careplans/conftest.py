"""Fixtures of the care-plan tests: a controlled clock in a hospital in New York, the shipped questionnaires
loaded, a nurse and an agent, a chronic-check campaign in automated mode, and the CarePlanService over the
`db` fixture (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.careplans.services import CarePlanService, Enrolment, PatientFollowUps, Viewer
from callcenter.db.models import User
from callcenter.followup.schema import load_bank, load_questionnaires
from callcenter.followup.services import QuestionnaireService

from ..campaigns.conftest import (  # noqa: F401  (fixtures)
    HOSPITAL_ZONE,
    NOW,
    Clock,
    add_campaign,
    add_patient,
    campaign_yaml,
    campaigns,
    cfg,
    events,
    flows_dir,
)

__all__ = ["HOSPITAL_ZONE", "NOW", "add_patient"]
QUESTIONNAIRE = "hypertension"
CAMPAIGN = "care-calls"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def questionnaires(db) -> QuestionnaireService:
    service = QuestionnaireService(db)
    bank = load_bank()
    await service.load(bank, [(q, Path(q.path).read_text()) for q in load_questionnaires(bank=bank).values()])
    return service


@pytest.fixture
def staff(db) -> dict[str, int]:
    with db.session() as session:
        users = {role: User(username=f"{role}1", display_name=role.title(), role=role)
                 for role in ("nurse", "agent", "supervisor")}
        users["nurse2"] = User(username="nurse2", display_name="Nurse Two", role="nurse")
        session.add_all(users.values())
        session.flush()
        return {name: user.id for name, user in users.items()}


@pytest.fixture
def viewers(staff) -> dict[str, Viewer]:
    return {"nurse": Viewer(staff["nurse"], "nurse"), "nurse2": Viewer(staff["nurse2"], "nurse"),
            "agent": Viewer(staff["agent"], "agent"), "supervisor": Viewer(staff["supervisor"], "supervisor")}


@pytest.fixture
async def care_campaign(campaigns, tmp_path):  # noqa: F811
    text = campaign_yaml(CAMPAIGN, kind="chronic_check", target="{rule: chronic_not_reached, days: 30}",
                         flow="chronic-check", extra="compliance:\n  max_attempts: 5\n"
                         "  retry_after: {no_answer: 1h, busy: 1h, machine: 1h, failed: 1h}\n"
                         "  caps: {per_day: 9, per_week: 20}\n")
    return await add_campaign(campaigns, tmp_path, text)


@pytest.fixture
def careplans(db, clock, questionnaires, campaigns) -> CarePlanService:  # noqa: F811
    port = PatientFollowUps(DischargeFollowUp())
    return CarePlanService(db, HOSPITAL_ZONE, questionnaires, campaigns, port, clock=clock)


def enrolment(patient_id: int, nurse: int, **changes) -> Enrolment:
    fields = dict(patient_id=patient_id, condition="Hypertension", department="Cardiology",
                  starts_on=date(2026, 11, 24), schedule="monthly", questionnaire=QUESTIONNAIRE,
                  channel="agent", nurse_user_id=nurse)
    return Enrolment(**(fields | changes))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)

"""What the hospital's feed (callcenter/patients/, issue 15) does to campaigns, inside its own transaction:
a discharge targets the patient in every enabled discharge follow-up campaign whose rule selects the stay,
at once; a cancelled discharge or admission withdraws that stay's pending targets; a death withdraws all the
patient's pending targets. The `FollowUp` port of patients/services.py, wired in main.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..db.models import Campaign, CampaignTarget
from .planner import plan_encounter
from .schema import CampaignDef, load_campaign_text

# Run for every discharge of the feed: built once (SQLAlchemy keeps their cache keys), Core on the tables.
_CAMPAIGNS, _TARGETS = Campaign.__table__, CampaignTarget.__table__
_ENABLED_FOLLOWUPS = select(_CAMPAIGNS.c.name, _CAMPAIGNS.c.version, _CAMPAIGNS.c.source_yaml).where(
    _CAMPAIGNS.c.enabled.is_(True), _CAMPAIGNS.c.kind == "discharge_followup")
_WITHDRAWN_OF_STAY = select(_TARGETS.c.id).where(
    _TARGETS.c.subject_kind == "encounter", _TARGETS.c.subject_id == bindparam("encounter_id"),
    _TARGETS.c.status == "expired")


class DischargeFollowUp:
    def __init__(self) -> None:
        self._parsed: dict[str, tuple[int, CampaignDef]] = {}  # name -> (stored version, definition)

    def discharged(self, session: Session, encounter_id: int, now: datetime) -> int:
        campaigns = self._campaigns(session)
        created = sum(plan_encounter(session, campaign, encounter_id, now) for campaign in campaigns)
        return created + _reopen_cancelled(session, encounter_id, now)

    def withdraw_encounter(self, session: Session, encounter_id: int, reason: str, now: datetime) -> int:
        return _withdraw(session, (CampaignTarget.subject_kind == "encounter",
                                   CampaignTarget.subject_id == encounter_id), reason, now)

    def withdraw_patient(self, session: Session, patient_id: int, reason: str, now: datetime) -> int:
        return _withdraw(session, (CampaignTarget.patient_id == patient_id,), reason, now)

    def _campaigns(self, session: Session) -> list[CampaignDef]:
        rows = session.execute(_ENABLED_FOLLOWUPS).all()
        return [self._parse(name, version, text) for name, version, text in rows]

    def _parse(self, name: str, version: int, text: str) -> CampaignDef:
        cached = self._parsed.get(name)
        if cached is None or cached[0] != version:
            # Stored text was validated when stored (as CampaignService reads it).
            cached = self._parsed[name] = (version, load_campaign_text(text, f"{name}.yaml"))
        return cached[1]


def _reopen_cancelled(session: Session, encounter_id: int, now: datetime) -> int:
    """A discharge cancelled (A13) and then made again: the stay's withdrawn follow-up is due again (the
    target's unique key would keep a new one from being made)."""
    ids = session.scalars(_WITHDRAWN_OF_STAY, {"encounter_id": encounter_id}).all()
    if not ids:
        return 0  # the usual case: read as plain ids first, ORM objects only for what there is
    withdrawn = session.scalars(select(CampaignTarget).where(CampaignTarget.id.in_(ids))).all()
    reopened = [t for t in withdrawn if (t.outcome or {}).get("reason") == "discharge_cancelled"]
    for target in reopened:
        target.status, target.outcome, target.attempts = "pending", {}, 0
        target.next_attempt_at, target.completed_at = now, None
    return len(reopened)


def _withdraw(session: Session, where: tuple, reason: str, now: datetime) -> int:
    """Pending targets only: one being dialed now finishes its call; a finished one keeps its result."""
    status = "excluded" if reason == "deceased" else "expired"
    result = session.execute(update(CampaignTarget).where(CampaignTarget.status == "pending", *where).values(
        status=status, outcome={"reason": reason}, completed_at=now))
    return result.rowcount or 0

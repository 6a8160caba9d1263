"""Pacing of progressive campaigns: keep the share of answered calls that no agent took under the cap.

An abandoned outbound call is a person who answered and heard only the hospital's message: the rule that
limits them (regulators use 3% over 30 days) is `may_dial`, one small function, applied before every dial.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..db.models import CampaignAttempt

WINDOW = timedelta(days=30)
# Results where a person answered: 'abandoned' is a person answered and no agent took them.
PERSON_RESULTS = ("person", "abandoned")


@dataclass(frozen=True)
class AbandonRate:
    abandoned: int
    answered: int  # answered by a person (AMD said human), abandoned ones included

    @property
    def rate(self) -> float | None:
        return self.abandoned / self.answered if self.answered else None


def may_dial(rate: AbandonRate, cap: float) -> bool:
    """Dial again only while the campaign's 30-day abandon rate is within its cap.

    The current rate, not the rate after a hypothetical next abandon: with (a+1)/(n+1) a new campaign could
    never place its first call under a 3% cap. Progressive dialing reserves the agent before dialing, so an
    abandon is rare (the agent's phone failed) and stopping once the rate is over the cap keeps it near it.
    """
    return rate.rate is None or rate.rate <= cap


def abandon_rate(session: Session, campaign: str, now: datetime) -> AbandonRate:
    """The campaign's abandoned / answered-by-a-person attempts started in the last 30 days."""
    abandoned = func.sum(case((CampaignAttempt.result == "abandoned", 1), else_=0))
    row = session.execute(
        select(func.count(), abandoned)
        .where(CampaignAttempt.campaign_name == campaign, CampaignAttempt.started_at >= now - WINDOW,
               CampaignAttempt.result.in_(PERSON_RESULTS))).one()
    return AbandonRate(abandoned=int(row[1] or 0), answered=int(row[0] or 0))

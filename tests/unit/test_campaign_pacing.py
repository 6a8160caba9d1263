"""The pacing rule of progressive campaigns: dial only while the 30-day abandon rate is within the cap."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from callcenter.campaigns.pacing import AbandonRate, abandon_rate, may_dial
from callcenter.db.models import CampaignAttempt, CampaignTarget, Patient

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("abandoned, answered, allowed", [
    (0, 0, True),      # a new campaign places its first call
    (0, 10, True),
    (3, 100, True),    # exactly at the cap
    (4, 100, False),   # over the cap: no further dial
    (1, 1, False),     # one abandon out of one answer
])
def test_given_an_abandon_rate_when_deciding_then_dial_only_within_the_cap(abandoned, answered, allowed):
    assert may_dial(AbandonRate(abandoned, answered), 0.03) is allowed


def test_given_no_person_answered_when_reading_the_rate_then_none():
    assert AbandonRate(0, 0).rate is None


def _seed(session, results: list[tuple[str, timedelta]], campaign: str = "progressive-test") -> None:
    patient = Patient(mrn="MRN-PACE", given_name="Pat", family_name="Pace", date_of_birth=date(1970, 1, 1),
                      sex="F", language="en")
    session.add(patient)
    session.flush()
    target = CampaignTarget(campaign_name=campaign, patient_id=patient.id, subject_kind="patient",
                            subject_id=patient.id, status="pending")
    session.add(target)
    session.flush()
    for result, age in results:
        session.add(CampaignAttempt(target_id=target.id, campaign_name=campaign, patient_id=patient.id,
                                    result=result, started_at=NOW - age))


def test_given_attempts_when_reading_the_rate_then_30_days_of_person_answers_of_this_campaign_only(db):
    with db.session() as session:
        _seed(session, [("person", timedelta(days=1)), ("person", timedelta(days=29)),
                        ("abandoned", timedelta(hours=2)), ("machine", timedelta(days=1)),
                        ("no_answer", timedelta(days=1)),
                        ("abandoned", timedelta(days=31)),   # too old
                        ("person", timedelta(days=40))])
        _seed_other = CampaignAttempt(target_id=1, campaign_name="other", patient_id=1, result="abandoned",
                                      started_at=NOW)
        session.add(_seed_other)
    with db.session() as session:
        rate = abandon_rate(session, "progressive-test", NOW)
    assert (rate.abandoned, rate.answered) == (1, 3)
    assert rate.rate == pytest.approx(1 / 3)
    assert may_dial(rate, 0.03) is False

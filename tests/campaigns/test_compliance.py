"""The compliance rules as pure functions, on a controlled clock."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.campaigns import compliance
from callcenter.campaigns.compliance import DialFacts, DncEntry
from callcenter.campaigns.schema import load_campaign_text

from .conftest import campaign_yaml

CAMPAIGN = load_campaign_text(campaign_yaml(extra="compliance: {caps: {per_day: 2, per_week: 3}}\n"),
                              "c.yaml")
RULES = CAMPAIGN.compliance
LA = compliance.zone("America/Los_Angeles", "UTC")


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _facts(**overrides) -> DialFacts:
    values = dict(patient_id=7, phone_e164="+15555550107", time_zone="America/Los_Angeles", attempts=0,
                  last_result=None, last_attempt_at=None, recent_attempts=())
    return DialFacts(**(values | overrides))


def test_given_a_patient_in_los_angeles_when_it_is_0759_there_then_refused_and_at_0800_allowed():
    # 2026-11-24: Los Angeles is UTC-8, so 08:00 local is 16:00 UTC.
    assert compliance.outside_window(RULES, _utc(2026, 11, 24, 15, 59), LA) == compliance.OUTSIDE_WINDOW
    assert compliance.outside_window(RULES, _utc(2026, 11, 24, 16, 0), LA) is None
    assert compliance.refusal(CAMPAIGN, _facts(), [], _utc(2026, 11, 24, 15, 59), "America/New_York") == \
        compliance.OUTSIDE_WINDOW
    assert compliance.refusal(CAMPAIGN, _facts(), [], _utc(2026, 11, 24, 16, 0), "America/New_York") is None


def test_given_the_window_end_when_reached_then_refused():
    assert compliance.outside_window(RULES, _utc(2026, 11, 25, 4, 59), LA) is None        # 20:59 local
    assert compliance.outside_window(RULES, _utc(2026, 11, 25, 5, 0), LA) == compliance.OUTSIDE_WINDOW


def test_given_a_patient_without_time_zone_then_the_hospitals_is_used():
    facts = _facts(time_zone=None)
    # 13:00 UTC = 08:00 in New York, 05:00 in Los Angeles.
    assert compliance.refusal(CAMPAIGN, facts, [], _utc(2026, 11, 24, 13, 0), "America/New_York") is None
    assert compliance.refusal(CAMPAIGN, facts, [], _utc(2026, 11, 24, 13, 0), "America/Los_Angeles") == \
        compliance.OUTSIDE_WINDOW


def test_given_do_not_call_entries_then_number_patient_and_kind_are_honoured():
    now = _utc(2026, 11, 24, 18, 0)
    by_number = DncEntry("+15555550107", None, None)
    by_patient = DncEntry(None, 7, None)
    surveys_only = DncEntry(None, 7, "satisfaction_survey")
    reminders_only = DncEntry(None, 7, "appointment_reminder")
    for entries, expected in (([by_number], "do_not_call"), ([by_patient], "do_not_call"),
                              ([surveys_only], None), ([reminders_only], "do_not_call"),
                              ([DncEntry("+15555559999", 8, None)], None)):
        assert compliance.refusal(CAMPAIGN, _facts(), entries, now, "UTC") == expected, entries


def test_given_attempts_used_up_then_max_attempts():
    assert compliance.max_attempts(RULES, 2) is None
    assert compliance.max_attempts(RULES, 3) == compliance.MAX_ATTEMPTS


def test_given_the_last_result_then_the_retry_wait_depends_on_it():
    last = _utc(2026, 11, 24, 18, 0)
    assert compliance.retry_wait(RULES, "busy", last, last + timedelta(minutes=14)) == compliance.RETRY_WAIT
    assert compliance.retry_wait(RULES, "busy", last, last + timedelta(minutes=15)) is None
    waited = compliance.retry_wait(RULES, "no_answer", last, last + timedelta(minutes=15))
    assert waited == compliance.RETRY_WAIT
    assert compliance.retry_wait(RULES, "no_answer", last, last + timedelta(hours=2)) is None


def test_given_attempts_of_other_campaigns_then_caps_count_the_patients_local_day_and_week():
    # Tuesday 2026-11-24 18:00 UTC = 10:00 in Los Angeles. 07:30 UTC was still Monday there.
    now = _utc(2026, 11, 24, 18, 0)
    monday_night = _utc(2026, 11, 24, 7, 30)
    this_morning = _utc(2026, 11, 24, 16, 30)
    assert compliance.caps(RULES, [monday_night, this_morning], now, LA) is None       # 1 today (local)
    assert compliance.caps(RULES, [this_morning, this_morning], now, LA) == compliance.CAP_DAY
    last_week = _utc(2026, 11, 20, 18, 0)                                               # Friday before
    assert compliance.caps(RULES, [last_week] * 5 + [monday_night], now, LA) is None
    assert compliance.caps(RULES, [monday_night, monday_night, this_morning], now, LA) == compliance.CAP_WEEK

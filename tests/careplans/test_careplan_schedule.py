"""The care plan's schedule: RRULEs (dateutil) over the hospital's calendar, month ends and DST. Pure."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.careplans import schedule
from callcenter.careplans.exceptions import CarePlanError

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("typed", "stored"), [
    ("every 14 days", "FREQ=DAILY;INTERVAL=14"), ("Every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
    ("monthly", "FREQ=MONTHLY"), ("every 3 months", "FREQ=MONTHLY;INTERVAL=3"),
    ("FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO"),
    ("rrule:freq=daily;interval=7", "FREQ=DAILY;INTERVAL=7")])
def test_given_a_typed_schedule_when_normalized_then_the_stored_rrule(typed, stored):
    assert schedule.normalize(typed) == stored


@pytest.mark.parametrize(("typed", "says"), [
    ("FREQ=DAILY;COUNT=3", "without DTSTART, UNTIL or COUNT"), ("FREQ=HOURLY", "planned by day"),
    ("every fortnight", "give an RRULE"), ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be 1"),
    ("FREQ=DAILY;BYDAY=XX", "not a valid RRULE")])
def test_given_a_bad_schedule_when_normalized_then_refused_saying_why(typed, says):
    with pytest.raises(CarePlanError) as caught:
        schedule.normalize(typed)
    assert says in str(caught.value)


def test_given_every_14_days_when_a_month_is_planned_then_every_second_week_from_the_start():
    days = schedule.due_days("FREQ=DAILY;INTERVAL=14", date(2026, 11, 3), None, date(2026, 12, 31))

    assert days == (date(2026, 11, 3), date(2026, 11, 17), date(2026, 12, 1), date(2026, 12, 15),
                    date(2026, 12, 29))


def test_given_monthly_from_the_31st_when_planned_over_a_year_then_each_shorter_month_at_its_last_day():
    days = schedule.due_days("FREQ=MONTHLY", date(2027, 1, 31), None, date(2028, 3, 31))

    assert days[:5] == (date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30),
                        date(2027, 5, 31))
    assert date(2028, 2, 29) in days and len(days) == 15   # a leap February ends on the 29th


def test_given_monthly_from_the_30th_when_planned_then_february_at_its_end_and_others_on_the_30th():
    days = schedule.due_days("FREQ=MONTHLY", date(2026, 11, 30), None, date(2027, 3, 31))

    assert days == (date(2026, 11, 30), date(2026, 12, 30), date(2027, 1, 30), date(2027, 2, 28),
                    date(2027, 3, 30))


def test_given_days_already_planned_when_planned_again_then_only_later_days_before_the_end():
    days = schedule.due_days("FREQ=WEEKLY", date(2026, 11, 2), date(2026, 11, 16), date(2026, 12, 31),
                             date(2026, 12, 1))

    assert days == (date(2026, 11, 23), date(2026, 11, 30))


def test_given_the_dst_change_in_the_hospital_zone_when_due_then_0900_local_on_both_sides():
    before = schedule.due_at(date(2027, 3, 13), NEW_YORK)   # EST, UTC-5
    after = schedule.due_at(date(2027, 3, 14), NEW_YORK)    # the change's day: EDT, UTC-4

    assert before.astimezone(UTC) == datetime(2027, 3, 13, 14, 0, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2027, 3, 14, 13, 0, tzinfo=UTC)
    autumn = schedule.due_at(date(2026, 11, 1), NEW_YORK)
    assert autumn.astimezone(UTC) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


def test_given_a_time_just_after_midnight_utc_when_the_hospital_day_is_asked_then_new_yorks_date():
    assert schedule.hospital_today(datetime(2026, 12, 1, 3, 0, tzinfo=UTC), NEW_YORK) == date(2026, 11, 30)

"""Planning, claims and outcomes on SQLite and PostgreSQL, with a controlled clock.

Clock: Tuesday 2026-11-24 15:00 UTC = 10:00 at the hospital (New York) = 07:00 in Los Angeles.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select, update

from callcenter.campaigns.services import CampaignService
from callcenter.db.database import Database
from callcenter.db.models import (
    Appointment,
    CampaignAttempt,
    CampaignTarget,
    DialClaim,
    DoNotCall,
    Encounter,
    Patient,
)

from .conftest import (
    NOW,
    TOMORROW_10,
    add_appointment,
    add_campaign,
    add_chronic,
    add_discharge,
    add_patient,
    campaign_yaml,
)

REMINDERS = campaign_yaml(extra="compliance: {caps: {per_day: 5, per_week: 10}}\n")


async def _reminders(db, campaigns, tmp_path, patients: int, **patient_options) -> list[int]:
    with db.session() as s:
        ids = [add_patient(s, n, **patient_options).id for n in range(patients)]
        for pid in ids:
            s.add(Appointment(patient_id=pid, department="Cardiology", starts_at=TOMORROW_10,
                              status="booked"))
    await add_campaign(campaigns, tmp_path, REMINDERS)
    await campaigns.plan("reminders")
    return ids


def _targets(db) -> dict[int, CampaignTarget]:
    with db.session() as s:
        return {t.patient_id: t for t in s.scalars(select(CampaignTarget))}


async def test_given_appointments_tomorrow_when_planned_twice_then_targets_are_made_once(db, campaigns,
                                                                                         tmp_path):
    with db.session() as s:
        for n in range(3):
            add_appointment(s, add_patient(s, n), TOMORROW_10)
        add_appointment(s, add_patient(s, 10), TOMORROW_10 + timedelta(days=1))  # the day after: no target
        add_appointment(s, add_patient(s, 11), TOMORROW_10, status="cancelled")    # cancelled: not a target
    await add_campaign(campaigns, tmp_path, REMINDERS)

    first = await campaigns.plan("reminders")
    second = await campaigns.plan("reminders")

    assert first.created == 3 and second.created == 0 and second.pending == 3


async def test_given_a_patient_without_phone_when_planned_then_the_target_is_excluded(db, campaigns,
                                                                                      tmp_path):
    with db.session() as s:
        add_appointment(s, add_patient(s, 1, phone=None), TOMORROW_10)
    await add_campaign(campaigns, tmp_path, REMINDERS)

    report = await campaigns.plan("reminders")

    assert report.created == 1 and report.pending == 0 and report.no_phone == 1


async def test_given_an_appointment_cancelled_after_planning_when_planned_again_then_target_expired(
        db, campaigns, tmp_path):
    await _reminders(db, campaigns, tmp_path, 2)
    with db.session() as s:
        s.execute(update(Appointment).where(Appointment.patient_id == 1).values(status="cancelled"))

    report = await campaigns.plan("reminders")

    assert report.expired == 1 and report.pending == 1
    assert await campaigns.claim("reminders", "w", 10) and _targets(db)[1].status == "expired"


async def test_given_discharges_when_planned_then_only_the_department_and_recent_ones(db, campaigns,
                                                                                       tmp_path):
    with db.session() as s:
        add_discharge(s, add_patient(s, 1), NOW - timedelta(days=1))
        add_discharge(s, add_patient(s, 2), NOW - timedelta(days=3))                  # too old
        add_discharge(s, add_patient(s, 3), NOW - timedelta(hours=5), department="Oncology")
    text = campaign_yaml("followup", kind="discharge_followup", flow="discharge-followup",
                         target="{rule: discharged, department: cardiology, within_days: 2}")
    await add_campaign(campaigns, tmp_path, text)

    report = await campaigns.plan("followup")

    assert report.created == 1 and list(_targets(db)) == [1]


async def test_given_chronic_patients_when_one_was_reached_recently_then_only_the_other_is_planned(
        db, campaigns, tmp_path):
    with db.session() as s:
        add_chronic(s, add_patient(s, 1))
        add_chronic(s, add_patient(s, 2))
        add_patient(s, 3)                                                           # not chronic
    text = campaign_yaml("chronic", kind="chronic_check", mode="progressive",
                         target="{rule: chronic_not_reached, days: 30}")
    await add_campaign(campaigns, tmp_path, text)
    await campaigns.plan("chronic")
    [job] = [j for j in await campaigns.claim("chronic", "w", 5) if j.patient_id == 1]
    await campaigns.finish(job.attempt_id, "person", answered_at=NOW, outcome="completed")

    assert (await campaigns.plan("chronic")).created == 0
    assert _targets(db)[1].status == "completed"


async def test_given_a_patient_in_los_angeles_when_0759_there_then_not_dialed_and_at_0800_dialed(
        db, campaigns, tmp_path, clock):
    await _reminders(db, campaigns, tmp_path, 1, time_zone="America/Los_Angeles")
    with db.session() as s:
        add_appointment(s, add_patient(s, 50), TOMORROW_10)            # no time zone: the hospital's (10:00)
    await campaigns.plan("reminders")
    clock.now = NOW + timedelta(minutes=59)                            # 07:59 in Los Angeles

    held_early, held_on_time = Counter(), Counter()
    early = await campaigns.claim("reminders", "w", 10, held=held_early)
    clock.now = NOW + timedelta(hours=1)                               # 08:00 in Los Angeles
    on_time = await campaigns.claim("reminders", "w", 10, held=held_on_time)

    assert [j.patient_id for j in early] == [2]
    assert [j.patient_id for j in on_time] == [1]
    assert held_early == {"outside_window": 1} and held_on_time == {}   # why the run dialed fewer


async def test_given_do_not_call_by_number_patient_or_kind_then_those_targets_are_excluded(db, campaigns,
                                                                                         tmp_path):
    await _reminders(db, campaigns, tmp_path, 4)
    with db.session() as s:
        s.add(DoNotCall(e164="+15550000000", source="admin"))                       # patient 1's number
        s.add(DoNotCall(patient_id=2, source="patient_request"))
        s.add(DoNotCall(patient_id=3, campaign_kind="satisfaction_survey", source="ivr_key"))  # other kind

    jobs = await campaigns.claim("reminders", "w", 10)

    assert sorted(j.patient_id for j in jobs) == [3, 4]
    targets = _targets(db)
    assert targets[1].status == targets[2].status == "excluded"


async def test_given_an_opt_out_in_a_call_then_the_patient_is_never_dialed_again_by_that_kind(
        db, campaigns, tmp_path, clock):
    [patient] = await _reminders(db, campaigns, tmp_path, 1)
    [job] = await campaigns.claim("reminders", "w", 1)
    await campaigns.finish(job.attempt_id, "person", answered_at=NOW, keys="9", outcome="opted_out")
    with db.session() as s:                                  # a second appointment tomorrow: a new target
        s.add(Appointment(patient_id=patient, department="Cardiology",
                          starts_at=TOMORROW_10 + timedelta(hours=2), status="booked"))
    assert (await campaigns.plan("reminders")).created == 1
    clock.advance(hours=1)

    assert await campaigns.claim("reminders", "w", 10) == []
    with db.session() as s:
        entry = s.scalars(select(DoNotCall)).one()
        assert (entry.patient_id, entry.campaign_kind, entry.source) == (patient, "appointment_reminder",
                                                                         "ivr_key")
        statuses = sorted(s.scalars(select(CampaignTarget.status)))
    assert statuses == ["excluded", "opted_out"]


async def test_given_caps_when_another_campaign_called_the_patient_today_then_refused_until_tomorrow(
        db, campaigns, tmp_path, clock):
    [patient] = await _reminders(db, campaigns, tmp_path, 1)
    with db.session() as s:
        s.add(Encounter(patient_id=patient, kind="admission", department="Cardiology",
                        started_at=NOW - timedelta(days=2), discharged_at=NOW - timedelta(hours=3)))
    path = tmp_path / "followup.yaml"
    path.write_text(campaign_yaml("followup", kind="discharge_followup", flow="discharge-followup",
                                  target="{rule: discharged, within_days: 2}",
                                  extra="compliance: {caps: {per_day: 1, per_week: 2}}\n"))
    await campaigns.load_file(path)
    await campaigns.plan("followup")
    [reminder] = await campaigns.claim("reminders", "w", 1)
    await campaigns.finish(reminder.attempt_id, "person", answered_at=NOW, outcome="confirmed")

    today = await campaigns.claim("followup", "w", 10)
    clock.advance(days=1)
    tomorrow = await campaigns.claim("followup", "w", 10)

    assert today == [] and [j.patient_id for j in tomorrow] == [patient]


async def test_given_results_when_finished_then_retry_after_by_result_and_failed_after_max_attempts(
        db, campaigns, tmp_path, clock):
    await _reminders(db, campaigns, tmp_path, 1)
    [first] = await campaigns.claim("reminders", "w", 1)
    await campaigns.finish(first.attempt_id, "busy")
    clock.advance(minutes=14)
    assert await campaigns.claim("reminders", "w", 1) == []                # busy: 15 minutes
    clock.advance(minutes=1)
    [second] = await campaigns.claim("reminders", "w", 1)
    await campaigns.finish(second.attempt_id, "no_answer")
    clock.advance(minutes=119)
    assert await campaigns.claim("reminders", "w", 1) == []                # no answer: 2 hours
    clock.advance(minutes=1)
    [third] = await campaigns.claim("reminders", "w", 1)
    await campaigns.finish(third.attempt_id, "machine", answered_at=clock.now, amd_status="MACHINE",
                           outcome="message_left")

    target = _targets(db)[1]
    assert (target.status, target.attempts, target.last_result) == ("failed", 3, "machine")
    report = await campaigns.report("reminders")
    assert report["attempts_by_result"] == {"busy": 1, "no_answer": 1, "machine": 1}
    assert report["messages_left"] == 1 and report["reached"] == 0


async def test_given_a_crashed_worker_when_its_claim_expires_then_the_target_is_reclaimed(db, campaigns,
                                                                                        tmp_path, clock):
    await _reminders(db, campaigns, tmp_path, 1)
    [lost] = await campaigns.claim("reminders", "crashed", 1)
    assert await campaigns.claim("reminders", "other", 1) == []              # claimed: nobody else dials

    clock.advance(seconds=campaigns.claim_ttl.total_seconds() + 1)
    [again] = await campaigns.claim("reminders", "other", 1)

    assert again.target_id == lost.target_id and again.worker == "other"
    with db.session() as s:
        attempt = s.get(CampaignAttempt, lost.attempt_id)
        assert (attempt.result, attempt.outcome) == ("failed", "claim_expired")
        assert s.scalar(select(DialClaim.worker)) == "other"


def test_given_two_workers_with_their_own_databases_when_claiming_concurrently_then_never_the_same_patient(
        db, database_url, cfg, tmp_path, flows_dir):
    """Two threads, each with its own Database (own connections), claim and finish in rounds until nothing
    is left. A patient may have two targets (two appointments): still never dialed by both at once."""
    import asyncio
    patients = 60
    with db.session() as s:
        for n in range(patients):
            patient = add_patient(s, n)
            add_appointment(s, patient, TOMORROW_10)
            if n % 3 == 0:
                add_appointment(s, patient, TOMORROW_10 + timedelta(hours=1))

    async def setup() -> None:
        service = CampaignService(db, _NoEvents(), cfg, clock=lambda: NOW, flows_dir=flows_dir)
        path = tmp_path / "c.yaml"
        path.write_text(REMINDERS)
        await service.load_file(path)
        await service.plan("reminders")
    asyncio.run(setup())

    live: dict[int, str] = {}
    lock = threading.Lock()
    claimed: list[tuple[str, int, int]] = []
    overlaps: list[int] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        own = Database(database_url, max_workers=1)
        service = CampaignService(own, _NoEvents(), cfg, clock=lambda: NOW, flows_dir=flows_dir)

        async def rounds() -> None:
            idle = 0
            while idle < 3:
                jobs = await service.claim("reminders", name, 4)
                idle = 0 if jobs else idle + 1
                with lock:
                    for job in jobs:
                        if job.patient_id in live:
                            overlaps.append(job.patient_id)
                        live[job.patient_id] = name
                        claimed.append((name, job.target_id, job.patient_id))
                await asyncio.sleep(0.001)
                for job in jobs:
                    with lock:
                        del live[job.patient_id]
                    await service.finish(job.attempt_id, "person", answered_at=NOW, outcome="confirmed")
        try:
            asyncio.run(rounds())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert not errors, errors
    assert overlaps == []
    target_ids = [target for _, target, _ in claimed]
    assert len(target_ids) == len(set(target_ids)) == patients + patients // 3
    assert {name for name, _, _ in claimed} == {"w0", "w1"}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DialClaim)) == 0
        assert set(s.scalars(select(CampaignTarget.status))) == {"completed"}


class _NoEvents:
    """The event log is not what this test is about; each thread runs its own loop."""

    def event(self, *args, **kwargs) -> None:
        pass


async def test_given_pending_target_when_patient_died_before_the_claim_then_closed_and_never_dialed(
        db, campaigns, tmp_path):
    """A death reported by the hospital's feed (issue 15) after planning: the claim closes the target."""
    ids = await _reminders(db, campaigns, tmp_path, 2)
    with db.session() as s:
        s.execute(update(Patient).where(Patient.id == ids[0]).values(deceased=True))

    jobs = await campaigns.claim("reminders", "w1", 10, NOW)

    assert [job.patient_id for job in jobs] == [ids[1]]
    closed = _targets(db)[ids[0]]
    assert (closed.status, closed.outcome["reason"]) == ("excluded", "deceased")

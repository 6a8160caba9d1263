"""Automated campaigns dialing real simulated phones through the sandbox Asterisk (issue 6).

The patients' phones are Local/<number>@sim-campaign/n; each number behaves as the Asterisk GLOBAL variable
SIM_CAMPAIGN_<digits> says (person / machine / noanswer / busy), set over ARI by the test. AMD runs in the
[campaign-amd] dialplan. A machine records what it hears after its beep (campaign-heard-<digits>), so the
message it got can be checked. Clocks are controlled (they run at real speed from a chosen instant), so
calling windows and retry times are tested without waiting hours.
"""
from __future__ import annotations

import array
import asyncio
import dataclasses
import io
import time
import wave
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from callcenter.campaigns.actions import CampaignActions
from callcenter.campaigns.dialing.automated import Dialer
from callcenter.campaigns.message import message_media
from callcenter.campaigns.services import CampaignService
from callcenter.db.database import Database
from callcenter.db.models import (
    Appointment,
    Call,
    CallEvent,
    CampaignAttempt,
    CampaignTarget,
    DoNotCall,
    Patient,
    PatientPhone,
)
from callcenter.demo import seed_demo
from callcenter.ivr.catalog import load_catalog

from .harness import ROOT, start_contact_center
from .harness import test_config as make_config

# Tuesday 2026-11-24 15:00 UTC = 10:00 in New York (the hospital's zone): inside the default window.
START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TOMORROW_10 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


class RunningClock:
    """Controlled time that still runs: `at` plus the real time elapsed; `advance` jumps ahead."""

    def __init__(self, at: datetime):
        self.at, self.t0 = at, time.monotonic()

    def __call__(self) -> datetime:
        return self.at + timedelta(seconds=time.monotonic() - self.t0)

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


def campaign_text(name: str, *, cps: float = 2, channels: int = 10) -> str:
    return f"""\
name: {name}
kind: appointment_reminder
title: Reminder test
version: 1
target: {{rule: appointments, days_ahead: 1, department: Dialing Test}}
mode: automated
flow: appointment-reminder
caller_id: '"City Hospital" <+15555550100>'
compliance:
  window: {{start: "08:00", end: "21:00"}}
  max_attempts: 2
  retry_after: {{no_answer: 2h, busy: 15m, machine: 1h, failed: 1h, abandoned: 1h}}
  caps: {{per_day: 3, per_week: 5}}
  machine: leave_message
pacing: {{max_channels: {channels}, calls_per_second: {cps}, abandon_cap: 0.03}}
"""


def dialer_for(center, clock, worker: str) -> tuple[Dialer, CampaignService]:
    s = center.s
    campaigns = CampaignService(s.db, s.events, s.cfg, clock=clock)
    return Dialer(s.router, campaigns, CampaignActions(s.db, s.events, clock=clock), s.cfg, clock=clock,
                  worker=worker), campaigns


async def add_patients(center, behaviours: list[str], *, first: int, keys: str = "", time_zone=None,
                       ) -> dict[str, int]:
    """One patient per behaviour with a booked appointment tomorrow; their phones set up in Asterisk."""
    ids = {}
    for n, behaviour in enumerate(behaviours, start=first):
        digits = f"1555{n:07d}"
        await center.ari.set_global_variable(f"SIM_CAMPAIGN_{digits}", behaviour)
        await center.ari.set_global_variable(f"SIM_KEYS_{digits}", keys if behaviour == "person" else "")
        ids[f"{behaviour}-{n}"] = await center.s.db.run(_add_patient, n, "+" + digits, time_zone)
    return ids


def _add_patient(session, n: int, e164: str, time_zone) -> int:
    patient = Patient(mrn=f"C{n:07d}", given_name="Test", family_name=f"Campaign{n}",
                      date_of_birth=datetime(1960, 1, 1).date(), language="en", time_zone=time_zone)
    patient.phones.append(PatientPhone(e164=e164, is_primary=True))
    session.add(patient)
    session.flush()
    session.add(Appointment(patient_id=patient.id, department="Dialing Test", starts_at=TOMORROW_10,
                            status="booked"))
    return patient.id


async def attempts_by_patient(center) -> dict[int, list[CampaignAttempt]]:
    await center.s.events.flush()
    query = select(CampaignAttempt).order_by(CampaignAttempt.id)
    rows = await center.s.db.run(lambda s: s.scalars(query).all())
    out: dict[int, list[CampaignAttempt]] = {}
    for row in rows:
        out.setdefault(row.patient_id, []).append(row)
    return out


async def targets(center) -> dict[int, CampaignTarget]:
    rows = await center.s.db.run(lambda s: s.scalars(select(CampaignTarget)).all())
    return {row.patient_id: row for row in rows}


async def heard(center, digits: str) -> bytes:
    name = f"campaign-heard-{digits}"

    async def fetch():
        try:
            return await center.ari.stored_recording_file(name)
        except Exception:
            return None
    data = await center.wait_for(fetch, 15, "the answering machine's tape")
    for stored in (name, f"campaign-tape-{digits}"):
        try:
            await center.ari.delete_stored_recording(stored)
        except Exception:
            pass
    return data


def voiced_seconds(wav_bytes: bytes) -> float:
    """Seconds of 20 ms frames louder than quiet line noise."""
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate, samples = w.getframerate(), array.array("h", w.readframes(w.getnframes()))
    frame = rate // 50
    loud = 0
    for i in range(0, len(samples) - frame, frame):
        chunk = samples[i:i + frame]
        if (sum(x * x for x in chunk) / frame) ** 0.5 > 300:
            loud += 1
    return loud / 50


async def test_given_person_machine_no_answer_and_busy_phones_when_campaign_runs_then_attempts_amd_message_and_retries_are_right(  # noqa: E501
        campaign_center):
    center = campaign_center
    clock = RunningClock(START)
    dialer, campaigns = dialer_for(center, clock, "worker-1")
    ids = await add_patients(center, ["person", "machine", "noanswer", "busy"], first=100, keys="1")
    person, machine = ids["person-100"], ids["machine-101"]
    noanswer, busy = ids["noanswer-102"], ids["busy-103"]
    for stale in ("15550000101",):
        try:
            await center.ari.delete_stored_recording(f"campaign-heard-{stale}")
        except Exception:
            pass
    campaign = await campaigns.save_text("reminder-dial", campaign_text("reminder-dial"), None)
    await campaigns.plan(campaign.name)

    report = await asyncio.wait_for(dialer.run(campaign.name), 120)

    assert report.dialed == 4 and report.results == {"person": 1, "machine": 1, "no_answer": 1, "busy": 1}
    attempts = await attempts_by_patient(center)
    p, m, n, b = (attempts[i][0] for i in (person, machine, noanswer, busy))
    assert (p.result, p.amd_status, p.keys, p.outcome) == ("person", "HUMAN", "1", "confirmed")
    assert p.answered_at is not None and p.duration_seconds and p.duration_seconds > 3
    assert (m.result, m.amd_status, m.outcome) == ("machine", "MACHINE", "message_left")
    assert m.amd_cause.startswith("LONGGREETING") and m.duration_seconds > 5
    assert (n.result, n.amd_status, n.answered_at) == ("no_answer", None, None)
    assert (b.result, b.amd_status, b.answered_at) == ("busy", None, None)
    assert all(a.worker == "worker-1" and a.call_id for a in (p, m, n, b))
    status = await center.s.db.run(lambda s: s.get(Appointment, _appointment_id(s, person)).status)
    assert status == "confirmed"

    # The machine heard the message after its beep: hospital name and callback number, nothing else.
    tape = await heard(center, "15550000101")
    assert voiced_seconds(tape) > 2.0, "the answering machine recorded no message"
    events = await center.events(m.call_id)
    played = [e.data["prompts"] for e in events if e.type == "campaign_message_started"]
    assert played == [message_media(center.s.cfg.site)]
    catalog = load_catalog(ROOT / "ivr_flows" / "prompts.yaml")
    words = " ".join(catalog.text(media.split("/", 1)[1], "en").text for media in played[0]
                     if media.startswith("sound:callcenter/campaign-message"))
    assert "appointment" not in words.lower() and "dialing test" not in words.lower()
    assert [e.data["outcome"] for e in events if e.type == "campaign_outcome"] == ["message_left"]
    answered = [e.data for e in events if e.type == "campaign_answered"]
    assert answered and answered[0]["amd_status"] == "MACHINE"

    # Calls: outbound rows of the campaign, one per attempt; the retries are due per retry_after.
    query = select(Call).where(Call.campaign_name == campaign.name)
    calls = await center.s.db.run(lambda s: s.scalars(query).all())
    assert len(calls) == 4 and {c.direction for c in calls} == {"outbound"}
    rows = await targets(center)
    assert rows[person].status == "completed"
    for patient_id, after in ((noanswer, timedelta(hours=2)), (busy, timedelta(minutes=15)),
                              (machine, timedelta(hours=1))):
        row = rows[patient_id]
        assert row.status == "pending" and row.attempts == 1
        ended = attempts[patient_id][0].ended_at
        assert abs((row.next_attempt_at - ended) - after) < timedelta(seconds=5)

    # Not due yet: a second run right away dials nobody.
    again = await asyncio.wait_for(dialer.run(campaign.name), 30)
    assert again.dialed == 0 and again.held_back == {}   # not due yet: no rule had to hold them back

    # Three hours later every retry is due; the second attempt is the last (max_attempts 2).
    clock.advance(hours=3)
    retry = await asyncio.wait_for(dialer.run(campaign.name), 120)
    assert retry.dialed == 3 and retry.results == {"machine": 1, "no_answer": 1, "busy": 1}
    rows = await targets(center)
    assert {rows[i].status for i in (machine, noanswer, busy)} == {"failed"}
    assert [a.id for a in (await attempts_by_patient(center))[person]] == [attempts[person][0].id]
    await heard(center, "15550000101")


def _appointment_id(session, patient_id: int) -> int:
    return session.scalar(select(Appointment.id).where(Appointment.patient_id == patient_id))


async def test_given_patients_outside_window_on_dnc_or_opted_out_when_campaign_runs_then_nobody_is_dialed(
        campaign_center):
    center = campaign_center
    clock = RunningClock(START)
    dialer, campaigns = dialer_for(center, clock, "worker-1")
    # 15:00 UTC is midnight in Tokyo: outside that patient's own window.
    late = await add_patients(center, ["busy"], first=200, time_zone="Asia/Tokyo")
    dnc = await add_patients(center, ["busy", "busy"], first=201)
    number_dnc, opted_out = dnc["busy-201"], dnc["busy-202"]

    def block(session):
        session.add(DoNotCall(e164="+15550000201", source="admin", reason="test"))
        session.add(DoNotCall(patient_id=opted_out, source="ivr_key", reason="test opt-out"))
    await center.s.db.run(block)
    campaign = await campaigns.save_text("reminder-blocked", campaign_text("reminder-blocked"), None)
    await campaigns.plan(campaign.name)

    report = await asyncio.wait_for(dialer.run(campaign.name), 30)

    assert report.dialed == 0 and report.held_back == {"outside_window": 1}  # DNC/opted out: closed, not held
    calls = await center.s.db.run(lambda s: s.scalar(select(func.count()).select_from(Call)))
    assert calls == 0
    assert await attempts_by_patient(center) == {}
    rows = await targets(center)
    assert rows[late["busy-200"]].status == "pending"  # dialed tomorrow morning, Tokyo time
    assert rows[number_dnc].status != "completed" and rows[opted_out].status != "completed"

    # The same patient inside the window (09:00 in Tokyo) is dialed.
    clock.advance(hours=9)
    report = await asyncio.wait_for(dialer.run(campaign.name), 60)
    assert report.dialed == 1 and report.results == {"busy": 1}
    assert set(await attempts_by_patient(center)) == {late["busy-200"]}


async def test_given_two_controllers_when_both_run_the_same_campaign_then_no_patient_is_dialed_twice(
        asterisk, database_url, tmp_path):
    db = Database(database_url)
    db.upgrade()
    with db.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    db.close()
    centers, closes = [], []
    for app in ("callcenter", "callcenter-w2"):
        cfg = make_config(tmp_path / app, database_url, asterisk, campaign_ring_timeout=3)
        cfg.ari.app = app
        cfg.site = dataclasses.replace(cfg.site, time_zone="America/New_York")
        center, close = await start_contact_center(cfg)
        centers.append(center)
        closes.append(close)
    try:
        clock = RunningClock(START)
        behaviours = ["busy", "noanswer"] * 5
        await add_patients(centers[0], behaviours, first=300)
        dialers = [dialer_for(c, clock, f"worker-{i}")[0] for i, c in enumerate(centers, start=1)]
        campaigns = dialer_for(centers[0], clock, "x")[1]
        campaign = await campaigns.save_text("reminder-two", campaign_text("reminder-two", cps=4, channels=3),
                                             None)
        await campaigns.plan(campaign.name)

        reports = await asyncio.wait_for(asyncio.gather(*(d.run(campaign.name) for d in dialers)), 120)

        assert sum(r.dialed for r in reports) == len(behaviours)
        assert all(r.dialed > 0 for r in reports), [r.dialed for r in reports]
        attempts = await attempts_by_patient(centers[0])
        assert len(attempts) == len(behaviours)
        assert all(len(rows) == 1 for rows in attempts.values())
        calls = await centers[0].s.db.run(lambda s: s.execute(
            select(Call.patient_id, func.count()).group_by(Call.patient_id)).all())
        assert len(calls) == len(behaviours) and all(count == 1 for _, count in calls)
        started = await centers[0].s.db.run(lambda s: s.scalar(
            select(func.count()).select_from(CallEvent).where(CallEvent.type == "campaign_dialed")))
        assert started == len(behaviours)
    finally:
        for close in closes:
            await close()

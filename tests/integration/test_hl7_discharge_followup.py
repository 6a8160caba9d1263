"""A day of the hospital's ADT feed over MLLP into the running contact center, then the discharge follow-up
call it caused, placed for real through the sandbox Asterisk (issue 15).

The surgery follow-up campaign is never planned here: its targets can only come from the discharges the feed
applied. The patient discharged, un-discharged (A13) and discharged again answers in person and says yes to
the first red-flag question; the other surgery patients' phones are busy.
"""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import hl7
import pytest
from sqlalchemy import select

from callcenter.campaigns.actions import CampaignActions
from callcenter.campaigns.dialing.automated import Dialer
from callcenter.campaigns.services import CampaignService
from callcenter.db.models import Call, CampaignAttempt, CampaignTarget, InboundMessage
from callcenter.hl7.client import exchange
from callcenter.patients.services import find_patient
from tests.hl7.messages import DEPARTMENTS, day_of_adt

from .harness import seeded_center

FOLLOWUP = """\
name: surgery-followup
kind: discharge_followup
title: Surgery discharge follow-up
version: 1
target: {rule: discharged, department: Surgery, within_days: 2}
mode: automated
flow: discharge-followup
caller_id: '"City Hospital" <+15555550100>'
compliance:
  window: {start: "00:00", end: "23:59"}
  max_attempts: 2
  retry_after: {no_answer: 2h, busy: 15m, machine: 1h, failed: 1h, abandoned: 1h}
  caps: {per_day: 3, per_week: 5}
  machine: hang_up
pacing: {max_channels: 5, calls_per_second: 2, abandon_cap: 0.03}
"""
SURGERY = [i for i in range(24) if DEPARTMENTS[i % len(DEPARTMENTS)] == "Surgery"]  # 3, 9, 15, 21
ANSWERS = 3       # discharged, discharge cancelled (A13), discharged again: answers and says yes
CANCELLED = 21    # admission cancelled (A11): never discharged, never called


def _with_feed(cfg) -> None:
    cfg.site = dataclasses.replace(cfg.site, time_zone="America/New_York")
    cfg.hl7 = dataclasses.replace(cfg.hl7, listen="127.0.0.1:0", mrn_system="GENHOSP")


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    async with seeded_center(asterisk, database_url, tmp_path, _with_feed, campaign_ring_timeout=5) as center:
        yield center


async def test_given_a_day_of_adt_over_mllp_when_a_surgery_patient_is_discharged_then_followup_call_is_placed(
        center):
    s = center.s
    campaigns = CampaignService(s.db, s.events, s.cfg)
    await campaigns.save_text("surgery-followup", FOLLOWUP, None)
    for i in SURGERY:
        digits = f"1555000{2000 + i}"
        behaviour, keys = ("person", "1") if i == ANSWERS else ("busy", "")
        for name, value in ((f"SIM_CAMPAIGN_{digits}", behaviour), (f"SIM_KEYS_{digits}", keys),
                            (f"SIM_WAIT_{digits}", "1")):
            await center.ari.set_global_variable(name, value)

    day = day_of_adt(datetime.now(UTC) - timedelta(hours=20))
    acks = [a async for a in exchange("127.0.0.1", s.hl7_listener.port, [m for _, m in day], timeout=60)]

    codes = [str(hl7.parse(a.decode()).segment("MSA")(1)) for a in acks]
    assert codes == ["AA"] * len(day)
    rows = await s.db.run(lambda x: x.scalars(select(InboundMessage.outcome)).all())
    assert rows == ["applied"] * len(day)
    patients = {i: (await s.db.run(find_patient, f"M{2000 + i}")).id for i in SURGERY}
    targets = await s.db.run(lambda x: x.scalars(select(CampaignTarget).where(
        CampaignTarget.campaign_name == "surgery-followup")).all())
    assert sorted((t.patient_id, t.status) for t in targets) == sorted(
        (patients[i], "pending") for i in SURGERY if i != CANCELLED)

    dialer = Dialer(s.router, campaigns, CampaignActions(s.db, s.events), s.cfg, worker="hl7-day")
    report = await asyncio.wait_for(dialer.run("surgery-followup"), 180)

    assert report.results == {"person": 1, "busy": 2}
    await s.events.flush()
    attempts = {a.patient_id: a for a in await s.db.run(lambda x: x.scalars(select(CampaignAttempt).where(
        CampaignAttempt.campaign_name == "surgery-followup")).all())}
    answered = attempts[patients[ANSWERS]]
    assert (answered.result, answered.outcome) == ("person", "red_flag")
    call = await s.db.run(lambda x: x.get(Call, answered.call_id))
    assert (call.patient_id, call.direction) == (patients[ANSWERS], "outbound")
    answers = [e.data["answer"] for e in await center.events(call.id) if e.type == "triage_answered"]
    assert answers == ["yes"]

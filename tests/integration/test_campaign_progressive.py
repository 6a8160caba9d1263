"""Progressive campaigns on real calls through the sandbox Asterisk (issue 6): the patient is dialed only for a
reserved free agent; the agent's desk gets the pop (with the campaign's script) before the bridge; an agent
who is not in the call within 2 s of the answer means the hospital's message and an 'abandoned' attempt."""
from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from callcenter.campaigns.progressive import ProgressiveDialer
from callcenter.campaigns.services import CampaignService
from callcenter.db.models import CallEvent, CampaignAttempt

from .test_campaign_dialing import START, RunningClock, add_patients, asterisk, campaign_center  # noqa: F401

pytestmark = pytest.mark.asterisk
DESK = "1001"   # alice: skill 'appointments'


def progressive_text(name: str) -> str:
    return f"""\
name: {name}
kind: appointment_reminder
title: Progressive reminder test
version: 1
target: {{rule: appointments, days_ahead: 1}}
mode: progressive
queue: appointments
script: scheduling
caller_id: '"City Hospital" <+15555550100>'
pacing: {{max_channels: 1, calls_per_second: 1, abandon_cap: 0.03}}
"""


async def _setup(center, name: str, behaviours: list[str], first: int):
    clock = RunningClock(START)
    s = center.s
    campaigns = CampaignService(s.db, s.events, s.cfg, clock=clock)
    await campaigns.save_text(name, progressive_text(name), None)
    ids = await add_patients(center, behaviours, first=first)
    await campaigns.plan(name)
    dialer = ProgressiveDialer(campaigns, s.queues, s.router, s.db, s.flows["hotline"], s.cfg.site, clock=clock)
    s.queues.state_listeners.append(dialer.agent_state_changed)
    return dialer, ids


async def _attempts(center, name: str) -> list[CampaignAttempt]:
    await center.s.events.flush()
    return await center.s.db.run(lambda s: list(s.scalars(select(CampaignAttempt).where(
        CampaignAttempt.campaign_name == name).order_by(CampaignAttempt.id))))


async def _wait_bridged(center, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for bridge in await center.ari.request("GET", "/bridges"):
            if len(bridge["channels"]) == 2:
                return bridge
        await asyncio.sleep(0.2)
    raise AssertionError("no bridge with the patient and the agent")


async def test_given_free_agent_when_progressive_run_then_pop_before_bridge_and_patient_bridged_to_agent(
        campaign_center):
    center = campaign_center
    dialer, ids = await _setup(center, "prog-ok", ["person"], first=801)
    ws = await center.agent_socket(DESK)
    await center.set_agent(DESK, "available")
    run = asyncio.create_task(dialer.run("prog-ok", worker="t1", agent_wait=3))

    pop = None
    while pop is None:
        msg = await ws.receive_json(timeout=40)
        if msg["type"] == "screen_pop":
            pop, pop_at = msg, time.time()
    bridge = await _wait_bridged(center)
    bridged_at = time.time()
    call = center.s.router.calls[pop["call_id"]]
    assert set(bridge["channels"]) == {call.channel.id, call.agent_channel_id}
    assert pop_at <= bridged_at
    assert pop["campaign"]["name"] == "prog-ok" and pop["script"] == "scheduling"
    assert [p["id"] for p in pop["patients"]] == [ids["person-801"]]
    await center.s.controls.hangup(pop["call_id"])
    report = await asyncio.wait_for(run, 60)

    assert report.dialed == 1 and report.stopped in ("done", "no_agent")
    [attempt] = await _attempts(center, "prog-ok")
    assert (attempt.result, attempt.amd_status, attempt.call_id) == ("person", "HUMAN", pop["call_id"])
    await ws.close()


async def test_given_agent_phone_not_answering_when_patient_answers_then_message_and_abandoned(campaign_center):
    center = campaign_center
    dialer, ids = await _setup(center, "prog-abandon", ["person", "person"], first=811)
    await center.set_agent(DESK, "available", endpoint=f"Local/noanswer-{DESK}@agent-phones/n")
    report = await asyncio.wait_for(dialer.run("prog-abandon", worker="t2", agent_wait=3), 90)

    attempts = await _attempts(center, "prog-abandon")
    assert [a.result for a in attempts] == ["abandoned"], "one abandon, then no further dial"
    assert report.stopped in ("abandon_cap", "no_agent")
    events = await center.s.db.run(lambda s: [e.type for e in s.scalars(
        select(CallEvent).where(CallEvent.call_id == attempts[0].call_id).order_by(CallEvent.id))])
    assert "campaign_message_played" in events
    assert center.s.queues.agent(DESK).state == "paused", "a desk whose phone did not answer is not reserved again"


async def test_given_no_free_agent_when_progressive_run_then_nobody_is_dialed(campaign_center):
    center = campaign_center
    dialer, _ = await _setup(center, "prog-idle", ["person"], first=821)
    report = await dialer.run("prog-idle", worker="t3", agent_wait=3)
    assert (report.dialed, report.stopped) == (0, "no_agent")
    assert await _attempts(center, "prog-idle") == []
    assert [c for c in await center.s.ari.channels() if c.id.startswith("campaign-")] == []

"""Progressive campaigns on real calls through the sandbox Asterisk (issue 6): the patient is dialed only for
a reserved free agent; the agent's desk gets the pop (with the campaign's script) before the bridge; an agent
who is not in the call within 2 s of the answer means the hospital's message and an 'abandoned' attempt; an
answering machine gets the hospital's message (or nothing) as the campaign's `machine` setting says, and the
agent is never rung; a run with no free agent waits, and dials when one becomes available.

Fixtures: `campaign_center` (tests/integration/conftest.py); patients' phones as test_campaign_dialing.py."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from callcenter.campaigns.dialing.progressive import ProgressiveDialer
from callcenter.campaigns.services import CampaignService
from callcenter.db.models import Call, CallEvent, CampaignAttempt, Patient

from .test_campaign_dialing import START, RunningClock, add_patients, heard, voiced_seconds

pytestmark = pytest.mark.asterisk
DESK = "1001"   # alice: skill 'appointments'


def progressive_text(name: str, machine: str = "leave_message") -> str:
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
compliance: {{machine: {machine}}}
pacing: {{max_channels: 1, calls_per_second: 1, abandon_cap: 0.03}}
"""


async def _setup(center, name: str, behaviours: list[str], first: int, machine: str = "leave_message",
                 clock: RunningClock | None = None):
    clock = clock or RunningClock(START)
    s = center.s
    campaigns = CampaignService(s.db, s.events, s.cfg, clock=clock)
    await campaigns.save_text(name, progressive_text(name, machine), None)
    ids = await add_patients(center, behaviours, first=first)
    await campaigns.plan(name)
    dialer = ProgressiveDialer(campaigns, s.queues, s.router, s.db, s.flows["hotline"], s.cfg.site,
                               clock=clock)
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
            pop, pop_at = msg, time.monotonic()
    bridge = await _wait_bridged(center)
    bridged_at = time.monotonic()
    call = center.s.router.find(pop["call_id"])
    assert set(bridge["channels"]) == {call.channel.id, call.legs.agent_channel_id}
    assert pop_at <= bridged_at
    assert pop["campaign"]["name"] == "prog-ok" and pop["script"] == "scheduling"
    assert [p["id"] for p in pop["patients"]] == [ids["person-801"]]
    await center.s.controls.hangup(pop["call_id"])
    report = await asyncio.wait_for(run, 60)

    assert report.dialed == 1 and report.stopped in ("done", "no_agent")
    [attempt] = await _attempts(center, "prog-ok")
    assert (attempt.result, attempt.amd_status, attempt.call_id) == ("person", "HUMAN", pop["call_id"])
    await ws.close()


async def test_given_spanish_speaking_patient_when_progressive_run_then_spanish_speaking_agent_is_reserved(
        campaign_center):
    center = campaign_center
    dialer, ids = await _setup(center, "prog-es", ["person"], first=861)
    patient_id = ids["person-861"]
    await center.s.db.run(lambda s: s.execute(update(Patient).where(Patient.id == patient_id)
                                                 .values(language="es")))
    english, spanish = "1002", DESK  # brian speaks English only; alice English and Spanish
    await center.set_agent(english, "available")   # idle the longest: first in line for an English patient
    await asyncio.sleep(0.01)
    ws = await center.agent_socket(spanish)
    await center.set_agent(spanish, "available")
    run = asyncio.create_task(dialer.run("prog-es", worker="t6", agent_wait=3))

    async def first_pop() -> dict:
        while (msg := await ws.receive_json())["type"] != "screen_pop":
            pass
        return msg
    pop = await asyncio.wait_for(first_pop(), 40)
    await _wait_bridged(center)
    assert center.s.queues.agent(english).state == "available", "never reserved for the Spanish patient"
    await center.s.controls.hangup(pop["call_id"])
    report = await asyncio.wait_for(run, 60)

    assert report.dialed == 1
    [attempt] = await _attempts(center, "prog-es")
    assert (attempt.result, attempt.patient_id) == ("person", patient_id)
    row = await center.s.db.run(lambda s: s.get(Call, pop["call_id"]))
    assert row.agent_id == center.s.queues.agent(spanish).id and row.language == "es"
    events = await _events(center, pop["call_id"])
    assert [e.agent_id for e in events if e.type == "offered"] == [center.s.queues.agent(spanish).id]
    await ws.close()


async def test_given_agent_phone_not_answering_when_patient_answers_then_message_and_abandoned(
        campaign_center):
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
    assert center.s.queues.agent(DESK).state == "paused", "a desk whose phone did not answer is not reserved"


async def test_given_no_free_agent_when_progressive_run_then_nobody_is_dialed(campaign_center):
    center = campaign_center
    dialer, _ = await _setup(center, "prog-idle", ["person"], first=821)
    report = await dialer.run("prog-idle", worker="t3", agent_wait=3)
    assert (report.dialed, report.stopped) == (0, "no_agent")
    assert await _attempts(center, "prog-idle") == []
    assert [c for c in await center.s.ari.channels() if c.id.startswith("campaign-")] == []


async def _events(center, call_id: str) -> list[CallEvent]:
    await center.s.events.flush()
    return await center.s.db.run(lambda s: list(s.scalars(
        select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id))))


@pytest.mark.parametrize("machine", ["leave_message", "hang_up"])
async def test_given_an_answering_machine_when_progressive_call_then_machine_setting_and_no_agent_rung(
        campaign_center, machine):
    center = campaign_center
    first = 831 if machine == "leave_message" else 841
    digits = f"1555{first:07d}"
    for stale in (f"campaign-heard-{digits}", f"campaign-tape-{digits}"):
        try:
            await center.ari.delete_stored_recording(stale)
        except Exception:
            pass
    name = f"prog-machine-{machine.replace('_', '-')}"
    dialer, ids = await _setup(center, name, ["machine"], first=first, machine=machine)
    ws = await center.agent_socket(DESK)
    await center.set_agent(DESK, "available")

    report = await asyncio.wait_for(dialer.run(name, worker="t4", agent_wait=3), 90)

    [attempt] = await _attempts(center, name)
    assert report.dialed == 1
    assert (attempt.result, attempt.amd_status) == ("machine", "MACHINE")
    events = await _events(center, attempt.call_id)
    types = [e.type for e in events]
    assert "offered" not in types, "the reserved agent's phone never rang for a machine"
    outcomes = [e.data["outcome"] for e in events if e.type == "campaign_outcome"]
    if machine == "leave_message":
        assert attempt.outcome == "message_left" and outcomes == ["message_left"]
        assert "campaign_message_played" in types
        assert voiced_seconds(await heard(center, digits)) > 2.0, "the machine's tape holds the message"
    else:
        assert attempt.outcome is None and outcomes == []
        assert "campaign_message_played" not in types
    assert center.s.queues.agent(DESK).state == "available", "the reservation ends with the call"
    pops = []
    while True:
        try:
            msg = await ws.receive_json(timeout=0.5)
        except (TimeoutError, TypeError):
            break
        pops += [msg] if msg.get("type") == "screen_pop" else []
    assert pops == [], "no screen pop for a machine"
    await ws.close()


async def test_given_no_free_agent_at_first_when_one_becomes_available_mid_run_then_the_run_waits_then_dials(
        campaign_center):
    center = campaign_center
    clock = RunningClock(START)
    dialer, ids = await _setup(center, "prog-late-agent", ["person"], first=851, clock=clock)
    run = asyncio.create_task(dialer.run("prog-late-agent", worker="t5", agent_wait=30))

    await asyncio.sleep(4)
    assert not run.done(), "the run waits for an agent"
    assert await _attempts(center, "prog-late-agent") == [], "nobody is dialed without a free agent"
    assert [c for c in await center.s.ari.channels() if c.id.startswith("campaign-")] == []
    ws = await center.agent_socket(DESK)
    available_at = clock()   # the dialer's clock, which writes the attempt's times (not the wall clock)
    await center.set_agent(DESK, "available")

    pop = None
    while pop is None:
        msg = await ws.receive_json(timeout=40)
        pop = msg if msg["type"] == "screen_pop" else None
    bridge = await _wait_bridged(center)
    call = center.s.router.find(pop["call_id"])
    assert set(bridge["channels"]) == {call.channel.id, call.legs.agent_channel_id}
    assert [p["id"] for p in pop["patients"]] == [ids["person-851"]]
    await center.s.controls.hangup(pop["call_id"])
    report = await asyncio.wait_for(run, 60)

    assert report.dialed == 1 and report.stopped in ("done", "no_agent")
    [attempt] = await _attempts(center, "prog-late-agent")
    assert (attempt.result, attempt.amd_status) == ("person", "HUMAN")
    assert attempt.started_at >= available_at - timedelta(seconds=1), "dialed once the agent was available"
    await ws.close()

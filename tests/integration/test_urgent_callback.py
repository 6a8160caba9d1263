"""An escalation owed when the caller hangs up becomes an urgent callback (issue 13, defect 3), on real
calls through the sandbox Asterisk: the agent's desk is not stuck in wrap-up, the patient's number is dialed
at once, and, answered, the patient is offered to the next free nurse ahead of a caller already waiting for
one."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db.models import Call, Callback

from . import harness

pytestmark = pytest.mark.asterisk

ENGLISH, APPOINTMENTS, NURSE_LINE = "1", "1", "4"
AGENT, NURSE = "1001", "1005"
PATIENT, WAITING = "4155550160", "4155550161"


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    """The patient's phone is a sandbox campaign phone (sim-campaign: answers by default, busy when told so
    per number); a callback that reached no nurse is tried again after 2 s."""
    harness.seeded_database(database_url).close()
    cfg = harness.test_config(tmp_path, database_url, asterisk, urgent_callback_retry_seconds=2.0,
                              outbound_dial_template="Local/{number}@sim-campaign/n")
    center, close = await harness.start_contact_center(cfg)
    yield center
    await close()


async def post(center, path: str, body: dict | None = None) -> tuple[int, dict]:
    async with center.http.post(center.base_url + path, json=body or {}, headers=center.headers) as resp:
        return resp.status, await resp.json()


async def get(center, path: str) -> tuple[int, dict]:
    async with center.http.get(center.base_url + path, headers=center.headers) as resp:
        return resp.status, await resp.json()


async def calls(center) -> list[Call]:
    await center.s.events.flush()
    return await center.s.db.run(lambda s: s.scalars(select(Call).order_by(Call.started_at)).all())


async def callbacks(center) -> list[Callback]:
    await center.s.events.flush()
    return await center.s.db.run(lambda s: s.scalars(select(Callback)).all())


async def now(value):
    return value


async def red_flag_then_caller_hangs_up(center) -> str:
    """Desk 1001 (staffed) takes an appointments call; the red-flag checklist reaches 'call emergency
    services now' and the caller hangs up before anything was done about it. Returns the call's id."""
    center.s.desk.staff(AGENT)
    await center.set_agent(AGENT, "available")
    await center.call(PATIENT, f"{ENGLISH},{APPOINTMENTS}", hangup_after=30)
    agent = center.s.queues.agent(AGENT)
    await center.wait_for(lambda: now(agent.state == "on_call"), 60, "the agent to answer")
    call_id = agent.call_id
    status, _ = await post(center, f"/api/agents/{AGENT}/triage", {"protocol": "chest_pain"})
    assert status == 200
    status, state = await post(center, f"/api/agents/{AGENT}/triage/answer",
                               {"question": "unresponsive", "answer": "yes"})
    assert status == 200 and state["governing"]["owed"] is True
    await center.wait_for(lambda: now(agent.state == "wrapup"), 60, "the caller to hang up")
    return call_id


async def test_given_an_emergency_owed_when_the_caller_hangs_up_then_called_back_and_offered_to_a_nurse_first(
        center):
    origin = await red_flag_then_caller_hangs_up(center)
    status, state = await get(center, f"/api/agents/{AGENT}/triage")
    assert status == 200 and state["call_ended"] is True and state["call_id"] == origin
    assert [o["kind"] for o in state["governing"]["offer"]] == ["urgent_callback", "other_means"]
    # Somebody already waits for a nurse, and no nurse is free.
    await center.call(WAITING, f"{ENGLISH},{NURSE_LINE}", hangup_after=180)
    waiting = await center.wait_for(
        lambda: _status(center, lambda c: c.caller_e164 == "+1" + WAITING, "queued"), 60, "a caller to wait")

    status, done = await post(center, f"/api/agents/{AGENT}/triage/escalate", {"kind": "urgent_callback"})

    assert status == 200, done
    status, saved = await post(center, f"/api/agents/{AGENT}/disposition",
                               {"call_id": origin, "code": "referred_emergency", "notes": "caller hung up"})
    assert status == 201, saved  # the agent's wrap-up finishes: the escalation is a task now
    callback = await center.wait_for(
        lambda: _status(center, lambda c: c.direction == "outbound" and c.caller_e164 == "+1" + PATIENT,
                        "queued"), 60, "the patient to be dialed back, answer and wait for a nurse")
    assert callback.priority == 100 and callback.queue_name in ("emergency-nurse", "nurse")

    await center.set_agent(NURSE, "available")
    nurse = center.s.queues.agent(NURSE)
    await center.wait_for(lambda: now(nurse.state == "on_call"), 60, "the nurse to take a call")

    assert nurse.call_id == callback.id, "the urgent callback goes first"
    assert (await _row(center, waiting.id)).status == "queued", "the waiting caller still waits"
    [owed] = await callbacks(center)
    assert owed.id == done["callback_id"] and owed.status == "scheduled" and owed.claimed_at is not None

    status, _ = await post(center, f"/api/calls/{callback.id}/hangup")
    assert status == 200

    async def settled():
        rows = await callbacks(center)
        return rows[0] if rows and rows[0].status == "done" else None
    done_row = await center.wait_for(settled, 30, "the callback to be done")
    assert done_row.result_call_id == callback.id and done_row.attempts == 1
    performed = [e for e in await center.events(origin) if e.type == "escalation_performed"]
    assert [(e.data["kind"], e.data["callback_call_id"], e.agent_id) for e in performed] == [
        ("urgent_callback", callback.id, nurse.id)]


async def _status(center, match, status: str) -> Call | None:
    return next((c for c in await calls(center) if match(c) and c.status == status), None)


async def _row(center, call_id: str) -> Call:
    await center.s.events.flush()
    return await center.s.db.run(lambda s: s.get(Call, call_id))


async def test_given_an_urgent_callback_when_the_patient_is_busy_then_it_stays_owed_and_is_retried_visibly(
        center):
    await center.ari.set_global_variable(f"SIM_CAMPAIGN_1{PATIENT}", "busy")
    origin = await red_flag_then_caller_hangs_up(center)

    status, done = await post(center, f"/api/agents/{AGENT}/triage/escalate", {"kind": "urgent_callback"})

    assert status == 200, done

    async def tried_twice():
        attempts = [e for e in await center.events(origin) if e.type == "escalation_callback_attempt"]
        return attempts if len(attempts) >= 2 else None
    attempts = await center.wait_for(tried_twice, 90, "two tries")
    assert [a.data["result"] for a in attempts[:2]] == ["busy", "busy"]
    [owed] = await callbacks(center)
    assert owed.status == "scheduled" and owed.attempts >= 2 and owed.last_result == "busy"
    status, listed = await get(center, f"/api/agents/{NURSE}/callbacks")  # the nurses see it first
    assert status == 200 and listed[0]["id"] == owed.id and listed[0]["urgent"] is True
    assert listed[0]["attempts"] >= 2 and listed[0]["last_result"] == "busy"
    assert not [e for e in await center.events(origin) if e.type == "escalation_performed"]

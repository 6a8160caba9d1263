"""The hotline's emergency bypass on real calls: 9 at the first menu jumps every queue a nurse serves."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db.models import Call

from .test_hotline import ENGLISH, NURSE, event_types, receive

pytestmark = pytest.mark.asterisk

EMERGENCY = "9"
NURSE_DESK = "1005"  # skills nurse, results, emergency-nurse


async def call_from(center, e164: str, status: str | None = None, timeout: float = 90) -> Call:
    async def check():
        await center.s.events.flush()
        row = await center.s.db.run(lambda s: s.scalar(select(Call).where(Call.caller_e164 == e164)))
        return row if row is not None and (status is None or row.status == status) else None
    return await center.wait_for(check, timeout, f"the call from {e164} to reach {status}")


async def test_given_a_caller_waiting_for_a_nurse_when_another_presses_9_then_the_bypass_caller_goes_first(
        center):
    await center.call("+14155550171", f"{ENGLISH},{NURSE}", hangup_after=120)
    waiting = await call_from(center, "+14155550171", "queued")
    assert waiting.queue_name == "nurse"

    await center.call("+14155550172", EMERGENCY, hangup_after=120)
    emergency = await call_from(center, "+14155550172", "queued")
    assert (emergency.queue_name, emergency.priority) == ("emergency-nurse", 100)
    assert emergency.queued_at > waiting.queued_at, "the bypass caller arrived second"

    ws = await center.agent_socket(NURSE_DESK)
    await center.set_agent(NURSE_DESK, "available")
    pop, _ = await receive(ws, "screen_pop")
    assert pop["queue"] == "emergency-nurse"
    assert [c["key"] for c in pop["ivr_path"]] == [EMERGENCY]

    emergency = await call_from(center, "+14155550172", "connected")
    assert emergency.agent_id == center.s.queues.agent(NURSE_DESK).id
    waiting = await call_from(center, "+14155550171")
    assert waiting.status == "queued" and waiting.offered_at is None, "the earlier caller still waits"

    events = await center.events(emergency.id)
    types = event_types(events)
    order = [types.index(t) for t in ("ivr_choice", "queued", "offered", "connected")]
    assert order == sorted(order), types
    choice = next(e for e in events if e.type == "ivr_choice")
    assert (choice.data["node"], choice.data["key"]) == ("language", EMERGENCY)
    played = [e.data for e in events if e.type == "ivr_node"]
    assert any(d.get("node") == "emergency_bilingual" for d in played), played
    queued = next(e for e in events if e.type == "queued")
    assert (queued.queue_name, queued.data["priority"]) == ("emergency-nurse", 100)


async def test_given_a_bypass_call_on_a_nurse_desk_when_triaged_by_api_then_the_call_log_has_it(center):
    ws = await center.agent_socket(NURSE_DESK)
    await center.set_agent(NURSE_DESK, "available")
    await center.call("+14155550173", EMERGENCY, hangup_after=90)
    await receive(ws, "screen_pop")
    row = await call_from(center, "+14155550173", "connected")
    base = f"{center.base_url}/api/agents/{NURSE_DESK}/triage"

    async with center.http.get(base, headers=center.headers) as resp:
        state = await resp.json()
    assert resp.status == 200 and state["call_id"] == row.id and state["session"] is None
    assert state["suggestions"][:2] == ["chest_pain", "breathing_difficulty"], "from the 9 and the queue"

    async with center.http.post(base, json={"protocol": "chest_pain", "language": "en"},
                                headers=center.headers) as resp:
        state = await resp.json()
    assert state["session"]["current"]["id"] == "unresponsive"
    for question, answer in (("unresponsive", "no"), ("heart_attack_signs", "yes")):
        async with center.http.post(f"{base}/answer", json={"question": question, "answer": answer},
                                    headers=center.headers) as resp:
            state = await resp.json()
    assert resp.status == 200
    assert state["session"]["disposition"]["id"] == "call_emergency_services_now"
    async with center.http.post(f"{base}/answer", json={"question": "lasting_15_minutes", "answer": "no"},
                                headers=center.headers) as resp:
        assert resp.status == 409, "the first yes ended the questioning"

    nurse = center.s.queues.agent(NURSE_DESK).id
    triage = [e for e in await center.events(row.id) if e.type.startswith("triage_")]
    assert [e.type for e in triage] == ["triage_started", "triage_question_shown", "triage_answered",
                                        "triage_question_shown", "triage_answered", "triage_disposition"]
    assert all(e.agent_id == nurse and e.data["protocol"] == "chest_pain" and e.data["version"] == 1
               for e in triage)
    assert triage[-1].data["disposition"] == "call_emergency_services_now"

"""Wrap-up has a bound, on real calls: a desk whose console closed before the disposition was saved is logged
out after [desk] away_logout_seconds and the caller waiting behind it goes to another desk; a supervisor
releases a desk held in wrap-up and the waiting caller is offered to it. Either way the disposition owed is
listed as a task."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db.models import Call

from . import harness

pytestmark = pytest.mark.asterisk

ENGLISH, RESULTS = "1", "2"
DESK, OTHER = "1005", "1006"   # nurses: the results queue
AWAY = 3.0


def _away_soon(cfg) -> None:
    cfg.desk.away_logout_seconds = AWAY


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    async with harness.seeded_center(asterisk, database_url, tmp_path, _away_soon) as center:
        yield center


async def calls(center) -> list[Call]:
    await center.s.events.flush()
    return await center.s.db.run(lambda s: s.scalars(select(Call).order_by(Call.started_at)).all())


async def post(center, path: str, body: dict) -> tuple[int, dict]:
    async with center.http.post(center.base_url + path, json=body, headers=center.headers) as resp:
        return resp.status, await resp.json()


async def talked_then_caller_hung_up(center) -> tuple[object, str]:
    """Desk 1005 is staffed (a person opened its console), takes a results call and the caller hangs up
    before the disposition is saved: wrap-up, disposition owed. Returns (the console socket, the call id)."""
    center.s.desk.staff(DESK)
    ws = await center.agent_socket(DESK)
    await center.set_agent(DESK, "available")
    await center.call("4155550150", f"{ENGLISH},{RESULTS}", hangup_after=20)
    agent = center.s.queues.agent(DESK)
    await center.wait_for(lambda: _async(agent.state == "on_call"), 60, "the desk to answer")
    call_id = agent.call_id
    await center.wait_for(lambda: _async(agent.state == "wrapup"), 30, "the caller to hang up")
    assert center.s.desk.owed(DESK) == call_id
    return ws, call_id


async def _async(value):
    return value


async def a_second_caller_waits(center) -> Call:
    await center.call("4155550151", f"{ENGLISH},{RESULTS}", hangup_after=90)

    async def queued():
        rows = await calls(center)
        return rows[1] if len(rows) == 2 and rows[1].status == "queued" else None
    return await center.wait_for(queued, 60, "the second caller to wait in the queue")


async def test_given_console_closed_in_wrapup_when_the_bound_passes_then_logged_out_and_caller_to_other_desk(
        center):
    ws, first = await talked_then_caller_hung_up(center)
    await ws.close()   # the browser closed before the disposition was saved
    status, body = await post(center, f"/api/agents/{DESK}/state", {"state": "available"})
    assert status == 409 and "disposition" in body["error"]
    waiting = await a_second_caller_waits(center)
    agent = center.s.queues.agent(DESK)

    await center.wait_for(lambda: _async(agent.state == "logged_out"), AWAY + 10, "the desk to be logged out")

    async with center.http.get(center.base_url + "/api/disposition-tasks", headers=center.headers) as resp:
        tasks = (await resp.json())["tasks"]
    assert [(t["desk"], t["call_id"], t["reason"]) for t in tasks] == [(DESK, first, "agent_away")]
    await center.set_agent(OTHER, "available")

    async def answered_by_other():
        row = next(r for r in await calls(center) if r.id == waiting.id)
        return row if row.status == "connected" else None
    row = await center.wait_for(answered_by_other, 60, "the waiting caller to be answered")
    assert row.agent_id == center.s.queues.agent(OTHER).id


async def test_given_a_desk_held_in_wrapup_when_a_supervisor_releases_it_then_the_waiting_caller_goes_to_it(
        center):
    ws, first = await talked_then_caller_hung_up(center)   # the console stays open: nobody saves anything
    waiting = await a_second_caller_waits(center)

    status, released = await post(center, f"/api/agents/{DESK}/release", {"state": "available"})

    assert status == 200, released
    agent = center.s.queues.agent(DESK)

    async def offered_to_desk():
        row = next(r for r in await calls(center) if r.id == waiting.id)
        return row if row.status == "connected" and row.agent_id == agent.id else None
    await center.wait_for(offered_to_desk, 60, "the waiting caller to be answered at the released desk")
    async with center.http.get(center.base_url + "/api/disposition-tasks", headers=center.headers) as resp:
        tasks = (await resp.json())["tasks"]
    assert [(t["desk"], t["call_id"], t["reason"]) for t in tasks] == [(DESK, first, "supervisor_release")]
    await ws.close()

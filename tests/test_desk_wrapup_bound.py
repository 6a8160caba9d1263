"""The bound on wrap-up: a supervisor releases a desk from it, a desk whose console was closed is logged out
after [desk] away_logout_seconds, and either way the disposition still owed is kept as a task that the
desk completes later. The away bound runs on a controlled clock here (a real call: tests/integration)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.db.models import AuditEvent, Call, Disposition, DispositionTask

from .browser.live import API_TOKEN
from .test_desk import DESK, desk, post, rows, talk_and_hang_up  # noqa: F401  (desk: the fixture)

BOUND = 120.0
T0 = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


@pytest.fixture
async def away(desk):  # noqa: F811
    """The desk of test_desk (opened by a signed-in agent, no console socket), its away bound on a clock the
    test moves; the background watch is stopped so that only the test sweeps."""
    service = desk.services.desk
    await service.stop()
    service.clock = Clock()
    service._away_after = BOUND
    return desk


def api(client) -> dict:
    return {"Authorization": f"Bearer {API_TOKEN}"}


async def audits(client, action: str) -> list[AuditEvent]:
    await client.services.events.flush()
    return rows(client, AuditEvent, AuditEvent.action == action)


async def test_given_a_desk_in_wrapup_whose_console_closed_when_the_bound_passes_then_logged_out_and_task(
        away):
    service, queues = away.services.desk, away.services.queues
    call_id = await talk_and_hang_up(away)
    assert await service.sweep() == []          # first seen without a console at T0
    service.clock.at(BOUND - 1)
    assert await service.sweep() == [] and queues.agent(DESK).state == "wrapup"

    service.clock.at(BOUND)
    assert await service.sweep() == [DESK]

    assert queues.agent(DESK).state == "logged_out" and service.owed(DESK) is None
    [task] = rows(away, DispositionTask)
    assert (task.call_id, task.reason, task.completed_at) == (call_id, "agent_away", None)
    [audit] = await audits(away, "desk_logged_out_away")
    assert (audit.call_id, audit.detail["desk"], audit.detail["task_id"]) == (call_id, DESK, task.id)
    assert await service.sweep() == [], "logged out once"
    status, agent = await post(away, f"/api/agents/{DESK}/state", {"state": "available"})
    assert status == 200 and agent["state"] == "available", "back at the desk: calls again, no 409"


async def test_given_a_task_when_the_desk_saves_that_calls_disposition_then_the_task_is_completed(away):
    service = away.services.desk
    call_id = await talk_and_hang_up(away)
    await service.sweep()
    service.clock.at(BOUND)
    await service.sweep()
    listed = await (await away.get(f"/api/agents/{DESK}/disposition-tasks")).json()
    assert [(t["call_id"], t["reason"]) for t in listed] == [(call_id, "agent_away")]

    status, saved = await post(away, f"/api/agents/{DESK}/disposition",
                               {"call_id": call_id, "code": "information_given", "notes": "From notes"})

    assert status == 201, saved
    [task] = rows(away, DispositionTask)
    [disposition] = rows(away, Disposition)
    assert task.completed_at is not None and task.disposition_id == disposition.id
    assert await (await away.get(f"/api/agents/{DESK}/disposition-tasks")).json() == []


async def test_given_the_console_open_or_back_in_time_when_the_bound_passes_then_the_desk_stays(away):
    service, queues, notifier = away.services.desk, away.services.queues, away.services.notifier
    await talk_and_hang_up(away)
    console = object()  # what the notifier counts: an open console socket
    notifier.attach(DESK, console)
    service.clock.at(BOUND * 3)
    assert await service.sweep() == [] and queues.agent(DESK).state == "wrapup"

    notifier.detach(DESK, console)          # closed at 3 x BOUND ...
    assert await service.sweep() == []
    service.clock.at(BOUND * 3.5)
    notifier.attach(DESK, console)          # ... and back before the bound
    assert await service.sweep() == []
    notifier.detach(DESK, console)          # closed again: the bound counts from now
    assert await service.sweep() == []
    service.clock.at(BOUND * 4.5 - 1)
    assert await service.sweep() == [] and queues.agent(DESK).state == "wrapup"
    service.clock.at(BOUND * 4.5)
    assert await service.sweep() == [DESK]


async def test_given_a_desk_on_a_call_when_its_console_closed_past_the_bound_then_logged_out_after_the_call(
        away):
    s = away.services
    call_id = "d" * 32
    agent = s.queues.agent(DESK)
    with s.db.session() as session:
        session.add(Call(id=call_id, agent_id=agent.id, status="connected", caller_status="valid"))
    s.queues.request_state(DESK, "available")
    s.queues.set_state(agent, "ringing", call_id=call_id)
    s.queues.set_state(agent, "on_call", call_id=call_id)
    await s.desk.sweep()
    s.desk.clock.at(BOUND * 2)
    assert await s.desk.sweep() == [] and agent.state == "on_call", "the phone works without the console"

    s.queues.set_state(agent, "wrapup", call_id=call_id)
    assert await s.desk.sweep() == [DESK] and agent.state == "logged_out"


async def test_given_a_desk_in_wrapup_when_a_supervisor_releases_it_then_available_task_kept_and_audited(
        away):
    s = away.services
    call_id = await talk_and_hang_up(away)
    status, _ = await post(away, f"/api/agents/{DESK}/state", {"state": "available"})
    assert status == 409

    resp = await away.post(f"/api/agents/{DESK}/release", json={}, headers=api(away))

    body = await resp.json()
    assert resp.status == 200, body
    assert body["agent"]["state"] == "available" and s.queues.agent(DESK).state == "available"
    [task] = rows(away, DispositionTask)
    assert (task.id, task.call_id, task.reason) == (body["task_id"], call_id, "supervisor_release")
    [audit] = await audits(away, "desk_released")
    assert (audit.call_id, audit.detail["desk"], audit.detail["state"]) == (call_id, DESK, "available")
    listed = await (await away.get("/api/disposition-tasks", headers=api(away))).json()
    assert [(t["desk"], t["call_id"], t["reason"]) for t in listed["tasks"]] == [
        (DESK, call_id, "supervisor_release")]
    assert "results_given" in [d["code"] for d in listed["dispositions"]]


async def test_given_a_task_when_a_supervisor_writes_its_disposition_then_saved_as_the_desks_and_closed(away):
    s = away.services
    call_id = await talk_and_hang_up(away)
    released = await (await away.post(f"/api/agents/{DESK}/release", json={}, headers=api(away))).json()
    url = f"/api/disposition-tasks/{released['task_id']}/complete"

    resp = await away.post(url, json={"code": "other", "notes": "Agent gone home"}, headers=api(away))

    assert resp.status == 201, await resp.text()
    [row] = rows(away, Disposition)
    assert (row.call_id, row.agent_id, row.code) == (call_id, s.queues.agent(DESK).id, "other")
    [task] = rows(away, DispositionTask)
    assert task.disposition_id == row.id
    again = await away.post(url, json={"code": "other", "notes": "twice"}, headers=api(away))
    assert again.status == 404
    assert (await (await away.get("/api/disposition-tasks", headers=api(away))).json())["tasks"] == []


async def test_given_a_desk_not_in_wrapup_or_an_agent_asking_when_released_then_refused(away):
    resp = await away.post(f"/api/agents/{DESK}/release", json={}, headers=api(away))
    assert resp.status == 409 and "not in wrap-up" in (await resp.json())["error"]
    await talk_and_hang_up(away)
    status, _ = await post(away, f"/api/agents/{DESK}/release", {})  # the agent's own session
    assert status == 403
    assert away.services.queues.agent(DESK).state == "wrapup"

"""The bound on wrap-up in the real browser: a supervisor releases a desk held in wrap-up from the wallboard;
the disposition it owed shows as a task on the supervisor page and on the agent's desk, where the agent
writes it later. (The calls are put on the desk by hand: real calls are in tests/integration.)"""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.db.models import AuditEvent, Call, Disposition, DispositionTask

from .desk import DESK, open_desk
from .live import wait_until

CALL_ID = "e" * 32


def call_ended_at_desk(live) -> None:
    """The desk took a call and the caller hung up: wrap-up, the disposition owed (as calls/ drives it)."""
    s = live.services
    agent = s.queues.agent(DESK)
    with s.db.session() as session:
        session.add(Call(id=CALL_ID, agent_id=agent.id, status="ended", caller_status="valid",
                         queue_name="results"))

    async def drive():
        s.queues.request_state(DESK, "available")
        for state in ("ringing", "on_call", "wrapup"):
            s.queues.set_state(agent, state, call_id=CALL_ID)
    live.run(drive())


def test_given_a_desk_held_in_wrapup_when_the_supervisor_releases_it_then_a_task_the_agent_completes(
        console, signed_in, screenshot):
    live = console
    agent_page = signed_in("agent", live)
    open_desk(agent_page)               # a person opened the desk: its calls need a disposition
    wait_until(lambda: live.services.notifier.connected(DESK), 10, "the desk's console socket")
    call_ended_at_desk(live)
    expect(agent_page.locator("#state-pill")).to_have_text("Wrap-up", timeout=10_000)
    expect(agent_page.locator("#wrapup")).to_be_visible()
    supervisor = signed_in("supervisor", live)
    supervisor.goto("/supervisor")
    row = supervisor.locator(f"#agents tr[data-agent='{DESK}']")
    expect(row).to_have_attribute("data-state", "wrapup")
    screenshot(supervisor, "supervisor-desk-in-wrapup")

    row.get_by_role("button", name="Release").click()

    expect(row).to_have_attribute("data-state", "available", timeout=10_000)
    task_row = supervisor.locator(f"#tasks tr[data-call='{CALL_ID}']")
    expect(task_row).to_contain_text(DESK)
    expect(task_row).to_contain_text("Released from wrap-up")
    screenshot(supervisor, "supervisor-desk-released")
    assert live.services.queues.agent(DESK).state == "available"
    live.run(live.services.events.flush())
    with live.services.db.session() as session:
        [audit] = session.scalars(select(AuditEvent).where(AuditEvent.action == "desk_released")).all()
        assert audit.actor_user_id == live.user("supervisor1").id and audit.call_id == CALL_ID

    # The agent's desk: out of wrap-up, the call now a disposition owed, written later.
    expect(agent_page.locator("#state-pill")).to_have_text("Available")
    expect(agent_page.locator("#wrapup")).to_be_hidden()
    task = agent_page.locator(f"#task-list li[data-call='{CALL_ID}']")
    expect(task).to_contain_text("released by a supervisor")
    screenshot(agent_page, "desk-disposition-owed-task")
    task.locator("select").select_option("results_given")
    task.locator("textarea").fill("Gave the results; the caller hung up before I saved.")
    task.get_by_role("button", name="Save disposition").click()

    expect(agent_page.locator("#tasks")).to_be_hidden()
    with live.services.db.session() as session:
        [saved] = session.scalars(select(Disposition)).all()
        [done] = session.scalars(select(DispositionTask)).all()
    assert (saved.call_id, saved.code) == (CALL_ID, "results_given")
    assert done.completed_at is not None and done.disposition_id == saved.id
    supervisor.reload()
    expect(supervisor.locator("#tasks-empty")).to_be_visible()
    wait_until(lambda: live.services.queues.agent(DESK).state == "available", 5, "the desk to stay available")


def test_given_a_task_the_agent_cannot_write_when_the_supervisor_writes_it_then_saved_for_the_desk(
        console, signed_in, screenshot):
    live = console
    agent_page = signed_in("agent", live)
    open_desk(agent_page)
    wait_until(lambda: live.services.notifier.connected(DESK), 10, "the desk's console socket")
    call_ended_at_desk(live)
    expect(agent_page.locator("#state-pill")).to_have_text("Wrap-up", timeout=10_000)
    agent_page.close()                  # the agent went home
    supervisor = signed_in("supervisor", live)
    supervisor.goto("/supervisor")
    supervisor.locator(f"#agents tr[data-agent='{DESK}']").get_by_role("button", name="Release").click()
    task_row = supervisor.locator(f"#tasks tr[data-call='{CALL_ID}']")

    task_row.get_by_role("button", name="Write disposition").click()
    form = supervisor.locator(".sv-task-form")
    form.get_by_label("Disposition").select_option("caller_hung_up")
    form.get_by_label("Notes").fill("Agent left before wrap-up; no notes known.")
    screenshot(supervisor, "supervisor-writes-owed-disposition")
    form.get_by_role("button", name="Save disposition").click()

    expect(task_row).to_have_count(0)
    expect(supervisor.locator("#tasks-empty")).to_be_visible()
    with live.services.db.session() as session:
        [saved] = session.scalars(select(Disposition)).all()
    assert (saved.call_id, saved.code) == (CALL_ID, "caller_hung_up")
    assert saved.agent_id == live.services.queues.agent(DESK).id
    assert saved.user_id == live.user("supervisor1").id

"""Reconciliation after a (re)connect (calls/reconcile.py), with a fake ARI: rebuilt calls, adopted callers
under their own call id, what a running call missed, and rows of calls lost while no controller ran."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import event, insert, select

from callcenter.ari.client import AriNotFound
from callcenter.ari.events import parse_event
from callcenter.calls import state as states
from callcenter.calls.events import Control
from callcenter.db.models import Call as CallRow
from callcenter.db.models import CallEvent, Recording
from callcenter.metrics.services import Metrics
from callcenter.recording.services import RecordingService

from . import test_call_router
from .test_call_router import T0, call_row, live, rows_and_events, stasis_start, wait_until
from .test_recording import asterisk_wav

router = test_call_router.router  # the same fixture: a CallRouter on a fake ARI


def bridged(router, call_id: str, caller: str, agent_leg: str, agent_app_data: str = "") -> None:
    """Asterisk after a controller restart: the caller and the agent leg still talk in the call's bridge."""
    agent_app_data = agent_app_data or f"callcenter,agent,{call_id}"
    router.deps.ari.channels_alive = [live(caller), live(agent_leg, agent_app_data)]
    router.deps.ari.bridges_alive = [{"id": "call-" + call_id, "channels": [caller, agent_leg]}]


async def test_given_caller_and_agent_still_bridged_after_restart_when_reconciled_then_call_rebuilt_connected(
        router, seeded_db, events, queues):
    agent = queues.agent("1001")
    with seeded_db.session() as session:
        session.add(call_row("b" * 32, "caller-1", "connected", "general", agent_id=agent.id,
                             answered_at=T0 + timedelta(seconds=20)))
    bridged(router, "b" * 32, "caller-1", "agent-leg-1")

    await router.reconcile()

    call = router.find("b" * 32)
    await wait_until(lambda: call.state.name == "connected", what="the rebuilt call to be connected")
    assert isinstance(call.state, states.Connected)
    assert (call.channel.id, call.legs.agent_channel_id) == ("caller-1", "agent-leg-1")
    assert call.legs.bridge_id == "call-" + "b" * 32
    assert call.media.recording_name is None  # recording is off in these tests: the real-call test checks it
    assert (agent.state, agent.call_id) == ("on_call", "b" * 32)
    sent = router.deps.ari.sent
    assert sent("hangup") == [] and sent("create_bridge") == [] and sent("start_moh") == []
    assert sent("add_to_bridge") == [] and sent("originate") == []
    rows, logged = await rows_and_events(seeded_db, events)
    assert list(rows) == ["b" * 32] and rows["b" * 32].status == "connected"
    assert "queued" not in [e.type for e in logged] and "requeued" not in [e.type for e in logged]
    assert [e.type for e in logged if e.type == "rebuilt"] == ["rebuilt"]

    # The rebuilt call ends as any other: the caller hangs up, the agent leg goes, the agent wraps up.
    await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": "caller-1"}}))
    await asyncio.wait_for(call.ended.wait(), 5)
    assert ("agent-leg-1",) in sent("hangup") and sent("destroy_bridge") == [("call-" + "b" * 32,)]
    rows, _ = await rows_and_events(seeded_db, events)
    assert (rows["b" * 32].status, rows["b" * 32].outcome, rows["b" * 32].end_reason) == (
        "ended", "completed", "caller_hangup")


async def test_given_caller_on_hold_when_controller_restarted_then_call_rebuilt_held_and_agent_can_resume(
        router, seeded_db, events, queues):
    agent = queues.agent("1001")
    with seeded_db.session() as session:
        session.add(call_row("h" * 32, "caller-1", "connected", "general", agent_id=agent.id))
        session.add_all(CallEvent(call_id="h" * 32, ts=T0 + timedelta(seconds=n), type=type_, data={})
                        for n, type_ in enumerate(("connected", "held", "unheld", "held")))
    bridged(router, "h" * 32, "caller-1", "agent-leg-1")

    await router.reconcile()

    call = router.find("h" * 32)
    await wait_until(lambda: call.state.name == "held", what="the rebuilt call to be held")
    sent = router.deps.ari.sent
    assert ("caller-1", "in") in sent("mute") and ("agent-leg-1", "in") in sent("mute")
    assert [args[0] for args in sent("start_moh")] == ["caller-1"]
    assert sent("stop_moh") == [] and sent("unmute") == []
    assert call.legs.on_hold and (agent.state, agent.call_id) == ("on_call", "h" * 32)

    # The agent takes the caller off hold as after any hold: music stopped, both unmuted.
    reply = asyncio.get_running_loop().create_future()
    call.post(Control("unhold", {}, reply))
    assert await asyncio.wait_for(reply, 5) == "connected"
    assert sent("stop_moh") == [("caller-1",)]
    assert {args[0] for args in sent("unmute")} == {"caller-1", "agent-leg-1"} and not call.legs.on_hold


async def test_given_bridged_call_when_reconciled_then_its_agent_is_not_offered_a_waiting_caller_first(
        router, seeded_db, queues):
    # The old process had 1001 talking to caller-1 while caller-2 waited; `serve --available 1001` made 1001
    # available again before the reconcile. The waiting caller must not ring 1001's busy phone.
    agent = queues.agent("1001")
    queues.request_state("1001", "available")
    with seeded_db.session() as session:
        session.add(call_row("b" * 32, "caller-1", "connected", "general", agent_id=agent.id))
        session.add(call_row("w" * 32, "caller-2", "queued", "general"))
    bridged(router, "b" * 32, "caller-1", "agent-leg-1")
    router.deps.ari.channels_alive.append(live("caller-2"))

    await router.reconcile()

    waiting = router.find("w" * 32)
    await wait_until(lambda: queues.position(waiting) is not None, what="the waiting caller to queue")
    assert (agent.state, agent.call_id) == ("on_call", "b" * 32)
    assert router.deps.ari.sent("originate") == []


async def test_given_caller_ringing_an_agent_when_controller_restarted_then_leg_hung_up_and_call_requeued(
        router, seeded_db, events, queues):
    with seeded_db.session() as session:
        session.add(call_row("r" * 32, "caller-1", "offering", "nurse", queued_at=T0))
        session.add(CallEvent(call_id="r" * 32, ts=T0, type="queued", queue_name="nurse", data={}))
    # The agent's phone still rings: an originated channel that never entered the app.
    router.deps.ari.channels_alive = [live("caller-1"), live("agent-ringing", app="", app_data="")]

    await router.reconcile()

    call = router.find("r" * 32)
    await wait_until(lambda: queues.position(call) is not None, what="the caller to queue again")
    assert router.deps.ari.sent("hangup") == [("agent-ringing",)]
    assert (call.queue_name, queues.position(call)) == ("nurse", 1)
    rows, logged = await rows_and_events(seeded_db, events)
    assert list(rows) == ["r" * 32] and rows["r" * 32].status == "queued"
    # One offer in the reports: the same call waits again in the same queue.
    assert [e.type for e in logged if e.type in ("queued", "requeued")] == ["queued", "requeued"]


async def test_given_caller_left_in_ivr_when_controller_restarted_then_queued_under_the_same_call(
        router, seeded_db, events, queues):
    with seeded_db.session() as session:
        session.add(call_row("i" * 32, "caller-1", "ivr"))
    router.deps.ari.channels_alive = [live("caller-1")]

    await router.reconcile()

    call = router.find("i" * 32)
    await wait_until(lambda: queues.position(call) is not None, what="the caller to queue")
    assert call.queue_name == "general"
    rows, logged = await rows_and_events(seeded_db, events)
    assert list(rows) == ["i" * 32] and rows["i" * 32].status == "queued"
    assert [e.type for e in logged if e.type in ("queued", "requeued", "adopted")] == ["adopted", "queued"]


async def test_given_many_ended_calls_when_reconciled_then_only_open_rows_are_read(router, seeded_db):
    with seeded_db.session() as session:
        session.execute(insert(CallRow), [
            dict(id=f"{n:032d}", channel_id=f"old-{n}", status="ended", outcome="completed", started_at=T0,
                 ended_at=T0, caller_status="valid") for n in range(3000)])
        session.add(call_row("q" * 32, "gone-1", "queued", "general"))
    loaded, statements = [], []
    event.listen(seeded_db.sessionmaker, "loaded_as_persistent", lambda s, obj: loaded.append(obj))
    event.listen(seeded_db.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: statements.append(sql))

    await router.reconcile()

    # Read once (its end is written by id through the event log, as a call's own end is).
    assert [row.id for row in loaded if isinstance(row, CallRow)] == ["q" * 32]
    call_reads = [sql for sql in statements if sql.lstrip().startswith("SELECT") and "FROM calls" in sql]
    # Every read of the calls table is bounded: the open statuses (indexed), or the ids found that way.
    assert call_reads and all("calls.status IN" in sql or "calls.id IN" in sql for sql in call_reads)
    status = await seeded_db.run(lambda s: s.scalar(select(CallRow.status).where(CallRow.id == "q" * 32)))
    assert status == "ended"


async def test_given_call_lost_in_an_asterisk_restart_when_reconciled_then_ended_when_it_really_ended(
        router, seeded_db, events):
    connected = T0 + timedelta(seconds=30)
    with seeded_db.session() as session:
        session.add(call_row("c" * 32, "gone-1", "connected", "general", answered_at=connected))
        session.add(CallEvent(call_id="c" * 32, ts=connected, type="connected", queue_name="general",
                              data={}))
        session.add(call_row("k" * 32, "gone-2", "queued", "general"))
        session.add(CallEvent(call_id="k" * 32, ts=T0 + timedelta(minutes=50), type="position_announced",
                              queue_name="general", data={"position": 1}))
    router.deps.ari.asterisk_started = (T0 + timedelta(minutes=10)).isoformat()

    await router.reconcile()

    rows, logged = await rows_and_events(seeded_db, events)
    # Asterisk started again after the call's last sign of life: the restart ended it, no later than that.
    assert (rows["c" * 32].outcome, rows["c" * 32].end_reason) == ("completed", "lost_asterisk_restart")
    assert rows["c" * 32].ended_at == connected
    # Alive after Asterisk's start: it ended while no controller watched, after its last event.
    assert (rows["k" * 32].outcome, rows["k" * 32].end_reason) == ("abandoned", "lost")
    assert rows["k" * 32].ended_at == T0 + timedelta(minutes=50)
    ended = {e.call_id[0]: (e.ts, e.data["reason"]) for e in logged if e.type == "ended"}
    assert ended == {"c": (connected, "lost_asterisk_restart"), "k": (T0 + timedelta(minutes=50), "lost")}


async def test_given_a_call_killed_before_its_recording_start_was_written_when_reconciled_then_recording_kept(
        router, seeded_db, events, queues, tmp_path):
    # kill -9 right after the answer: `recording_started` was still in memory, Asterisk recorded all the same.
    agent, answered = queues.agent("1001"), T0 + timedelta(seconds=20)
    spool = tmp_path / "asterisk-recording"
    router.deps.recordings = RecordingService(router.deps.ari, events, tmp_path / "recordings",
                                              asterisk_dir=spool)
    asterisk_wav(spool, f"call-{'r' * 32}-{agent.id}", 4.0)
    with seeded_db.session() as session:
        # the second reached an agent and has no recording at all: looked for once, nothing found
        for id_, channel in (("r" * 32, "gone-1"), ("n" * 32, "gone-2")):
            session.add(call_row(id_, channel, "connected", "general", agent_id=agent.id,
                                 answered_at=answered))
            session.add(CallEvent(call_id=id_, ts=answered, type="connected", queue_name="general", data={}))

    await router.reconcile()

    rows, _ = await rows_and_events(seeded_db, events)
    assert (rows["r" * 32].end_reason, rows["r" * 32].ended_at) == ("lost", answered + timedelta(seconds=4))
    assert (rows["n" * 32].end_reason, rows["n" * 32].ended_at) == ("lost", answered)
    kept = await seeded_db.run(
        lambda s: [(r.call_id, r.duration_seconds) for r in s.scalars(select(Recording))])
    assert kept == [("r" * 32, 4.0)]


async def test_given_prompt_finished_while_websocket_was_down_when_reconciled_then_ivr_goes_on(router):
    await router.on_event(stasis_start("c1", "inbound", "hotline"))
    call = router.live_calls()[0]
    await wait_until(lambda: call.media.pending_playbacks(), what="the first prompt")
    first = call.media.pending_playbacks()[0]
    router.deps.ari.channels_alive = [live("c1")]
    router.deps.ari.playbacks_alive = set()  # its PlaybackFinished was lost with the websocket

    await router.reconcile()

    await wait_until(lambda: call.media.pending_playbacks() and call.media.pending_playbacks()[0] != first,
                     what="the IVR's next prompt")
    assert call.state.name == "ivr"


async def test_given_agent_answered_while_websocket_was_down_when_reconciled_then_call_connects(
        router, queues):
    router.deps.ari.channels_alive = [live("caller-1")]
    await router.reconcile()
    call = router.live_calls()[0]
    queues.request_state("1001", "available")
    await wait_until(lambda: call.state.name == "offering" and router.deps.ari.sent("originate"),
                     what="the offer")
    answered = live(call.legs.agent_channel_id, f"callcenter,agent,{call.id}")
    router.deps.ari.channels_alive = [live("caller-1"), answered]

    await router.reconcile()

    await wait_until(lambda: call.state.name == "connected", what="the call to connect")
    both = ("caller-1", call.legs.agent_channel_id)
    assert router.deps.ari.sent("add_to_bridge") == [("call-" + call.id, both)]


async def test_given_agent_hung_up_while_websocket_was_down_when_reconciled_then_call_ends(router, seeded_db):
    with seeded_db.session() as session:
        session.add(call_row("b" * 32, "caller-1", "connected", "general",
                             agent_id=router.deps.queues.agent("1001").id))
    bridged(router, "b" * 32, "caller-1", "agent-leg-1")
    await router.reconcile()
    call = router.find("b" * 32)
    router.deps.ari.channels_alive = [live("caller-1")]

    await router.reconcile()

    await asyncio.wait_for(call.ended.wait(), 5)
    assert call.outcome == "completed"


async def test_given_caller_hung_up_while_websocket_was_down_when_reconciled_then_lost_unseen_not_a_restart(
        router, seeded_db, events):
    await router.on_event(stasis_start("c1", "inbound", "hotline"))
    call = router.live_calls()[0]
    await wait_until(lambda: call.media.pending_playbacks(), what="the first prompt")
    router.deps.ari.channels_alive = []  # Asterisk has run since before the call: no restart

    await router.reconcile()

    await asyncio.wait_for(call.ended.wait(), 5)
    rows, _ = await rows_and_events(seeded_db, events)
    assert (rows[call.id].outcome, rows[call.id].end_reason) == ("ivr_hangup", "lost_while_disconnected")


async def test_given_caller_gone_while_being_queued_when_music_fails_then_call_ends_not_retried_forever(
        router, seeded_db, events):
    # The caller hangs up just as the call is (re)queued: starting the music answers 404. Sending the caller
    # to a queue again would fail the same way for ever; the call must end on the StasisEnd behind it.
    ari = router.deps.ari
    ari.channels_alive = [live("caller-1")]

    async def gone(channel_id, moh_class="default"):
        ari.channels_gone.add(channel_id)
        await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": channel_id}}))
        raise AriNotFound(404, "POST", f"/channels/{channel_id}/moh", "Channel not found")
    ari.start_moh = gone

    await router.reconcile()

    await wait_until(lambda: not router.live_calls(), what="the call to end")
    rows, _ = await rows_and_events(seeded_db, events)
    assert [(r.status, r.outcome) for r in rows.values()] == [("ended", "abandoned")]


async def test_given_queued_call_lost_unended_when_reconcile_ends_its_row_then_its_queue_wait_is_closed(
        router, seeded_db, events, queues):
    # The call's task died beyond its fail-safe while the caller waited, so nothing dequeued it; reconcile
    # ends its row. The queue-wait tracker must hear of that end, or it keeps the call for ever.
    metrics = Metrics(router, queues, router.deps.ari, seeded_db, events)
    with seeded_db.session() as session:
        session.add(call_row("q" * 32, "gone-1", "queued", "general"))
    events.event("q" * 32, "queued", queue_name="general", ts=T0 + timedelta(seconds=5))

    await router.reconcile()

    waits = {(s.name, s.labels.get("outcome")): s.value for s in metrics.queue_wait.collect()[0].samples
             if s.labels.get("queue") == "general"}
    assert waits[("callcenter_queue_wait_seconds_count", "abandoned")] == 1
    rows, logged = await rows_and_events(seeded_db, events)
    assert (rows["q" * 32].status, rows["q" * 32].outcome, rows["q" * 32].end_reason) == (
        "ended", "abandoned", "lost")
    assert [e.type for e in logged if e.call_id == "q" * 32].count("ended") == 1

    # A second reconcile (another reconnect) finds nothing open: the wait is not observed twice.
    await router.reconcile()
    again = {(s.name, s.labels.get("outcome")): s.value for s in metrics.queue_wait.collect()[0].samples
             if s.labels.get("queue") == "general"}
    assert again == waits


async def test_given_caller_answering_the_survey_when_controller_restarted_then_the_call_ends_not_requeued(
        router, seeded_db, events, queues):
    with seeded_db.session() as session:
        session.add(call_row("s" * 32, "caller-1", "connected", queue="results"))
        session.flush()
        session.add(CallEvent(call_id="s" * 32, ts=T0, type="state", data={"state": "surveying"}))
    router.deps.ari.channels_alive = [live("caller-1")]

    await router.reconcile()

    await wait_until(lambda: router.find("s" * 32) is None, what="the call to end")
    rows, logged = await rows_and_events(seeded_db, events)
    row = rows["s" * 32]
    assert (row.status, row.outcome, row.end_reason) == ("ended", "completed", "agent_hangup")
    assert ("caller-1",) in router.deps.ari.sent("hangup"), "the caller is hung up, not left in silence"
    assert [e.data for e in logged if e.type == "survey_ended"] == [
        {"complete": False, "reason": "controller_restart"}]
    assert not [e for e in logged if e.type in ("queued", "adopted")], "a surveyed caller is not queued again"

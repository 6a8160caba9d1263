"""CallRouter and the call states, with a fake ARI: routing, reconciliation after a reconnect, offers."""
from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.ari.events import StasisStart, parse_event
from callcenter.ari.models import Channel
from callcenter.calls import state as states
from callcenter.calls.services import CallDeps
from callcenter.calls.stasis import CallRouter
from callcenter.config import TelephonyConfig
from callcenter.db.models import Call as CallRow
from callcenter.db.models import CallEvent, CallLeg
from callcenter.recording.services import RecordingService
from callcenter.screenpop.notifier import AgentNotifier
from callcenter.screenpop.services import ScreenPopService
from callcenter.selfservice.actions import load_inbound_flow

from .fake_ari import FakeAri, channel_json

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
async def router(seeded_db, events, queues, tmp_path):
    ari = FakeAri()
    router = CallRouter(seeded_db, {"hotline": load_inbound_flow(ROOT / "ivr_flows" / "hotline.yaml")})
    router.deps = CallDeps(
        ari=ari, events=events, queues=queues, pops=ScreenPopService(seeded_db, AgentNotifier()),
        recordings=RecordingService(ari, events, tmp_path / "recordings", enabled=False),
        settings=TelephonyConfig(queue_announce_seconds=0), bind=router.bind, bind_bridge=router.bind_bridge,
        forget=router.forget)
    calls = []
    original = router.start_call

    def tracking_start_call(call, initial=None):
        calls.append(call)
        return original(call, initial)
    router.start_call = tracking_start_call
    yield router
    pending = [t for call in calls for t in (call.task, getattr(call.state, "task", None)) if t]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def wait_until(predicate, timeout: float = 5, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


def stasis_start(channel_id: str, *args: str, **channel) -> StasisStart:
    return parse_event({"type": "StasisStart", "application": "callcenter", "args": list(args),
                        "channel": channel_json(channel_id, **channel)})


def live(channel_id: str, app_data: str = "callcenter,inbound,hotline", app: str = "Stasis") -> Channel:
    return Channel.from_json(channel_json(channel_id, app=app, app_data=app_data))


def call_row(id_: str, channel_id: str, status: str, queue: str | None = None, **extra) -> CallRow:
    return CallRow(id=id_, channel_id=channel_id, status=status, queue_name=queue, started_at=T0,
                   caller_status="valid", **extra)


async def rows_and_events(db, events):
    await events.flush()

    def read(session):
        rows = {r.id: r for r in session.scalars(select(CallRow))}
        logged = session.scalars(select(CallEvent).where(CallEvent.call_id.is_not(None))
                                 .order_by(CallEvent.id)).all()
        return rows, logged
    return await db.run(read)


async def adopt(router, channel_id: str, app_data: str = "callcenter,inbound,hotline"):
    router.deps.ari.channels_alive = [live(channel_id, app_data)]
    await router.reconcile()
    call = next(c for c in router.live_calls() if c.channel.id == channel_id)
    await wait_until(lambda: router.deps.queues.position(call) is not None or call.agent is not None,
                     what="the adopted call to queue")
    return call


# -- reconciliation -----------------------------------------------------------------------------------


async def test_given_active_db_calls_without_live_channel_when_reconciled_then_ended_as_lost(
        router, seeded_db, events):
    with seeded_db.session() as session:
        session.add_all([
            call_row("q" * 32, "gone-queued", "queued", "general"),
            call_row("c" * 32, "gone-connected", "connected", "general"),
            call_row("i" * 32, "gone-ivr", "ivr"),
            call_row("o" * 32, "gone-offering", "offering", "nurse"),
            call_row("a" * 32, "still-here", "ivr"),
            call_row("e" * 32, "gone-ended", "ended", "general", outcome="completed",
                     end_reason="caller_hangup", ended_at=T0 + timedelta(minutes=3)),
        ])
    router.deps.ari.channels_alive = [live("still-here", app="Dial", app_data="PJSIP/1001")]

    await router.reconcile()

    rows, logged = await rows_and_events(seeded_db, events)
    ended = {id_[0]: (r.status, r.outcome, r.end_reason) for id_, r in rows.items()}
    assert ended == {
        "q": ("ended", "abandoned", "lost"), "o": ("ended", "abandoned", "lost"),
        "c": ("ended", "completed", "lost"), "i": ("ended", "ivr_hangup", "lost"),
        "a": ("ivr", None, None), "e": ("ended", "completed", "caller_hangup"),
    }
    assert all(rows[id_ * 32].ended_at is not None for id_ in "qoci")
    ended_events = {(e.call_id[0], e.type, e.queue_name, e.data["reason"], e.data["outcome"]) for e in logged}
    assert ended_events == {("q", "ended", "general", "lost", "abandoned"),
                            ("o", "ended", "nurse", "lost", "abandoned"),
                            ("c", "ended", "general", "lost", "completed"),
                            ("i", "ended", None, "lost", "ivr_hangup")}
    assert router.live_calls() == [] and router.deps.ari.sent("hangup") == []


async def test_given_running_call_whose_channel_vanished_when_reconciled_then_call_ends_lost(
        router, seeded_db, events):
    await router.on_event(stasis_start("c1", "inbound", "hotline"))
    call = router.live_calls()[0]
    await wait_until(lambda: router.deps.ari.sent("play"), what="the IVR to play")
    router.deps.ari.channels_alive = []
    # it restarted
    router.deps.ari.asterisk_started = (call.times.started_at + timedelta(seconds=1)).isoformat()

    await router.reconcile()
    await asyncio.wait_for(call.ended.wait(), 5)

    rows, logged = await rows_and_events(seeded_db, events)
    row = rows[call.id]
    assert (row.status, row.outcome, row.end_reason) == ("ended", "ivr_hangup", "lost_asterisk_restart")
    assert [e.data for e in logged if e.type == "ended"] == [{"outcome": "ivr_hangup",
                                                              "reason": "lost_asterisk_restart"}]
    assert router.live_calls() == []
    assert router.deps.ari.sent("answer") == [("c1",)]


# -- StasisStart routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("agent", "no-such-call"), ("agent",), ("transfer", "x")])
async def test_given_stasis_start_of_unknown_agent_leg_or_role_when_routed_then_hung_up_and_no_call(
        router, args):
    await router.on_event(stasis_start("stray-1", *args))

    assert router.deps.ari.sent("hangup") == [("stray-1",)]
    assert router.live_calls() == []
    assert router.deps.ari.sent("answer") == []


async def test_given_inbound_stasis_start_when_routed_then_answered_and_ivr_starts_in_default_language(
        router, seeded_db, events):
    await router.on_event(stasis_start("c1", "inbound", "hotline", number="(415) 555-0123"))

    call = router.live_calls()[0]
    await wait_until(lambda: router.deps.ari.sent("play"), what="the first prompt")
    assert router.deps.ari.sent("answer") == [("c1",)]
    channel_id, media = router.deps.ari.sent("play")[0]
    assert channel_id == "c1" and media[0] == "sound:callcenter/emergency-key-en"
    rows, logged = await rows_and_events(seeded_db, events)
    assert (rows[call.id].status, rows[call.id].caller_e164) == ("ivr", "+14155550123")
    assert [e.type for e in logged][:3] == ["call_started", "state", "answered"]


async def test_given_choices_made_in_the_dialplan_when_routed_then_taken_and_one_the_flow_lacks_is_asked(
        router, seeded_db, events, caplog):
    # Spanish chosen before the call came in; 'main=9' is no option of the main menu.
    await router.on_event(stasis_start("c2", "inbound", "hotline", "language=2", "main=9"))

    call = router.live_calls()[0]
    await wait_until(lambda: router.deps.ari.sent("play"), what="the first prompt")
    channel_id, media = router.deps.ari.sent("play")[0]
    # The language menu is skipped: the notices come first, in Spanish; the main menu will be asked.
    assert media[0] == "sound:callcenter/recording-consent" and call.language == "es"
    assert call.ivr.path == [{"node": "language", "key": "2", "label": "Español", "preset": True}]
    lacks = "menu 'main' of flow 'hotline' has no option '9'"
    assert f"channel c2 entered with a choice the flow lacks: {lacks}" in caplog.text


# -- adoption of orphan channels -----------------------------------------------------------------------


async def test_given_orphan_caller_channel_with_previous_queue_when_reconciled_then_adopted_at_front_of_it(
        router, seeded_db, events, queues):
    with seeded_db.session() as session:
        session.add(call_row("p" * 32, "orphan-1", "queued", "nurse"))
    queues.enqueue(WaitingCall("already-waiting"), "nurse")

    call = await adopt(router, "orphan-1")

    assert isinstance(call.state, states.Queued)
    assert (call.queue_name, call.channel.id) == ("nurse", "orphan-1")
    assert queues.position(call) == 1  # ahead of a caller who arrived while we were away
    assert router.deps.ari.sent("start_moh") == [("orphan-1", "default")]
    assert router.deps.ari.sent("answer") == [] and router.deps.ari.sent("hangup") == []
    rows, logged = await rows_and_events(seeded_db, events)
    assert rows[call.id].status == "queued" and rows[call.id].queue_name == "nurse"
    adopted = [e for e in logged if e.call_id == call.id and e.type == "adopted"]
    assert [e.data for e in adopted] == [{"previous_queue": "nurse"}]


async def test_given_orphan_caller_channel_never_seen_when_reconciled_then_adopted_into_general(
        router, queues):
    call = await adopt(router, "orphan-2")

    assert call.queue_name == "general"
    assert queues.position(call) == 1


async def test_given_orphan_channel_adopted_when_reconciled_then_only_the_adopting_call_is_active_in_db(
        router, seeded_db, events):
    # The row written before the restart and the adopting call describe the same caller. If the old row
    # stays 'queued', it is ended as 'lost'/'abandoned' at some later reconnect: one caller, two calls in
    # the reports, one of them a false abandon.
    with seeded_db.session() as session:
        session.add(call_row("p" * 32, "orphan-1", "queued", "nurse"))

    call = await adopt(router, "orphan-1")

    rows, _ = await rows_and_events(seeded_db, events)
    assert {id_ for id_, row in rows.items() if row.status != "ended"} == {call.id}


async def test_given_orphan_agent_leg_when_reconciled_then_hung_up_not_adopted(router):
    router.deps.ari.channels_alive = [live("agent-leg-1", "callcenter,agent," + "x" * 32)]

    await router.reconcile()

    assert router.deps.ari.sent("hangup") == [("agent-leg-1",)]
    assert router.live_calls() == []


async def test_given_channel_of_another_app_when_reconciled_then_left_alone(router):
    router.deps.ari.channels_alive = [live("other", "callcenter-sim,inbound"), live("dial", "x", app="Dial")]

    await router.reconcile()

    assert router.live_calls() == []
    assert [m for m, _, _ in router.deps.ari.calls] == ["channels"]


# -- offers -------------------------------------------------------------------------------------------


async def offered_call(router, queues):
    call = await adopt(router, "caller-1")
    queues.request_state("1001", "available")
    await wait_until(lambda: router.deps.ari.sent("originate"), what="the agent to be dialed")
    return call


async def test_given_queued_call_when_agent_frees_up_then_agent_phone_dialed_into_our_app(router, queues):
    call = await offered_call(router, queues)

    (endpoint,), = router.deps.ari.sent("originate")
    kwargs = next(k for m, _, k in router.deps.ari.calls if m == "originate")
    assert endpoint == "Local/auto-1001@agent-phones/n"
    assert kwargs["app"] == "callcenter" and kwargs["app_args"] == f"agent,{call.id}"
    assert kwargs["channel_id"] == call.legs.agent_channel_id
    assert isinstance(call.state, states.Offering)
    assert queues.agent("1001").state == "ringing" and queues.agent("1001").call_id == call.id


async def test_given_offer_when_agent_answers_then_bridged_and_caller_hangup_completes_call(
        router, queues, seeded_db, events):
    call = await offered_call(router, queues)
    leg = call.legs.agent_channel_id

    await router.on_event(stasis_start(leg, "agent", call.id))
    await wait_until(lambda: router.deps.ari.sent("add_to_bridge"), what="the bridge")
    assert router.deps.ari.sent("add_to_bridge") == [("call-" + call.id, ("caller-1", leg))]
    assert queues.agent("1001").state == "on_call"

    await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": "caller-1"}}))
    await asyncio.wait_for(call.ended.wait(), 5)

    assert (leg,) in router.deps.ari.sent("hangup") and ("caller-1",) not in router.deps.ari.sent("hangup")
    assert router.deps.ari.sent("destroy_bridge") == [("call-" + call.id,)]
    await wait_until(lambda: queues.agent("1001").state == "available", what="wrap-up to end")
    rows, _ = await rows_and_events(seeded_db, events)
    assert (rows[call.id].status, rows[call.id].outcome, rows[call.id].end_reason) == (
        "ended", "completed", "caller_hangup")
    assert rows[call.id].agent_id == queues.agent("1001").id
    assert router.live_calls() == []


async def test_given_offer_when_agent_phone_busy_then_agent_paused_and_caller_back_at_front(
        router, queues, seeded_db, events):
    call = await offered_call(router, queues)
    leg = call.legs.agent_channel_id
    queues.enqueue(WaitingCall("later"), "general")

    await router.on_event(parse_event({"type": "Dial", "dialstatus": "BUSY", "peer": {"id": leg}}))
    await router.on_event(parse_event({"type": "ChannelDestroyed", "cause": 0, "channel": {"id": leg}}))
    await wait_until(lambda: queues.position(call) is not None, what="the caller to be requeued")

    agent = queues.agent("1001")
    assert (agent.state, agent.pause_reason) == ("paused", "phone-busy")
    assert queues.position(call) == 1 and call.agent is None
    await events.flush()
    outcome = await seeded_db.run(
        lambda s: s.scalar(select(CallLeg.outcome).where(CallLeg.channel_id == leg)))
    assert outcome == "busy"


async def test_given_offer_when_caller_hangs_up_while_ringing_then_agent_leg_hung_up_and_agent_free(
        router, queues, seeded_db, events):
    call = await offered_call(router, queues)
    leg = call.legs.agent_channel_id

    await router.on_event(parse_event({"type": "StasisEnd", "channel": {"id": "caller-1"}}))
    await asyncio.wait_for(call.ended.wait(), 5)

    assert (leg,) in router.deps.ari.sent("hangup")
    assert queues.agent("1001").state == "available"
    rows, _ = await rows_and_events(seeded_db, events)
    assert (rows[call.id].outcome, rows[call.id].end_reason) == ("abandoned", "caller_hangup")


class WaitingCall:
    def __init__(self, id_: str):
        self.id, self.language = id_, "en"

    def offer(self, agent) -> None:
        raise AssertionError(f"{self.id} should not be offered in this test")


# -- the guard at the entry point ----------------------------------------------------------------------------


async def test_given_role_handler_raises_for_a_stray_channel_when_routed_then_hung_up_and_nothing_escapes(
        router):
    async def broken(start):
        raise RuntimeError("feature bug")
    router.register_role("boom", broken)

    await router.on_event(stasis_start("stray-1", "boom", "no-such-call"))

    assert router.deps.ari.sent("hangup") == [("stray-1",)]
    assert router.live_calls() == []


async def test_given_role_handler_raises_on_a_live_calls_leg_when_routed_then_caller_requeued_and_leg_hung_up(
        router, queues, seeded_db, events):
    call = await offered_call(router, queues)
    leg = call.legs.agent_channel_id

    async def broken(start):
        raise RuntimeError("feature bug")
    router.register_role("boom", broken)

    await router.on_event(stasis_start(leg, "boom", call.id))
    await wait_until(lambda: (leg,) in router.deps.ari.sent("hangup"), what="the broken leg to be hung up")
    # Back at the front of the queue: the agent (free again, the bug was not theirs) is offered it anew (its
    # leg dialed: the offer is logged once the pop, audited first, is out).
    await wait_until(lambda: call.legs.agent_channel_id not in (None, leg) and any(
        kw.get("channel_id") == call.legs.agent_channel_id for method, _, kw in router.deps.ari.calls
        if method == "originate"), what="a new offer")

    assert call.state.name == "offering" and not call.ended.is_set()
    assert ("caller-1",) not in router.deps.ari.sent("hangup")
    rows, logged = await rows_and_events(seeded_db, events)
    kinds = [e.type for e in logged if e.call_id == call.id and e.type != "agent_state"]
    assert kinds[kinds.index("fail_safe"):] == ["fail_safe", "state", "requeued", "state", "offered"]
    assert [e.data for e in logged if e.call_id == call.id and e.type == "fail_safe"] == [
        {"from_state": "offering"}]


async def test_given_a_calls_handler_raises_when_its_agent_answers_then_requeued_and_another_call_untouched(
        router, queues, monkeypatch):
    talking = await offered_call(router, queues)
    await router.on_event(stasis_start(talking.legs.agent_channel_id, "agent", talking.id))
    await wait_until(lambda: talking.state.name == "connected", what="the first call to connect")
    failing = router.start_inbound(live("caller-2"), "hotline", initial=lambda c: states.Queued(c, "general"))
    queues.request_state("1002", "available")
    await wait_until(lambda: failing.state.name == "offering", what="the second offer")
    failing_leg = failing.legs.agent_channel_id
    original = states.Offering.on_StasisStart

    async def broken(self, event):
        if self.call is failing:
            raise RuntimeError("state bug")
        return await original(self, event)
    monkeypatch.setattr(states.Offering, "on_StasisStart", broken)

    await router.on_event(stasis_start(failing_leg, "agent", failing.id))
    await wait_until(lambda: (failing_leg,) in router.deps.ari.sent("hangup"), what="the broken leg hung up")
    await wait_until(lambda: failing.legs.agent_channel_id not in (None, failing_leg), what="a new offer")

    assert failing.state.name == "offering" and failing.agent is queues.agent("1002")
    hung_up = {args[0] for args in router.deps.ari.sent("hangup")}
    assert not hung_up & {"caller-1", talking.legs.agent_channel_id, "caller-2"}
    assert talking.state.name == "connected" and not talking.ended.is_set()
    assert queues.agent("1001").state == "on_call"


# -- a campaign flow's goodbye to a channel already gone ---------------------------------------------------

GOODBYE_FLOW = """\
name: goodbye-only
version: 1
description: only a goodbye
review: "test flow"
direction: outbound
languages: [en]
default_language: en
start: bye
opt_out: {key: '9', next: bye}
nodes:
  bye: {type: hangup, prompts: [callcenter/goodbye], reason: done}
"""


class HungUpUnderTheGoodbye(FakeAri):
    """The patient hangs up as the goodbye starts: Asterisk answers the play 404, and the hang-up's StasisEnd
    reaches the call before the failed play is seen (`heard_first`) or after it."""

    def __init__(self, heard_first: bool):
        super().__init__()
        self.heard_first = heard_first
        self.call = None

    async def play(self, channel_id, media, *, lang=None, playback_id=None):
        self.channels_gone.add(channel_id)
        if self.heard_first:
            self.call.post(stasis_end(channel_id))
        return await super().play(channel_id, media, lang=lang, playback_id=playback_id)


def stasis_end(channel_id: str):
    return parse_event({"type": "StasisEnd", "application": "callcenter",
                        "channel": channel_json(channel_id)})


@pytest.mark.parametrize("heard_first", [True, False], ids=["hangup-heard-first", "failed-play-seen-first"])
async def test_given_a_campaign_flow_when_its_goodbye_plays_to_a_gone_channel_then_the_call_ends_normally(
        router, seeded_db, events, tmp_path, heard_first):
    from types import SimpleNamespace

    from callcenter.campaigns.actions import load_campaign_flow
    from callcenter.campaigns.dialing.automated import AutomatedDial
    from callcenter.campaigns.dialing.call import new_call
    from callcenter.config import SiteConfig
    from callcenter.db.models import Patient

    loop = asyncio.get_running_loop()
    unretrieved = []
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    with seeded_db.session() as session:
        patient = Patient(mrn="MRN-BYE", given_name="A", family_name="B", date_of_birth=T0.date(), sex="F")
        session.add(patient)
        session.flush()
        patient_id = patient.id
    (tmp_path / "bye.yaml").write_text(GOODBYE_FLOW)
    written = []

    async def finish_attempt(attempt_id, result, **facts):
        written.append((attempt_id, result, facts["outcome"]))
    job = SimpleNamespace(campaign=SimpleNamespace(name="c"), patient_id=patient_id, attempt_id=5,
                          target_id=6, phone_e164="+14155550100", language="en")
    dial = AutomatedDial(job, site=SiteConfig(), finish_attempt=finish_attempt)
    router.deps.ari = ari = HungUpUnderTheGoodbye(heard_first)
    call = ari.call = new_call(router.deps, load_campaign_flow(tmp_path / "bye.yaml"), dial)
    dial.dial.result, dial.dial.amd_status = "person", "HUMAN"  # AMD's verdict: a person (state.verdict)

    CallRouter.start_call(router, call, lambda c: states.Ivr(c))  # untracked: the call can be collected
    await wait_until(lambda: ari.sent("play"), what="the goodbye")
    if not heard_first:
        await wait_until(lambda: call.state.name == "ended", what="the end of the flow")
        call.post(stasis_end(call.channel.id))
    await asyncio.wait_for(call.ended.wait(), 5)
    await wait_until(lambda: written, what="the attempt")
    await asyncio.wait_for(call.task, 5)
    call_id, ari.call, call = call.id, None, None
    gc.collect()  # the ended call's inbox, and a task in it whose exception nobody read, are collected

    assert unretrieved == []
    assert written == [(5, "person", None)]
    rows, logged = await rows_and_events(seeded_db, events)
    assert (rows[call_id].outcome, rows[call_id].end_reason) == ("ivr_hangup", "caller_hangup")
    assert "fail_safe" not in [e.type for e in logged if e.call_id == call_id]

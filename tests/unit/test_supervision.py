"""Supervision services on the real database: recording search filters, the reason rule, grants; the wallboard
snapshot."""
from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from callcenter.calls.services import CallTimes
from callcenter.db.models import Agent, AuditEvent, Call, Disposition, Patient, Recording
from callcenter.db.queries import AuditActor
from callcenter.review.exceptions import GrantRefused, InvalidReason, InvalidSearch, RecordingNotFound
from callcenter.review.services import Filters, ReviewService
from callcenter.wallboard.services import WallboardService

from ..audit_faults import AuditRefused, audit_rows_refused


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def recordings(seeded_db, tmp_path):
    """Two recorded calls: Ada (MRN-R1) with Alice in general on the 20th, disposition 'results';
    an unknown caller with Nina in nurse on the 22nd."""
    with seeded_db.session() as s:
        agents = {a.number: a.id for a in s.scalars(select(Agent))}
        ada = Patient(mrn="MRN-R1", given_name="Ada", family_name="Lovelace", date_of_birth=date(1960, 1, 1))
        s.add(ada)
        s.flush()
        for call_id, patient, agent, queue, day in (("c1", ada.id, "1001", "general", 20),
                                                    ("c2", None, "1003", "nurse", 22)):
            s.add(Call(id=call_id, patient_id=patient, agent_id=agents[agent], queue_name=queue,
                       started_at=_at(day), status="ended"))
            s.flush()
            s.add(Recording(call_id=call_id, agent_id=agents[agent], name=f"call-{call_id}",
                            path=f"2026/11/{day}/call-{call_id}.wav", format="wav", duration_seconds=12.0))
        s.add(Disposition(call_id="c1", agent_id=agents["1001"], code="results", created_at=_at(20, 11)))
        patient_id = ada.id
    for day, call_id in ((20, "c1"), (22, "c2")):
        path = tmp_path / "rec" / f"2026/11/{day}/call-{call_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF" + b"\0" * 60)
    return patient_id


@pytest.fixture
def review(seeded_db, events, tmp_path):
    return ReviewService(seeded_db, tmp_path / "rec")


def _query(**kw) -> Filters:
    return Filters.from_query(kw)


@pytest.mark.parametrize("filters, expected", [
    ({}, ["c2", "c1"]),
    ({"patient": "MRN-R1"}, ["c1"]),
    ({"patient": "lovel"}, ["c1"]),
    ({"patient": "ada lovelace"}, ["c1"]),
    ({"agent": "1003"}, ["c2"]),
    ({"queue": "general"}, ["c1"]),
    ({"disposition": "results"}, ["c1"]),
    ({"disposition": "callback"}, []),
    ({"date_from": "2026-11-21"}, ["c2"]),
    ({"date_to": "2026-11-20"}, ["c1"]),
    ({"date_from": "2026-11-20", "date_to": "2026-11-22", "queue": "nurse"}, ["c2"]),
])
async def test_given_recordings_when_searching_then_filters_apply(review, recordings, filters, expected):
    results = await review.search(_query(**filters), actor=AuditActor(7))

    assert [r["call_id"] for r in results] == expected


async def test_given_search_when_done_then_result_shows_patient_agent_disposition_and_is_audited(
        review, recordings, seeded_db, events):
    [hit] = await review.search(_query(patient="MRN-R1"), actor=AuditActor(7))

    assert hit["patient"] == {"id": recordings, "name": "Ada Lovelace", "mrn": "MRN-R1"}
    assert hit["agent"]["number"] == "1001" and hit["dispositions"] == ["results"]
    with seeded_db.session() as s:  # written with the read, not queued
        audit = s.scalars(select(AuditEvent)).one()
    assert (audit.action, audit.actor_user_id, audit.detail) == (
        "recordings_searched", 7, {"filters": ["patient"], "results": 1})


async def test_given_audit_row_refused_when_searching_then_error_and_no_results(
        review, recordings, seeded_db):
    with audit_rows_refused(seeded_db), pytest.raises(AuditRefused):
        await review.search(_query(patient="MRN-R1"), actor=AuditActor(7))

    with seeded_db.session() as s:
        assert s.scalars(select(AuditEvent)).all() == []


async def test_given_api_client_when_playing_then_audit_row_names_the_client_and_only_it_may_fetch(
        review, recordings, seeded_db):
    client = AuditActor(api_client="billing-export")

    grant = await review.grant_play(1, "quality review", actor=client)

    with seeded_db.session() as s:
        audit = s.scalars(select(AuditEvent)).one()
    assert (audit.action, audit.actor_user_id, audit.detail) == (
        "recording_played", None, {"via": "api", "api_client": "billing-export"})
    assert (await review.audio_file(1, grant, actor=client))[0].name == "call-c1.wav"
    for other in (AuditActor(api_client="another"), AuditActor(api_client=""), AuditActor()):
        with pytest.raises(GrantRefused):
            await review.audio_file(1, grant, actor=other)


async def test_given_audit_row_refused_when_asking_to_play_then_error_and_no_grant(
        review, recordings, seeded_db):
    with audit_rows_refused(seeded_db), pytest.raises(AuditRefused):
        await review.grant_play(1, "quality review", actor=AuditActor(7))

    assert review._grants == {}
    with seeded_db.session() as s:
        assert s.scalars(select(AuditEvent)).all() == []


def test_given_bad_date_when_searching_then_invalid_search():
    with pytest.raises(InvalidSearch):
        _query(date_from="yesterday")


@pytest.mark.parametrize("reason", [None, "", "   ", "why", 42, "x" * 501])
async def test_given_missing_or_bad_reason_when_asking_to_play_then_refused_and_nothing_audited(
        review, recordings, seeded_db, reason):
    with pytest.raises(InvalidReason):
        await review.grant_play(1, reason, actor=AuditActor(7))
    with seeded_db.session() as s:
        assert s.scalars(select(AuditEvent)).all() == []


async def test_given_reason_when_playing_then_audit_row_first_and_grant_serves_only_that_user_and_recording(
        review, recordings, seeded_db):
    with seeded_db.session() as s:
        rec_id = s.scalar(select(Recording.id).where(Recording.call_id == "c1"))
        other_id = s.scalar(select(Recording.id).where(Recording.call_id == "c2"))

    grant = await review.grant_play(rec_id, "  Complaint   follow-up ", actor=AuditActor(7))

    with seeded_db.session() as s:  # already written: grant_play waits for the audit row
        audit = s.scalars(select(AuditEvent)).one()
    assert (audit.action, audit.recording_id, audit.call_id, audit.patient_id, audit.reason) == (
        "recording_played", rec_id, "c1", recordings, "Complaint follow-up")
    path, content_type = await review.audio_file(rec_id, grant, actor=AuditActor(7))
    assert path.name == "call-c1.wav" and content_type == "audio/wav"
    for recording_id, token, user in ((rec_id, None, 7), (rec_id, "forged", 7), (rec_id, grant, 8),
                                      (other_id, grant, 7)):
        with pytest.raises(GrantRefused):
            await review.audio_file(recording_id, token, actor=AuditActor(user))
    with pytest.raises(RecordingNotFound):
        await review.grant_play(999, "a good reason", actor=AuditActor(7))


async def test_given_expired_grant_when_fetching_audio_then_refused(review, recordings, monkeypatch):
    grant = await review.grant_play(1, "a good reason", actor=AuditActor(7))
    review._grants[grant].expires = 0

    with pytest.raises(GrantRefused):
        await review.audio_file(1, grant, actor=AuditActor(7))


# -- wallboard ---------------------------------------------------------------------------------------------


class WaitingCall:  # the queue keeps weak references to its callers: a plain class, not a SimpleNamespace
    id, language = "w1", "en"

    def offer(self, agent) -> None:
        pass


async def test_given_waiting_and_connected_calls_when_snapshot_then_queues_agents_and_calls_show(queues):
    waiting = WaitingCall()
    queues.enqueue(waiting, "nurse")
    agent = queues.agent("1001")
    talking = SimpleNamespace(id="t1", state=SimpleNamespace(name="connected"), agent=agent,
                              queue_name="general", times=CallTimes(_at(23), None, _at(23), _at(23)))
    in_menu = SimpleNamespace(id="m1", state=SimpleNamespace(name="ivr"), agent=None)
    queued = SimpleNamespace(id="w1", state=SimpleNamespace(name="queued"), agent=None)
    router = SimpleNamespace(live_calls=lambda: [talking, in_menu, queued])

    snap = WallboardService(queues, router).snapshot()

    nurse = next(q for q in snap["queues"] if q["name"] == "nurse")
    assert [w["call_id"] for w in nurse["waiting"]] == ["w1"]
    assert nurse["longest_since"] == nurse["waiting"][0]["since"]
    assert [(c["call_id"], c["status"], c["agent"]["number"]) for c in snap["calls"]] == [
        ("t1", "connected", "1001")]
    assert snap["in_ivr"] == 1
    assert [a["number"] for a in snap["agents"]] == ["1001", "1002", "1003"]


async def test_given_held_and_consulting_calls_when_snapshot_then_they_stay_in_calls_in_progress(queues):
    def with_agent(id_, state, number):
        return SimpleNamespace(id=id_, state=SimpleNamespace(name=state), agent=queues.agent(number),
                               queue_name="general", times=CallTimes(_at(20), None, _at(20), _at(20)))
    calls = [with_agent("h1", "held", "1001"), with_agent("k1", "consulting", "1002"),
             with_agent("o1", "offering", "1003"), with_agent("t1", "connected", "1001")]
    router = SimpleNamespace(live_calls=lambda: calls)

    snap = WallboardService(queues, router).snapshot()

    assert [(c["call_id"], c["state"], c["status"]) for c in snap["calls"]] == [
        ("h1", "held", "held"), ("k1", "consulting", "held"), ("o1", "offering", "ringing"),
        ("t1", "connected", "connected")]
    # Monitoring buttons only where supervision accepts a session (vocabulary.MONITORABLE): else a 409.
    assert [c["call_id"] for c in snap["calls"] if c["monitorable"]] == ["t1"]


# -- after a restart -----------------------------------------------------------------------------------------


async def test_given_orphan_supervisor_and_snoop_channels_when_reconciled_then_hung_up_not_queued_as_callers(
        seeded_db, events, queues, tmp_path):
    from callcenter.ari.models import Channel
    from callcenter.calls.services import CallDeps
    from callcenter.calls.stasis import CallRouter
    from callcenter.config import TelephonyConfig
    from callcenter.supervision.services import MonitorService

    from .fake_ari import FakeAri, channel_json

    ari = FakeAri()
    router = CallRouter(seeded_db, {})
    router.deps = CallDeps(ari=ari, events=events, queues=queues, pops=None, recordings=None,
                           settings=TelephonyConfig(), bind=router.bind, bind_bridge=router.bind_bridge,
                           forget=router.forget)
    MonitorService(ari, seeded_db, events, router)  # registers the supervisor and snoop roles
    ari.channels_alive = [Channel.from_json(channel_json(cid, app="Stasis", app_data=f"callcenter,{role},s1"))
                          for cid, role in (("sup-s1", "supervisor"), ("snoop-s1", "snoop"))]

    await router.reconcile()

    assert sorted(ari.sent("hangup")) == [("snoop-s1",), ("sup-s1",)]
    assert router.live_calls() == []
    assert all(not queues.waiting(name) for name in queues.queues)


async def test_given_bad_requests_when_starting_monitoring_then_refused_before_anything_is_dialed(
        seeded_db, events, queues):
    from callcenter.calls.stasis import CallRouter
    from callcenter.supervision.exceptions import (
        CallNotFound,
        InvalidEndpoint,
        InvalidMode,
        NoPhone,
        SupervisionError,
    )
    from callcenter.supervision.services import MonitorService

    from .fake_ari import FakeAri

    ari = FakeAri()
    monitors = MonitorService(ari, seeded_db, events, CallRouter(seeded_db, {}))
    cases = [("listen", None, NoPhone), ("listen", "not a phone", InvalidEndpoint),
             ("shout", "PJSIP/2001", InvalidMode), ("listen", "PJSIP/2001", CallNotFound)]
    for mode, endpoint, error in cases:
        with pytest.raises(error) as raised:
            await monitors.start("c" * 32, mode, endpoint, user_id=7)
        assert isinstance(raised.value, SupervisionError) and raised.value.status in (400, 404, 409)
    assert ari.sent("originate") == [] and monitors.sessions == {}


async def test_given_audit_row_refused_when_starting_monitoring_then_refused_and_no_phone_rings(
        seeded_db, events):
    import asyncio

    from callcenter.calls.stasis import CallRouter
    from callcenter.supervision.services import MonitorService

    from .fake_ari import FakeAri

    ari = FakeAri()
    router = CallRouter(seeded_db, {})
    talking = SimpleNamespace(id="m" * 32, ended=asyncio.Event(), state=SimpleNamespace(name="connected"),
                              patients=[{"id": 5}], channel=SimpleNamespace(id="caller-m"),
                              start=lambda initial: None)
    router.start_call(talking)
    monitors = MonitorService(ari, seeded_db, events, router)

    with audit_rows_refused(seeded_db), pytest.raises(AuditRefused):
        await monitors.start(talking.id, "listen", "PJSIP/2001", user_id=7,
                             actor=AuditActor(api_client="quality-desk"))

    assert ari.sent("originate") == [] and monitors.sessions == {}
    with seeded_db.session() as s:
        assert s.scalars(select(AuditEvent)).all() == []

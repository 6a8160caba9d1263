"""The event log writes what a call queues as data: a batch's rows as one INSERT per table, its updates merged
per row and sent as one executemany per shape, each row's updates still in the order they were queued (a
leg's first close says how it ended). Fewer statements, the same rows."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from callcenter.db.models import Call, CallEvent, CallLeg
from callcenter.eventlog import EventLog

CALLS, LEGS = Call.__table__, CallLeg.__table__
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _queue_a_call(events: EventLog, call_id: str) -> None:
    """What a hotline call writes from its start to its queue, then a leg dialed and closed twice."""
    events.insert(CALLS, id=call_id, direction="inbound", channel_id=f"{call_id}-caller", status="ivr",
                  caller_status="valid", started_at=T0, ivr_path=[], candidate_patient_ids=[])
    events.insert(LEGS, call_id=call_id, channel_id=f"{call_id}-caller", role="caller", started_at=T0)
    events.event(call_id, "call_started", ts=T0)
    events.update(CALLS, {"id": call_id}, candidate_patient_ids=[], patient_id=None)
    events.update(CALLS, {"id": call_id}, ivr_path=[{"menu": "language", "key": "1"}])
    events.update(CALLS, {"id": call_id}, status="queued", queue_name="general", queued_at=T0)
    events.event(call_id, "queued", queue_name="general", ts=T0)
    events.insert(LEGS, call_id=call_id, channel_id=f"{call_id}-agent", role="agent", started_at=T0)
    events.update(LEGS, {"channel_id": f"{call_id}-agent"}, unset=("ended_at",),
                  ended_at=T0 + timedelta(seconds=1), outcome="no_answer")
    events.update(LEGS, {"channel_id": f"{call_id}-agent"}, unset=("ended_at",),
                  ended_at=T0 + timedelta(seconds=9))  # a second close changes nothing
    events.update(CALLS, {"id": call_id}, status="offering")


async def test_given_three_calls_queued_in_one_batch_when_written_then_their_rows_are_right_in_few_statements(  # noqa: E501
        db):
    events = EventLog(db)
    ids = [f"call{n}" for n in range(3)]
    for call_id in ids:  # queued before the writer starts: one batch
        _queue_a_call(events, call_id)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0]))
    await events.start()
    await events.flush()
    await events.close()

    with db.session() as session:
        calls = session.scalars(select(Call).order_by(Call.id)).all()
        legs = {leg.channel_id: leg for leg in session.scalars(select(CallLeg))}
        logged = [(e.call_id, e.type) for e in session.scalars(select(CallEvent).order_by(CallEvent.id))]
    assert [(c.id, c.status, c.queue_name, c.queued_at, c.ivr_path) for c in calls] == [
        (call_id, "offering", "general", T0, [{"menu": "language", "key": "1"}]) for call_id in ids]
    assert [(legs[f"{i}-agent"].ended_at, legs[f"{i}-agent"].outcome) for i in ids] == [
        (T0 + timedelta(seconds=1), "no_answer")] * 3
    assert [legs[f"{i}-caller"].ended_at for i in ids] == [None] * 3
    assert logged == [(i, t) for i in ids for t in ("call_started", "queued")]  # in the order logged
    # One INSERT per table; the calls' updates merged into one executemany; the legs' two closes in two
    # rounds (the second must not undo the first); no ORM flush in between.
    inserts = [s for s in statements if s.upper() == "INSERT"]
    updates = [s for s in statements if s.upper() == "UPDATE"]
    assert (len(inserts), len(updates)) == (3, 3)


async def test_given_a_callable_between_rows_when_written_then_it_sees_what_was_queued_before_it(db):
    events = EventLog(db)
    seen = []
    events.insert(CALLS, id="c1", direction="inbound", status="ivr", caller_status="valid", started_at=T0,
                  ivr_path=[], candidate_patient_ids=[])
    events.update(CALLS, {"id": "c1"}, status="queued")
    events.write(lambda s: seen.append(s.scalar(select(Call.status).where(Call.id == "c1"))))
    events.update(CALLS, {"id": "c1"}, status="ended")
    await events.start()
    await events.close()

    with db.session() as session:
        assert (seen, session.scalar(select(Call.status))) == (["queued"], "ended")

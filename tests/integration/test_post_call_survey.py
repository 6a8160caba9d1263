"""Real calls through the sandbox Asterisk: the survey after an inbound call (issue 17). The agent hangs up
from the desk; the caller, sent to the survey by the queue's setting or the desk's flag, answers by DTMF.
The simulated caller's survey keys come after a pause ('w' is half a second of SendDTMF), so that they are
pressed during the survey: keys pressed before it are forgotten when it starts."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db.models import CallSurvey

pytestmark = pytest.mark.asterisk

ENGLISH, RESULTS = "1", "2"
PAUSE = "w" * 44  # 22 s after the IVR keys: the agent has answered and hung up, the first question is asked


async def post(center, path: str) -> tuple[int, dict]:
    async with center.http.post(center.base_url + path, headers=center.headers) as resp:
        return resp.status, await resp.json()


async def surveys(center) -> list[CallSurvey]:
    return await center.s.db.run(lambda s: s.scalars(select(CallSurvey)).all())


async def connected_then_agent_hangs_up(center, *, flag: bool = False):
    row = await center.call_row("connected", timeout=90)
    if flag:
        assert await post(center, f"/api/calls/{row.id}/survey") == (200, {"call_id": row.id,
                                                                           "state": "connected"})
    assert (await post(center, f"/api/calls/{row.id}/hangup"))[0] == 200
    return row


async def test_given_a_surveying_queue_when_the_agent_hangs_up_then_answers_kept_with_agent_and_queue(center):
    center.s.queues.queue("results").post_call_survey = True
    await center.set_agent("1005", "available")
    agent_id = center.s.queues.agent("1005").id

    await center.call("4155550181", f"{ENGLISH},{RESULTS},{PAUSE}4,1", hangup_after=90)
    row = await connected_then_agent_hangs_up(center)

    ended = await center.call_row("ended", timeout=90)
    [survey] = await surveys(center)
    assert (survey.call_id, survey.agent_id, survey.queue_name) == (row.id, agent_id, "results")
    assert (survey.satisfaction, survey.resolved) == (4, True)
    assert (ended.outcome, ended.end_reason, ended.agent_id) == ("completed", "agent_hangup", agent_id)
    events = await center.events(row.id)
    types = [e.type for e in events]
    assert types.index("survey_started") < types.index("survey_ended") < types.index("ended")
    assert [e.data for e in events if e.type == "survey_ended"] == [{"complete": True}]
    assert center.s.queues.agent("1005").state == "available", "the agent was free when the survey began"
    await center.wait_for(lambda: _no_channels(center), 20, "every channel hung up")


async def test_given_the_desks_survey_flag_when_the_caller_hangs_up_mid_survey_then_the_first_answer_is_kept(
        center):
    await center.set_agent("1005", "available")

    # The caller hangs up 30 s in: after answering the first question, while the second is asked.
    await center.call("4155550182", f"{ENGLISH},{RESULTS},{PAUSE}3", hangup_after=30)
    row = await connected_then_agent_hangs_up(center, flag=True)

    ended = await center.call_row("ended", timeout=90)
    [survey] = await surveys(center)
    assert (survey.call_id, survey.queue_name, survey.satisfaction, survey.resolved) == (
        row.id, "results", 3, None)
    assert (ended.status, ended.outcome, ended.end_reason) == ("ended", "completed", "agent_hangup")
    events = await center.events(row.id)
    assert [e.type for e in events].count("survey_requested") == 1
    assert [e.data for e in events if e.type == "survey_ended"] == [
        {"complete": False, "reason": "caller_hangup"}]
    assert [e.type for e in events][-1] == "ended"
    assert center.s.queues.agent("1005").state == "available"
    await center.wait_for(lambda: _no_channels(center), 20, "every channel hung up")


async def _no_channels(center) -> bool:
    return not await center.live_channels()

"""The wallboard's calls in progress on real calls: a call on hold, or whose agent consults a colleague, is
still in progress with its agent (it used to vanish from the board)."""
from __future__ import annotations

import pytest

from .test_call_controls import bridge_members, nurse_call, post

pytestmark = pytest.mark.asterisk


async def board_calls(center) -> dict[str, tuple[str, str, str]]:
    async with center.http.get(f"{center.base_url}/api/wallboard", headers=center.headers) as resp:
        assert resp.status == 200
        board = await resp.json()
    return {c["call_id"]: (c["state"], c["status"], c["agent"]["number"]) for c in board["calls"]}


async def test_given_a_connected_call_when_the_agent_holds_then_consults_then_the_wallboard_still_counts_it(
        center):
    call, row = await nurse_call(center, "1005", "+14155550190")
    assert await board_calls(center) == {row.id: ("connected", "connected", "1005")}

    status, _ = await post(center, f"/api/calls/{row.id}/hold")
    assert status == 200
    assert await board_calls(center) == {row.id: ("held", "held", "1005")}
    assert await bridge_members(center, call.legs.bridge_id) == {call.channel.id, call.legs.agent_channel_id}

    await center.set_agent("1006", "available")
    status, body = await post(center, f"/api/calls/{row.id}/transfer", {"mode": "warm", "agent": "1006"})
    assert (status, body["state"]) == (200, "consulting")
    assert await board_calls(center) == {row.id: ("consulting", "held", "1005")}

    status, _ = await post(center, f"/api/calls/{row.id}/transfer/cancel")
    assert status == 200
    assert await board_calls(center) == {row.id: ("connected", "connected", "1005")}

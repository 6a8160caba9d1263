"""`callcenter simulate-call` against the real Asterisk and a running server: it prints the id of the call the
server made of it (what GET /api/calls/<id> knows), and where to watch it."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.db.models import Call

pytestmark = pytest.mark.asterisk

CALLERS = ("+14155550146", "4155550147")


async def simulate_call(center, tmp_path: Path, caller: str, *,
                        server: bool = True) -> tuple[int, str, str]:
    cfg = center.s.cfg
    env = {**os.environ, "CALLCENTER_STATE_DIR": str(tmp_path / "cli-state"),
           "CALLCENTER_ARI_URL": cfg.ari.url, "CALLCENTER_ARI_PASSWORD": cfg.ari.password,
           "CALLCENTER_HTTP_API_TOKEN": "test-token",
           # no server: port 9 (discard), where nothing answers HTTP
           "CALLCENTER_HTTP_PORT": center.base_url.rsplit(":", 1)[1] if server else "9"}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "callcenter"), "simulate-call", "--caller", caller,
        "--digits", "1,1", "--hangup-after", "20", "--find-timeout", "10" if server else "3", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_given_two_simulated_calls_at_once_when_run_then_each_prints_its_call_id_that_the_api_knows(
        center, tmp_path):
    await center.set_agent("1001", "available")

    results = await asyncio.gather(*(simulate_call(center, tmp_path / c, c) for c in CALLERS))

    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    printed = [out.splitlines() for _, out, _ in results]
    call_ids = [lines[0] for lines in printed]
    rows = await center.s.db.run(lambda s: {c.id: c for c in s.scalars(select(Call)).all()})
    assert sorted(call_ids) == sorted(rows) and len(set(call_ids)) == 2
    assert {rows[i].caller_e164 for i in call_ids} == {"+14155550146", "+14155550147"}
    for call_id, lines in zip(call_ids, printed, strict=True):
        assert lines[1].split()[:2] == ["API:", f"{center.base_url}/api/calls/{call_id}"]
        assert f"{center.base_url}/calls/{call_id}" in lines[2]
        async with center.http.get(f"{center.base_url}/api/calls/{call_id}", headers=center.headers) as resp:
            assert resp.status == 200 and (await resp.json())["id"] == call_id
    everything = "".join(out + err for _, out, err in results)
    assert "555014" not in everything, "no caller number in what it prints"


async def test_given_no_server_when_simulating_a_call_then_call_is_placed_and_command_says_id_is_unknown(
        center, tmp_path):
    code, out, err = await simulate_call(center, tmp_path, CALLERS[0], server=False)

    assert code == 1 and out == ""
    assert "the call is placed (patient channel " in err and "did not answer" in err
    row = await center.call_row(timeout=30)  # the controller took it all the same
    assert row.caller_e164 == CALLERS[0]

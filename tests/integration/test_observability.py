"""Observability with real calls: /api/metrics in the Prometheus text format shows the live call's state, its
queue wait, the ARI traffic and a reconnect; the JSON-lines log carries the call's ids and never the demo
patients' names, record numbers or phone numbers."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callcenter import logs
from callcenter.demo import PATIENTS

from .harness import TEST_INSTANCE, sandbox
from .test_hotline import ENGLISH, RESULTS, receive

pytestmark = pytest.mark.asterisk

# Michael Smith of the demo data: his mobile, as the trunk delivers it.
DEMO_PATIENT = next(p for p in PATIENTS if p.mrn == "MRN100002")
CALLER = "+14155550102"


async def scrape(center) -> dict[tuple[str, tuple], float]:
    """GET /api/metrics with the API token, parsed: {(sample name, sorted labels): value}."""
    async with center.http.get(f"{center.base_url}/api/metrics", headers=center.headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_given_a_connected_call_when_metrics_are_scraped_then_its_state_wait_and_ari_traffic_show_and_a_reconnect_counts(  # noqa: E501
        center):
    ws = await center.agent_socket("1005")
    await center.set_agent("1005", "available")
    before = await scrape(center)
    await center.call(CALLER, f"{ENGLISH},{RESULTS}", hangup_after=60)
    await receive(ws, "screen_pop")
    await center.call_row("connected")

    during = await scrape(center)

    assert during[("callcenter_calls", (("state", "connected"),))] == 1
    assert during[("callcenter_agents", (("state", "on_call"),))] == 1
    waited = ("callcenter_queue_wait_seconds_count", (("outcome", "answered"), ("queue", "results")))
    assert during[waited] == 1
    assert during[("callcenter_ari_requests_total", ())] > before[("callcenter_ari_requests_total", ())]
    assert during[("callcenter_ari_events_total", ())] > before[("callcenter_ari_events_total", ())]
    assert during[("callcenter_db_transaction_seconds_count", ())] > 0
    assert during[("callcenter_event_loop_lag_seconds_count", ())] > 0
    assert during[("callcenter_ari_connected", ())] == 1
    assert during[("callcenter_ari_reconnects_total", ())] == 0

    connections = center.s.ari.connections
    status = await asyncio.to_thread(sandbox, "status", "--instance", TEST_INSTANCE)
    os.kill(int(re.search(r"pid (\d+)", status.stdout).group(1)), signal.SIGKILL)
    await asyncio.to_thread(sandbox, "start", "--instance", TEST_INSTANCE)

    async def reconnected():
        return center.s.ari.connections > connections and center.s.ari.connected.is_set()
    await center.wait_for(reconnected, 60, "the ARI reconnect")
    await center.call_row("ended", timeout=30)
    after = await scrape(center)
    assert (after[("callcenter_ari_connected", ())], after[("callcenter_ari_reconnects_total", ())]) == (1, 1)
    assert ("callcenter_calls", (("state", "connected"),)) not in after


@pytest.fixture
def json_log():
    """The process's log records, DEBUG and up, as the JSON lines [logging] format = "json" writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logs.install(handler, "json")
    logger = logging.getLogger("callcenter")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def _patient_data() -> list[str]:
    """What must never be in a log: every demo patient's names, record number and phone digits."""
    found = []
    for p in PATIENTS:
        found += [p.given_name, p.family_name, p.mrn, p.born.isoformat()]
        found += ["".join(ch for ch in number if ch.isdigit())[-10:] for number, _, _ in p.phones]
    return found


async def test_given_json_logs_when_a_demo_patient_calls_then_the_calls_lines_carry_its_ids_and_no_patient_data(  # noqa: E501
        center, json_log):
    ws = await center.agent_socket("1005")
    await center.set_agent("1005", "available")
    await center.call(CALLER, f"{ENGLISH},{RESULTS}", hangup_after=20)
    pop, _ = await receive(ws, "screen_pop")
    row = await center.call_row("ended", timeout=60)
    await center.s.events.flush()

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    mine = [line for line in lines if line.get("call_id") == row.id]

    assert DEMO_PATIENT.family_name in json.dumps(pop)  # the pop named him: the data was there to leak
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    # The call's task logs under its ids, even in modules that know nothing of calls (the ARI client).
    assert {"callcenter.eventlog", "callcenter.ari.client"} <= {line["logger"] for line in mine}
    assert {line.get("channel_id") for line in mine if line["logger"] == "callcenter.ari.client"} == {
        row.channel_id}
    text = json_log.getvalue()
    assert [value for value in _patient_data() if value in text] == []

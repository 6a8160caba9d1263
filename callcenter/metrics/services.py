"""What the server exposes to Prometheus: calls by state, queue waits, ARI traffic and reconnects, event-loop
lag, database latency and lock retries.

Each Services has its own registry (no module-level one, unlike prometheus_client's default REGISTRY), so
two servers in one process (tests) never mix figures. Live figures (calls by state, agents by state, ARI
counters) are read when Prometheus scrapes, so they cost nothing on a call's path; what must be observed as it
happens (a queue wait, a database transaction, the loop's lag) goes into histograms. No label or value names a
patient: states, queue names and counts only.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..ari.client import AriClient
    from ..calls.stasis import CallRouter
    from ..db.database import Database
    from ..eventlog import EventLog
    from ..fastagi.server import FastAgiServer
    from ..queues.services import QueueService

log = logging.getLogger(__name__)

QUEUE_WAIT_BUCKETS = (1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
LAG_INTERVAL = 0.5  # s between two looks at the event loop's lag
WAITING = frozenset({"queued", "requeued"})  # call events that (re)start a queue wait


class Metrics:
    def __init__(self, router: CallRouter, queues: QueueService, ari: AriClient, db: Database,
                 events: EventLog, fastagi: FastAgiServer | None = None):
        self.registry = CollectorRegistry()
        self.queue_wait = Histogram(
            "callcenter_queue_wait_seconds",
            "Time from queued to answered by an agent, or to leaving the queue unanswered",
            ["queue", "outcome"], buckets=QUEUE_WAIT_BUCKETS, registry=self.registry)
        self.db_seconds = Histogram(
            "callcenter_db_transaction_seconds", "Duration of each database transaction run by the server",
            buckets=DB_BUCKETS, registry=self.registry)
        self.loop_lag = Histogram(
            "callcenter_event_loop_lag_seconds", "How late the event loop ran a timer (a blocked loop delays "
            "every call)", buckets=LAG_BUCKETS, registry=self.registry)
        self.registry.register(LiveCollector(router, queues, ari, db, events))
        if fastagi is not None:
            self.registry.register(FastAgiCollector(fastagi))
        self._waiting: dict[str, tuple[str, datetime]] = {}
        self._lag_task: asyncio.Task | None = None
        db.observers.append(self.db_seconds.observe)
        events.listeners.append(self.call_event)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def call_event(self, call_id: str | None, type_: str, queue: str | None, ts: datetime,
                   data: dict) -> None:
        """A queue wait starts at the first queued event and ends at connected (answered) or ended."""
        if call_id is None:
            return
        if type_ in WAITING:
            self._waiting.setdefault(call_id, (queue or "", ts))
        elif type_ in ("connected", "ended") and call_id in self._waiting:
            queue_name, since = self._waiting.pop(call_id)
            outcome = "answered" if type_ == "connected" else str(data.get("outcome") or "ended")
            self.queue_wait.labels(queue_name, outcome).observe((ts - since).total_seconds())

    # -- event-loop lag ------------------------------------------------------------------------------------

    def start(self, interval: float = LAG_INTERVAL) -> None:
        self._lag_task = asyncio.create_task(self._watch_lag(interval), name="metrics-loop-lag")

    async def stop(self) -> None:
        if self._lag_task:
            self._lag_task.cancel()
            await asyncio.gather(self._lag_task, return_exceptions=True)
            self._lag_task = None

    async def _watch_lag(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, loop.time() - due))


class LiveCollector(Collector):
    """Figures read from the running services at each scrape."""

    def __init__(self, router: CallRouter, queues: QueueService, ari: AriClient, db: Database,
                 events: EventLog):
        self._router, self._queues, self._ari, self._db, self._events = router, queues, ari, db, events

    def collect(self) -> Iterator:
        yield _by_label("callcenter_calls", "Live calls by state", "state",
                        (c.state.name for c in self._router.live_calls() if not c.ended.is_set()))
        yield _by_label("callcenter_agents", "Agents by state", "state",
                        (a.state for a in list(self._queues.agents.values())))
        ari = self._ari
        yield GaugeMetricFamily("callcenter_ari_connected", "1 while the ARI event websocket is up",
                                value=1 if ari.connected.is_set() else 0)
        yield CounterMetricFamily("callcenter_ari_reconnects", "ARI websocket connections after the first",
                                  value=max(0, ari.connections - 1))
        yield CounterMetricFamily("callcenter_ari_requests", "ARI REST requests sent", value=ari.requests)
        yield CounterMetricFamily("callcenter_ari_events", "ARI events received", value=ari.events)
        yield CounterMetricFamily("callcenter_db_lock_retries",
                                  "Transactions run again after losing a race for a database lock",
                                  value=self._db.contention_retries)
        yield CounterMetricFamily("callcenter_eventlog_failures", "Event log batches that failed",
                                  value=self._events.failures)


class FastAgiCollector(Collector):
    """The FastAGI server's figures ([fastagi] listen), read at each scrape."""

    def __init__(self, server: FastAgiServer):
        self._server = server

    def collect(self) -> Iterator:
        answered, open_now = self._server.figures()
        family = CounterMetricFamily(
            "callcenter_fastagi_requests", "FastAGI requests answered, by script and outcome (ok, failed, "
            "hung_up, error, busy)", labels=["script", "outcome"])
        for (script, outcome), count in sorted(answered.items()):
            family.add_metric([script, outcome], count)
        yield family
        yield GaugeMetricFamily("callcenter_fastagi_connections", "FastAGI connections open (routed calls in "
                                "the hotline hold theirs)", value=open_now)


def _by_label(name: str, documentation: str, label: str, values) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(Counter(values).items()):
        family.add_metric([value], count)
    return family

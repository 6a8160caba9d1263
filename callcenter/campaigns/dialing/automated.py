"""Runs an automated campaign: claims due targets, dials them paced, and records every attempt.

Pacing: never more than `max_channels` campaign calls live, and originates spaced 1/calls_per_second apart
on a monotonic schedule (each slot is the previous slot plus the interval, so sleeping late once does not
shift every later call; a schedule fallen far behind restarts from now instead of bursting, see CATCH_UP).

Safety with several workers (processes, or runs in one process): patients are claimed in the database
(CampaignService.claim: one live dial per patient, whoever asks), so two runs of one campaign share its
targets and never dial a patient twice at once. A second run of a campaign in the same process joins the one
running: runs are idempotent.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...calls.flavour import ActionRunner
from ...calls.services import Call
from ...calls.stasis import CallRouter
from ...config import Config, SiteConfig
from ...eventlog import utcnow
from ...ivr.flow import Flow
from ..actions import CampaignActions, load_campaign_flow
from ..claims import DialJob
from ..context import flow_context
from ..exceptions import CampaignError
from ..message import SiteNotConfigured, message_media
from ..schema import CampaignDef
from ..services import CampaignService
from .call import PatientDial, new_call
from .state import Dialing

log = logging.getLogger(__name__)

# How far behind its schedule the dialer may be and still catch up (originating the next calls closer
# together until back on time): a claim from the database between batches costs some tens of ms, which would
# otherwise be lost from the rate every batch. Behind by more (waiting for a free channel, nothing due), the
# schedule restarts from now: no burst.
CATCH_UP = 0.5

@dataclass
class RunReport:
    campaign: str
    worker: str
    started_at: datetime
    ended_at: datetime | None = None
    results: Counter = field(default_factory=Counter)
    # Due targets a compliance rule held back at the run's last claim (outside_window, retry_wait, ...):
    # why a run dialed fewer patients than were pending.
    held_back: Counter = field(default_factory=Counter)
    # time.monotonic() of every originate, for pacing measurements
    dialed_at: list[float] = field(default_factory=list)

    @property
    def dialed(self) -> int:
        return len(self.dialed_at)

    def to_json(self) -> dict:
        return {"campaign": self.campaign, "worker": self.worker, "started_at": self.started_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None, "dialed": self.dialed,
                "results": dict(self.results), "held_back": dict(self.held_back)}


class AutomatedDial:
    """The automated campaign flavour of a call (calls/flavour.py): the patient dialed and sent to AMD by its
    `PatientDial` (call.py), and a person taken through the campaign's flow, whose `action` nodes run
    `actions` (CampaignActions.bind). The progressive flavour (progressive.py) holds the same part."""
    direction = "outbound"
    mode = "automated"
    script: str | None = None

    def __init__(self, job: DialJob, *, site: SiteConfig, finish_attempt: Callable[..., Awaitable] | None,
                 context: dict[str, Any] | None = None, clock: Callable[[], datetime] = utcnow):
        self.dial = PatientDial(job, role="campaign", site=site, finish_attempt=finish_attempt, clock=clock)
        self.actions: ActionRunner | None = None  # what the flow's `action` nodes run (the dialer binds it)
        self._context = context or {}

    def write_start(self, call: Call) -> None:
        self.dial.write_start(call)

    def flow_context(self, call: Call) -> dict:
        return dict(self._context)

    def dialed_facts(self, call: Call) -> dict:
        return self.dial.dialed_facts(self.mode)

    def legs_answered(self, call: Call) -> None:
        """A person queued by the campaign flow reached an agent: the agent's leg opens; the patient's was
        marked when they picked up."""
        call.mark_answered(call.legs.agent_channel_id)

    async def ending(self, call: Call) -> None:
        await self.write_attempt(call)

    async def write_attempt(self, call: Call) -> None:
        """The attempt, with the outcome the flow's actions recorded (else the machine message's)."""
        await self.dial.write_attempt(call, getattr(self.actions, "outcome", None))

    def pop_extras(self, call: Call) -> dict:
        return {}


class Dialer:
    def __init__(self, router: CallRouter, campaigns: CampaignService, actions: CampaignActions, cfg: Config,
                 *, clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic,
                 worker: str | None = None):
        self._router = router
        self._campaigns = campaigns
        self._actions = actions
        self._cfg = cfg
        self._clock = clock
        self._monotonic = monotonic
        self.worker = worker or cfg.campaigns.worker or f"{socket.gethostname()}-{os.getpid()}"
        self._runs: dict[str, asyncio.Task] = {}

    # -- runs ---------------------------------------------------------------------------------------------

    async def run(self, name: str, *, worker: str | None = None) -> RunReport:
        """Dial every due target of `name` until none is left and every call has ended."""
        task = self._runs.get(name)
        if task is None or task.done():
            campaign = await self._campaigns.get(name)
            flow = self._check(campaign)
            task = asyncio.create_task(self._run(campaign, flow, worker or self.worker),
                                       name=f"campaign-{name}")
            self._runs[name] = task
            task.add_done_callback(lambda t: self._forget(name, t))
        return await asyncio.shield(task)

    def _forget(self, name: str, task: asyncio.Task) -> None:
        if self._runs.get(name) is task:
            del self._runs[name]

    def running(self) -> list[str]:
        return sorted(self._runs)

    async def stop(self) -> None:
        tasks = list(self._runs.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _check(self, campaign: CampaignDef) -> Flow:
        """Refuse a run that could not do its calls right, before dialing anyone."""
        if campaign.mode != "automated":
            raise CampaignError([f"{campaign.name}: a {campaign.mode} campaign is run by its own dialer"])
        if campaign.compliance.machine == "leave_message":
            try:
                message_media(self._cfg.site)
            except SiteNotConfigured as exc:
                raise CampaignError([f"{campaign.name}: {exc}"]) from None
        return load_campaign_flow(self._cfg.path("ivr_flows") / f"{campaign.flow}.yaml",
                                  protocol=campaign.protocol, questionnaire=campaign.questionnaire)

    async def _run(self, campaign: CampaignDef, flow: Flow, worker: str) -> RunReport:
        report = RunReport(campaign.name, worker, self._clock())
        pacing = campaign.pacing
        interval = 1.0 / pacing.calls_per_second
        batch = max(1, math.ceil(pacing.calls_per_second))  # about a second of calls per claim
        live: set[asyncio.Task] = set()
        slot = self._monotonic()
        log.info("campaign %s: run started by %s", campaign.name, worker)
        try:
            while True:
                live = {task for task in live if not task.done()}
                free = pacing.max_channels - len(live)
                held = Counter()
                jobs = await self._campaigns.claim(campaign.name, worker, min(free, batch), self._clock(),
                                                   held) if free > 0 else []
                if free > 0:
                    report.held_back = held
                for job in jobs:
                    slot = max(slot, self._monotonic() - CATCH_UP)
                    await asyncio.sleep(max(0.0, slot - self._monotonic()))
                    report.dialed_at.append(self._monotonic())
                    live.add(asyncio.create_task(self._attempt(flow, job, report)))
                    slot += interval
                if jobs:
                    continue
                if not live:
                    break
                _, live = await asyncio.wait(live, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if live:
                await asyncio.gather(*live, return_exceptions=True)
        report.ended_at = self._clock()
        log.info("campaign %s: run by %s ended: %d dialed %s, held back for now %s", campaign.name, worker,
                 report.dialed, dict(report.results), dict(report.held_back))
        return report

    async def _attempt(self, flow: Flow, job: DialJob, report: RunReport) -> None:
        deps = self._router.deps
        call: Call | None = None
        dial: AutomatedDial | None = None
        try:
            context = await flow_context(self._campaigns.db, job, default_time_zone=self._cfg.site.time_zone)
            dial = AutomatedDial(job, context=context, site=self._cfg.site, clock=self._clock,
                                finish_attempt=self._campaigns.finish)
            call = new_call(deps, flow, dial)
            dial.actions = self._actions.bind(call.id, job)
            self._router.start_call(call, lambda c: Dialing(c))
            await call.ended.wait()
        finally:
            report.results[dial.dial.result if call is not None else "failed"] += 1
            if call is not None:
                # Written when the call ended, unless the run was stopped first.
                await dial.write_attempt(call)
            else:  # no call was made (its context could not be read): the attempt failed
                await self._campaigns.finish(job.attempt_id, "failed", ended_at=self._clock())

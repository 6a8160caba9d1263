"""Progressive campaigns: a patient is dialed only for an agent who is free and reserved for them.

Before each dial: the campaign's 30-day abandon rate must be within its cap (pacing.may_dial), and an agent of
the campaign's queue must be available. The queue service chooses and reserves that agent at once (state
'ringing' with this call), so the inbound queue cannot offer them a caller meanwhile; then ONE target is
claimed (every compliance rule is checked by the claim), the reservation goes to a free agent who speaks the
patient's language if the first does not (the queue service's rule, as for an inbound caller), and the
patient is dialed. A person's answer (AMD in the dialplan) rings the agent, whose desk gets the
screen pop with the campaign's call script; no agent in the call within 2 s of the answer = the hospital's
short message and an 'abandoned' attempt. States: progressive_state.py; ARI roles: stasis.py.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ...calls.services import Call, CallDeps
from ...calls.stasis import CallRouter
from ...config import SiteConfig
from ...db.database import Database
from ...db.models import Patient
from ...eventlog import utcnow
from ...ivr.flow import Flow
from ...queues.services import AgentRuntime, QueueService
from ...screenpop.services import identity_candidate
from ..claims import DialJob
from ..exceptions import CampaignError
from ..message import SiteNotConfigured, message_media
from ..pacing import abandon_rate, may_dial
from ..services import CampaignService
from . import progressive_state as states
from .call import PatientDial
from .call import new_call as campaign_call

log = logging.getLogger(__name__)

ANSWER_GRACE = 2.0       # seconds from the patient's answer to an agent in the call, else abandoned
AGENT_WAIT = 60.0        # a run ends when no agent of the queue was free for this long


def new_call(deps: CallDeps, flow: Flow, dial: "ProgressiveDial", agent: AgentRuntime, patient: dict | None,
             *, call_id: str | None = None) -> Call:
    """The call of a progressive dial: a campaign call (call.py) with its agent reserved before the dial."""
    call = campaign_call(deps, flow, dial, call_id=call_id)
    call.agent = agent
    call.legs.agent_channel_id = "agent-" + uuid.uuid4().hex
    call.queue_name = dial.dial.campaign.queue
    call.patients = [patient] if patient else []
    return call


class ProgressiveDial:
    """The progressive flavour of a call (calls/flavour.py): the patient dialed and sent to AMD by its
    `PatientDial` (call.py), as an automated call's, with an agent reserved before the dial. It runs no IVR:
    a person goes to the reserved agent. It adds the agent's columns, pop and legs."""
    direction = "outbound"
    mode = "progressive"
    actions = None  # no flow, so no action nodes

    def __init__(self, job: DialJob, *, finish_attempt: Callable | None, site: SiteConfig,
                 answer_grace: float = ANSWER_GRACE, clock: Callable[[], datetime] = utcnow):
        self.dial = PatientDial(job, role="progressive", site=site, finish_attempt=finish_attempt,
                                clock=clock)
        self.answer_grace = answer_grace

    @property
    def script(self) -> str:
        """The campaign's call script (triage/scripts), else the generic follow-up one."""
        return self.dial.campaign.desk_script

    def write_start(self, call: Call) -> None:
        self.dial.write_start(call, status="offering", agent_id=call.agent.id, queue_name=call.queue_name)

    def flow_context(self, call: Call) -> dict:
        return {}

    def dialed_facts(self, call: Call) -> dict:
        return self.dial.dialed_facts(self.mode) | {"agent_id": call.agent.id}

    def legs_answered(self, call: Call) -> None:
        """Connected marks the legs: the agent's answered now, the patient's when AMD said a person."""
        call.mark_answered(call.legs.agent_channel_id, call.channel.id)

    async def ending(self, call: Call) -> None:
        await self.dial.write_attempt(call)

    def pop_extras(self, call: Call) -> dict:
        """What the desk's pop adds for a campaign call (also when a reloaded console is shown it again)."""
        campaign = self.dial.campaign
        return {"campaign": {"name": campaign.name, "title": campaign.title}, "script": self.script,
                "direction": "outbound"}

    async def send_pop(self, call: Call) -> None:
        """The desk's screen pop, as for an inbound call, plus the campaign and its script; audited."""
        await call.deps.pops.offer(call, call.agent, {"campaign": self.dial.campaign.name})

    def message_media(self, call: Call) -> list[str]:
        """The automated campaigns' machine message (message.py): hospital name and callback number only."""
        try:
            return message_media(self.dial.site)
        except SiteNotConfigured:
            log.warning("campaign call %s: [site] hospital_name/callback_number unset: no message", call.id)
            return []


@dataclass
class ProgressiveReport:
    campaign: str
    dialed: int = 0
    stopped: str = ""          # done | no_agent | abandon_cap
    call_ids: list[str] = field(default_factory=list)

    def public(self) -> dict:
        return {"campaign": self.campaign, "mode": "progressive", "dialed": self.dialed,
                "stopped": self.stopped, "call_ids": self.call_ids}


class ProgressiveDialer:
    def __init__(self, campaigns: CampaignService, queues: QueueService, router: CallRouter, db: Database,
                 flow: Flow, site: SiteConfig, *, clock: Callable[[], datetime] = utcnow,
                 answer_grace: float = ANSWER_GRACE, agent_wait: float = AGENT_WAIT):
        self._campaigns, self._queues, self._router, self._db = campaigns, queues, router, db
        self._flow = flow  # language defaults only: a progressive call runs no IVR
        self._site, self._clock = site, clock
        self.answer_grace, self.agent_wait = answer_grace, agent_wait
        self._changed = asyncio.Event()

    def agent_state_changed(self, agent: AgentRuntime) -> None:
        """A queue state listener (main.py): a desk going available may let a waiting run dial."""
        self._changed.set()

    async def run(self, name: str, *, worker: str, agent_wait: float | None = None) -> ProgressiveReport:
        """Dial the campaign's due targets, one per free agent, until none is left (or pacing, or no agent
        for `agent_wait` seconds, stops it); returns when every call of the run has ended."""
        campaign = await self._campaigns.get(name)
        if campaign.mode != "progressive":
            raise CampaignError([f"{name}: not a progressive campaign (mode {campaign.mode})"])
        report, live = ProgressiveReport(name), set()
        try:
            report.stopped = await self._dial_loop(campaign, worker, report, live,
                                                   self.agent_wait if agent_wait is None else agent_wait)
        finally:
            if live:
                await asyncio.gather(*(call.ended.wait() for call in live))
        log.info("progressive campaign %s: %d dialed, stopped: %s", name, report.dialed, report.stopped)
        return report

    async def _dial_loop(self, campaign, worker: str, report: ProgressiveReport, live: set,
                         agent_wait: float) -> str:
        gap = 1.0 / campaign.pacing.calls_per_second if campaign.pacing.calls_per_second > 0 else 0.0
        waited_since = asyncio.get_running_loop().time()
        while True:
            live -= {c for c in live if c.ended.is_set()}
            rate = await self._db.run(abandon_rate, campaign.name, self._clock())
            if not may_dial(rate, campaign.pacing.abandon_cap):
                return "abandon_cap"
            call_id = uuid.uuid4().hex
            # Reserved before any await: the inbound queue must not offer this agent a caller meanwhile.
            agent = (self._queues.claim_agent(campaign.queue, None, call_id)
                     if len(live) < campaign.pacing.max_channels else None)
            if agent is None:
                if asyncio.get_running_loop().time() - waited_since >= agent_wait:
                    return "no_agent"
                await self._wait_for_change(live, 1.0)
                continue
            call = await self._dial_one(campaign, worker, agent, call_id)
            if call is None:
                return "done"
            live.add(call)
            report.dialed += 1
            report.call_ids.append(call.id)
            waited_since = asyncio.get_running_loop().time()
            await asyncio.sleep(gap)

    async def _wait_for_change(self, live: set, timeout: float) -> None:
        self._changed.clear()
        waits = [asyncio.ensure_future(self._changed.wait())] + [
            asyncio.ensure_future(c.ended.wait()) for c in live]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _dial_one(self, campaign, worker: str, agent: AgentRuntime,
                        call_id: str) -> Call | None:
        """Claim a target for the reserved `agent` and dial it; None (the agent given back) if none is due."""
        try:
            jobs = await self._campaigns.claim(campaign.name, worker, 1)
        except Exception:
            self._queues.release_agent(agent, call_id)
            raise
        if not jobs:
            self._queues.release_agent(agent, call_id)
            return None
        job = jobs[0]
        agent = self._queues.prefer_language(agent, campaign.queue, job.language, call_id)
        patient = await self._db.run(_identity, job.patient_id)
        dial = ProgressiveDial(job, finish_attempt=self._campaigns.finish, site=self._site,
                               answer_grace=self.answer_grace, clock=self._clock)
        call = new_call(self._router.deps, self._flow, dial, agent, patient, call_id=call_id)
        self._router.start_call(call, lambda c: states.ProgressiveDialing(c))
        return call


def _identity(session: Session, patient_id: int) -> dict | None:
    patient = session.get(Patient, patient_id)
    return identity_candidate(patient) if patient else None

"""A campaign call (issue 6): one dial of one DialJob, from the patient's phone ringing to the attempt
written. Automated calls are CampaignCall (states: state.py, dialer: automated.py); progressive calls are its
subclass ProgressiveCall (progressive.py). Both dial the patient the same way (the campaign dial template,
[telephony] campaign_ring_timeout), send an answered patient to the same [campaign-amd] dialplan, which
brings the channel back into the app under the role the call names (the channel variable CAMPAIGN_ROLE),
and write their attempt the same way (write_attempt) when they end."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from ...ari.models import Channel
from ...calls import state as call_states
from ...calls.services import Call, CallDeps
from ...config import SiteConfig
from ...db.models import Call as CallRow
from ...db.models import CallLeg
from ...eventlog import utcnow
from ...ivr.flow import Flow

if TYPE_CHECKING:
    from ..claims import DialJob

log = logging.getLogger(__name__)

AMD_CONTEXT = "campaign-amd"  # asterisk_conf/extensions.conf


class CampaignCall(Call):
    """`channel` is the patient's leg: its id is chosen before the originate, so the call owns it before it
    exists and the call states read it as 'the caller'. The attempt's facts (result, AMD verdict, times,
    outcome) gather here while the call runs and are written once, with `finish_attempt`
    (CampaignService.finish), when the call ends."""
    direction = "outbound"
    mode = "automated"
    role = "campaign"          # appArgs of the patient leg entering the app when it answers
    amd_role = "campaign-amd"  # ... and when it comes back from [campaign-amd] with the verdict

    def __init__(self, deps: CallDeps, flow: Flow, job: "DialJob", *, site: SiteConfig,
                 finish_attempt: Callable[..., Awaitable] | None, context: dict[str, Any] | None = None,
                 clock=utcnow, call_id: str | None = None):
        channel = Channel(id="campaign-" + uuid.uuid4().hex, name="", state="Down",
                          caller_number=job.phone_e164, caller_name="",
                          language=job.language or flow.default_language)
        super().__init__(deps, channel, flow, call_id=call_id)
        self.job, self.site = job, site
        self.language = job.language if job.language in flow.languages else flow.default_language
        self.patients = [{"id": job.patient_id, "language": job.language}]
        self.clock = clock
        self.result = "failed"  # the attempt's result as it stands
        self.amd_status: str | None = None
        self.amd_cause: str | None = None
        self.picked_up_at: datetime | None = None  # the patient's answer (calls.answered_at is an agent's)
        self.message_outcome: str | None = None
        self._context = context or {}
        self._finish_attempt = finish_attempt
        self._attempt_written = False

    @property
    def campaign(self):
        return self.job.campaign

    def _insert_row(self) -> None:
        job = self.job
        row = self._row()
        leg = dict(call_id=self.id, channel_id=self.channel.id, role="caller", started_at=self.started_at,
                   endpoint=self.deps.settings.campaign_dial_template.split("/", 1)[0])
        self.deps.events.write(lambda s: (s.add(CallRow(**row)), s.flush(), s.add(CallLeg(**leg))))
        self.log("call_started", direction="outbound", campaign=job.campaign.name, patient_id=job.patient_id)

    def _row(self) -> dict:
        """The calls row as the call starts (a subclass adds its own columns)."""
        job = self.job
        return dict(id=self.id, direction="outbound", channel_id=self.channel.id, caller_raw=job.phone_e164,
                    caller_e164=job.phone_e164, caller_status="valid", language=self.language, status="ivr",
                    priority=0, started_at=self.started_at, ivr_path=[], patient_id=job.patient_id,
                    candidate_patient_ids=[job.patient_id], campaign_name=job.campaign.name)

    def flow_context(self) -> dict:
        return dict(self._context)

    def endpoint(self) -> str:
        e164 = self.job.phone_e164
        return self.deps.settings.campaign_dial_template.format(number=e164, digits=e164.lstrip("+"))

    def dialed_facts(self) -> dict:
        """The `campaign_dialed` event's data (the KPIs read it)."""
        job = self.job
        return dict(campaign=job.campaign.name, target_id=job.target_id, attempt_id=job.attempt_id,
                    mode=self.mode)

    async def dial_patient(self) -> None:
        """Ring the patient for [telephony] campaign_ring_timeout; the channel enters the app as
        `<role>,<call id>` when they answer (its Dial events say busy or no answer otherwise)."""
        settings, ari = self.deps.settings, self.deps.ari
        await ari.originate(
            self.endpoint(), channel_id=self.channel.id, app=ari.app, app_args=f"{self.role},{self.id}",
            caller_id=self.campaign.caller_id or settings.outbound_caller_id,
            timeout=settings.campaign_ring_timeout, formats=settings.channel_formats,
            variables={"CAMPAIGN_CALL": self.id, "CAMPAIGN_APP": ari.app, "CAMPAIGN_ROLE": self.amd_role})

    async def send_to_amd(self) -> None:
        """The answered patient leaves for [campaign-amd]: nothing is played to them before the verdict,
        which brings the channel back as `<amd_role>,<call id>,<AMDSTATUS>,<AMDCAUSE>`."""
        ari = self.deps.ari
        # Outside the app the channel's events stop, unless subscribed: its hangup during AMD must reach us.
        await ari.subscribe(f"channel:{self.channel.id}")
        await ari.continue_in_dialplan(self.channel.id, AMD_CONTEXT)

    def end(self, result: str, reason: str, *, hangup: bool = True) -> call_states.Ended:
        """The attempt's result is settled; the call ends."""
        self.result = result
        return call_states.Ended(self, result, reason, hangup=hangup)

    def picked_up(self) -> None:
        self.picked_up_at = self.clock()
        now, channel_id = utcnow(), self.channel.id
        self.deps.events.write(lambda s: s.execute(update(CallLeg).where(CallLeg.channel_id == channel_id)
                                                   .values(answered_at=now, outcome="answered")))

    def menu_keys(self) -> str:
        """The menu keys the patient chose (never digits typed as data: read_digits nodes log no key)."""
        return "".join(str(choice["key"]) for choice in self.ivr_path if choice.get("key"))[:64]

    @property
    def attempt_outcome(self) -> str | None:
        actions = self.actions
        return getattr(actions, "outcome", None) or self.message_outcome

    async def write_attempt(self) -> None:
        """Write the attempt (result, AMD verdict, the patient's answer, the end, keys, outcome) to the
        campaign, once: when the call ends, or when its run stops first (automated.py), whichever is first."""
        if self._attempt_written or self._finish_attempt is None:
            return
        self._attempt_written = True
        try:
            await self._finish_attempt(
                self.job.attempt_id, self.result, call_id=self.id, answered_at=self.picked_up_at,
                ended_at=self.clock(), amd_status=self.amd_status, amd_cause=self.amd_cause,
                keys=self.menu_keys(), outcome=self.attempt_outcome)
        except Exception:
            log.exception("campaign call %s: writing attempt %s failed", self.id, self.job.attempt_id)

    async def finish(self, outcome: str, reason: str, *, hangup_caller: bool, extra_legs: list[str]) -> None:
        await self.write_attempt()
        await super().finish(outcome, reason, hangup_caller=hangup_caller, extra_legs=extra_legs)

"""What every campaign call shares (issue 6), automated (automated.py) and progressive (progressive.py): a
campaign call is a `Call` whose flavour (calls/flavour.py) holds a `PatientDial`, the part that dials the
patient (the campaign dial template, [telephony] campaign_ring_timeout), sends an answered patient to the
[campaign-amd] dialplan (which brings the channel back into the app under the role the flavour names, the
channel variable CAMPAIGN_ROLE), gathers the attempt's facts while the call runs and writes the attempt once
when it ends. The flavours compose it; neither extends the other, and both write attempts the same way."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...ari.models import Channel
from ...calls import state as call_states
from ...calls.flavour import CallFlavour
from ...calls.services import Call, CallDeps
from ...config import SiteConfig
from ...eventlog import utcnow
from ...ivr.flow import Flow

if TYPE_CHECKING:
    from ..claims import DialJob

log = logging.getLogger(__name__)

AMD_CONTEXT = "campaign-amd"  # asterisk_conf/extensions.conf


def new_call(deps: CallDeps, flow: Flow, flavour: CallFlavour, *, call_id: str | None = None) -> Call:
    """The call of a campaign dial (`flavour.dial` is its PatientDial). Its `channel` is the patient's leg:
    its id is chosen before the originate, so the call owns it before it exists and the call states read it
    as 'the caller'."""
    job = patient_dial(flavour).job
    channel = Channel(id="campaign-" + uuid.uuid4().hex, name="", state="Down",
                      caller_number=job.phone_e164, caller_name="",
                      language=job.language or flow.default_language)
    call = Call(deps, channel, flow, flavour=flavour, call_id=call_id)
    call.language = job.language if job.language in flow.languages else flow.default_language
    call.patients = [{"id": job.patient_id, "language": job.language}]
    return call


def patient_dial(flavour: Any) -> "PatientDial | None":
    """The campaign part of a call's flavour; None for a call that is no campaign's."""
    dial = getattr(flavour, "dial", None)
    return dial if isinstance(dial, PatientDial) else None


class PatientDial:
    """One dial of one DialJob, from the patient's phone ringing to the attempt written: the part both
    campaign flavours hold. The attempt's facts (result, AMD verdict, times, outcome) gather here while the
    call runs and are written once, with `finish_attempt` (CampaignService.finish), when the call ends (or
    when its run stops first). The campaign states reach it as `CampaignState.dial`."""

    def __init__(self, job: "DialJob", *, role: str, site: SiteConfig,
                 finish_attempt: Callable[..., Awaitable] | None, clock: Callable[[], datetime] = utcnow):
        self.job, self.site, self.clock = job, site, clock
        self.role = role               # appArgs of the patient leg entering the app when it answers
        self.amd_role = role + "-amd"  # ... and when it comes back from [campaign-amd] with the verdict
        self.result = "failed"  # the attempt's result as it stands
        self.amd_status: str | None = None
        self.amd_cause: str | None = None
        self.picked_up_at: datetime | None = None  # the patient's answer (call.times.answered_at: an agent's)
        self.message_outcome: str | None = None
        self._finish_attempt = finish_attempt
        self._attempt_written = False

    @property
    def campaign(self):
        return self.job.campaign

    # -- the call's start --------------------------------------------------------------------------------

    def write_start(self, call: Call, **row: Any) -> None:
        """The call's row (with what the flavour adds) and the patient's leg, and `call_started`."""
        job = self.job
        leg = dict(call_id=call.id, channel_id=call.channel.id, role="caller",
                   started_at=call.times.started_at,
                   endpoint=call.deps.settings.campaign_dial_template.split("/", 1)[0])
        call.insert_rows(self.row(call) | row, [leg])
        call.log("call_started", direction="outbound", campaign=job.campaign.name, patient_id=job.patient_id)

    def row(self, call: Call) -> dict:
        """The calls row as the call starts."""
        job = self.job
        return dict(id=call.id, direction="outbound", channel_id=call.channel.id, caller_raw=job.phone_e164,
                    caller_e164=job.phone_e164, caller_status="valid", language=call.language, status="ivr",
                    priority=0, started_at=call.times.started_at, ivr_path=[], patient_id=job.patient_id,
                    candidate_patient_ids=[job.patient_id], campaign_name=job.campaign.name)

    def dialed_facts(self, mode: str) -> dict:
        """The `campaign_dialed` event's data (the KPIs read it)."""
        job = self.job
        return dict(campaign=job.campaign.name, target_id=job.target_id, attempt_id=job.attempt_id, mode=mode)

    # -- dialing -------------------------------------------------------------------------------------------

    def endpoint(self, call: Call) -> str:
        e164 = self.job.phone_e164
        return call.deps.settings.campaign_dial_template.format(number=e164, digits=e164.lstrip("+"))

    async def dial_patient(self, call: Call) -> None:
        """Ring the patient for [telephony] campaign_ring_timeout; the channel enters the app as
        `<role>,<call id>` when they answer (its Dial events say busy or no answer otherwise)."""
        settings, ari = call.deps.settings, call.deps.ari
        await ari.originate(
            self.endpoint(call), channel_id=call.channel.id, app=ari.app, app_args=f"{self.role},{call.id}",
            caller_id=self.campaign.caller_id or settings.outbound_caller_id,
            timeout=settings.campaign_ring_timeout, formats=settings.channel_formats,
            variables={"CAMPAIGN_CALL": call.id, "CAMPAIGN_APP": ari.app, "CAMPAIGN_ROLE": self.amd_role})

    async def send_to_amd(self, call: Call) -> None:
        """The answered patient leaves for [campaign-amd]: nothing is played to them before the verdict,
        which brings the channel back as `<amd_role>,<call id>,<AMDSTATUS>,<AMDCAUSE>`."""
        ari = call.deps.ari
        # Outside the app the channel's events stop, unless subscribed: its hangup during AMD must reach us.
        await ari.subscribe(f"channel:{call.channel.id}")
        await ari.continue_in_dialplan(call.channel.id, AMD_CONTEXT)

    def picked_up(self, call: Call) -> None:
        self.picked_up_at = self.clock()
        call.mark_answered(call.channel.id)

    def end(self, call: Call, result: str, reason: str, *, hangup: bool = True) -> call_states.Ended:
        """The attempt's result is settled; the call ends."""
        self.result = result
        return call_states.Ended(call, result, reason, hangup=hangup)

    # -- the attempt ---------------------------------------------------------------------------------------

    def menu_keys(self, call: Call) -> str:
        """The menu keys the patient chose (never digits typed as data: read_digits nodes log no key)."""
        return "".join(str(choice["key"]) for choice in call.ivr.path if choice.get("key"))[:64]

    async def write_attempt(self, call: Call, outcome: str | None = None) -> None:
        """Write the attempt (result, AMD verdict, the patient's answer, the end, keys, outcome: the flow's,
        else the message's) to the campaign, once: when the call ends, or when its run stops first
        (automated.py), whichever is first."""
        if self._attempt_written or self._finish_attempt is None:
            return
        self._attempt_written = True
        try:
            await self._finish_attempt(
                self.job.attempt_id, self.result, call_id=call.id, answered_at=self.picked_up_at,
                ended_at=self.clock(), amd_status=self.amd_status, amd_cause=self.amd_cause,
                keys=self.menu_keys(call), outcome=outcome or self.message_outcome)
        except Exception:
            log.exception("campaign call %s: writing attempt %s failed", call.id, self.job.attempt_id)

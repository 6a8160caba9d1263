"""One class per state of an automated campaign call; a handler returns the next state, or None to stay.
CampaignState is the one base of every campaign call state, automated and progressive (progressive_state.py).

    Dialing -> AwaitingAmd -> calls.state.Ivr (a person: the campaign's flow; enqueue -> Queued as usual)
                           -> LeavingMessage (a machine: hospital name and callback number only) -> Ended
            -> Ended (busy, no answer, failed)

The patient's channel is originated into the app as `campaign,<call id>`, so its Dial events say busy or no
answer. When it answers it is sent (ARI continue) to the [campaign-amd] dialplan: AMD listens there, and
nothing is played to the patient before the verdict; it comes back as
`campaign-amd,<call id>,<AMDSTATUS>,<AMDCAUSE>` (call.py). A state reaches the call's campaign flavour
(the attempt's facts, dialing) as `self.dial`. Progressive calls ring the patient with this
Dialing state too (progressive_state.py).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ...ari.client import AriError, AriUnavailable
from ...ari.events import ChannelDestroyed, ChannelDtmfReceived, PlaybackFinished, StasisEnd, StasisStart
from ...calls.events import AmdTimeout
from ...calls.state import CallState, Ended, Ivr
from ..message import SiteNotConfigured, message_media

if TYPE_CHECKING:
    from ...calls.services import Call
    from .call import PatientDial

log = logging.getLogger(__name__)

# How an unanswered patient leg ended when no Dial event said it: the hangup cause (Q.850).
CAUSE_RESULTS = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "failed", 34: "failed", 38: "failed"}


class CampaignState(CallState):
    """A state of a campaign call (automated or progressive): ending one settles the attempt's result."""

    @property
    def flavour(self):
        """The call's campaign flavour: automated (automated.py) or progressive (progressive.py)."""
        return self.call.flavour

    @property
    def dial(self) -> "PatientDial":
        """The part of the call's flavour both kinds share (call.py): the campaign, the attempt's facts,
        dialing."""
        return self.call.flavour.dial  # type: ignore[attr-defined]

    def end(self, result: str, reason: str, *, hangup: bool = True) -> Ended:
        return self.dial.end(self.call, result, reason, hangup=hangup)


class BeforeAPerson(CampaignState):
    """A state before a person is known to be on the line (dialing, AMD, the machine's message): after an
    unexpected error there is nobody to put in a queue, so the attempt fails and the line is hung up."""

    def fail_safe(self) -> Ended:
        self.call.log("fail_safe", from_state=self.name)
        return Ended(self.call, "failed", "fail_safe", hangup=True)


class Dialing(BeforeAPerson):
    """The patient's phone rings (automated and progressive calls alike)."""
    name = "dialing"

    async def enter(self) -> "CallState | None":
        call = self.call
        call.log("campaign_dialed", **self.flavour.dialed_facts(call))
        try:
            await self.dial.dial_patient(call)
        except (AriError, AriUnavailable) as exc:
            log.warning("campaign call %s: dialing failed: %s", call.id, exc)
            return self.end("failed", "dial_failed")
        return None

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        dials = self.call.legs.dials
        result = dials.outcome(event.channel.id, None) or CAUSE_RESULTS.get(event.cause, "failed")
        self.call.close_leg(self.call.channel.id, result)
        return self.end(result, "patient_" + result, hangup=False)

    async def on_StasisStart(self, event: StasisStart) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        return self.answered()

    def answered(self) -> "CallState":
        """The patient picked up: AMD next."""
        return AwaitingAmd(self.call)

    def caller_gone(self, reason: str) -> "CallState":
        return self.end("failed", reason)


class AwaitingAmd(BeforeAPerson):
    """The patient answered; AMD listens in the dialplan. Its verdict brings the channel back."""
    name = "awaiting_amd"

    def __init__(self, call: "Call"):
        super().__init__(call)
        self.timer: asyncio.TimerHandle | None = None

    async def enter(self) -> "CallState | None":
        call = self.call
        self.dial.picked_up(call)
        await self.dial.send_to_amd(call)
        timeout = call.deps.settings.campaign_amd_timeout
        self.timer = asyncio.get_running_loop().call_later(timeout, call.post, AmdTimeout())
        return None

    async def leave(self) -> None:
        if self.timer:
            self.timer.cancel()

    async def on_StasisEnd(self, event: StasisEnd) -> None:
        return None  # the channel leaving for the AMD dialplan; a hangup shows as ChannelDestroyed

    async def on_ChannelDtmfReceived(self, event: ChannelDtmfReceived) -> None:
        return None  # keys during detection are not answers to anything we asked

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        self.dial.amd_status = self.dial.amd_status or "HANGUP"
        return self.end("failed", "hangup_during_amd", hangup=False)

    async def on_AmdTimeout(self, event: AmdTimeout) -> "CallState":
        log.warning("campaign call %s: no AMD verdict in time", self.call.id)
        return self.end("failed", "amd_timeout")

    async def on_StasisStart(self, start: StasisStart) -> "CallState | None":
        dial = self.dial
        if start.channel.id != self.call.channel.id or start.role != dial.amd_role:
            return None
        dial.amd_status = start.args[2] if len(start.args) > 2 else "NOTSURE"
        dial.amd_cause = (start.args[3] if len(start.args) > 3 else "")[:64]
        self.call.log("campaign_answered", campaign=dial.campaign.name, amd_status=dial.amd_status,
                      amd_cause=dial.amd_cause)
        return self.verdict()

    def verdict(self) -> "CallState":
        """Where AMD's verdict (dial.amd_status) takes an automated call."""
        call, dial = self.call, self.dial
        if dial.amd_status == "HUMAN":
            dial.result = "person"
            return Ivr(call)
        # NOTSURE is treated as a machine: the flow may name an appointment or a ward, which only the patient
        # may hear; the neutral message is safe for anyone, and the target is retried.
        dial.result = "machine"
        return LeavingMessage(call)

    def caller_gone(self, reason: str) -> "CallState":
        return self.end("failed", reason, hangup=False)


class LeavingMessage(BeforeAPerson):
    """A machine: after its greeting and beep, the hospital's name and callback number, then hang up."""
    name = "leaving_message"

    def __init__(self, call: "Call"):
        super().__init__(call)
        self.playback = None

    async def enter(self) -> "CallState | None":
        call, dial = self.call, self.dial
        if dial.campaign.compliance.machine != "leave_message":
            return self.end("machine", "machine_hang_up")
        try:
            media = message_media(dial.site)
        except SiteNotConfigured as exc:
            log.warning("campaign call %s: no message left: %s", call.id, exc)
            return self.end("machine", "machine_no_message")
        self.playback = await call.media.play(media)
        call.log("campaign_message_started", campaign=dial.campaign.name, prompts=media)
        return None

    async def on_PlaybackFinished(self, event: PlaybackFinished) -> "CallState | None":
        await super().on_PlaybackFinished(event)
        if self.playback is None or not self.playback.done():
            return None
        dial = self.dial
        dial.message_outcome = "message_left"
        self.call.log("campaign_outcome", campaign=dial.campaign.name, outcome="message_left",
                      target_id=dial.job.target_id, attempt_id=dial.job.attempt_id)
        return self.end("machine", "message_left")

    def caller_gone(self, reason: str) -> "CallState":
        return self.end("machine", reason, hangup=False)

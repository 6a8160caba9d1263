"""One class per state of a progressive campaign call (the agent was reserved before the patient is dialed).

    DialingPatient -> Detecting (AMD in the dialplan) -> RingingAgent -> calls.state.Connected -> ... Ended
                                                   \\-> Messaging (machine, or no agent within 2 s) -> Ended

The patient leg enters the app twice: `progressive,<call>` when it answers (then it leaves for the
[progressive-amd] dialplan, where nothing is played before AMD's verdict) and `progressive-amd,<call>,
<AMDSTATUS>,<AMDCAUSE>` with the verdict. `call.result` is the attempt's result as it stands; the call's
finish() writes it to the campaign (progressive.py).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..ari.client import AriError, AriUnavailable
from ..ari.models import StasisStart
from ..calls.state import DIAL_RESULTS, CallState, Connected, _quietly
from ..eventlog import utcnow

if TYPE_CHECKING:
    from .progressive import ProgressiveCall

log = logging.getLogger(__name__)

AMD_CONTEXT = "progressive-amd"
# AMD decides within about 5 s (amd.conf); a machine's greeting is let to finish (up to 15 s) before the
# verdict comes back. Past this, the channel is taken as lost.
DETECT_TIMEOUT = 30.0


class CampaignState(CallState):
    call: "ProgressiveCall"

    def _is_patient(self, event: dict) -> bool:
        return (event.get("channel") or {}).get("id") == self.call.channel.id


class DialingPatient(CampaignState):
    """The reserved agent waits (their desk shows nothing yet) while the patient's phone rings."""
    name = "campaign_dialing"

    def __init__(self, call: "ProgressiveCall"):
        super().__init__(call)
        self.dial_result = "no_answer"

    async def enter(self) -> "CampaignState | None":
        call = self.call
        call.deps.bind(call.channel.id, call)
        call.log("campaign_dialed", campaign=call.job.campaign.name, target_id=call.job.target_id,
                 attempt_id=call.job.attempt_id, mode="progressive", agent_id=call.agent.id)
        try:
            await call.dial_patient()
        except (AriError, AriUnavailable) as exc:
            log.warning("campaign call %s: dialing failed: %s", call.id, exc)
            return call.end("failed", "dial_failed")
        return None

    async def on_Dial(self, event: dict) -> None:
        if (event.get("peer") or {}).get("id") == self.call.channel.id:
            self.dial_result = DIAL_RESULTS.get(event.get("dialstatus", ""), self.dial_result)

    async def on_ChannelDestroyed(self, event: dict) -> "CallState | None":
        if not self._is_patient(event):
            return None
        return self.call.end(self.dial_result, "patient_" + self.dial_result, hangup=False)

    async def on_StasisStart(self, event: dict) -> "CampaignState | None":
        start = StasisStart.from_event(event)
        if start.channel.id != self.call.channel.id:
            return None
        return Detecting(self.call)

    def caller_gone(self, reason: str) -> "CallState":
        return self.call.end("failed", reason)


class Detecting(CampaignState):
    """The patient answered: AMD listens in the dialplan; the patient hears nothing from us yet."""
    name = "campaign_detecting"

    def __init__(self, call: "ProgressiveCall"):
        super().__init__(call)
        self.timer: asyncio.TimerHandle | None = None

    async def enter(self) -> None:
        call, ari = self.call, self.call.deps.ari
        # Events of the channel keep coming while it runs dialplan (a hang-up during detection).
        await _quietly(ari.subscribe(f"channel:{call.channel.id}"))
        await ari.set_variable(call.channel.id, "CAMPAIGN_CALL", call.id)
        await ari.set_variable(call.channel.id, "CAMPAIGN_APP", ari.app)
        await ari.continue_in_dialplan(call.channel.id, AMD_CONTEXT)
        self.timer = asyncio.get_running_loop().call_later(
            DETECT_TIMEOUT, call.post, {"type": "DetectTimeout"})

    async def leave(self) -> None:
        if self.timer:
            self.timer.cancel()

    async def on_StasisEnd(self, event: dict) -> None:
        return None  # the patient leg leaving for the AMD dialplan: it comes back with the verdict

    async def on_StasisStart(self, event: dict) -> "CampaignState | None":
        start = StasisStart.from_event(event)
        if start.channel.id != self.call.channel.id or start.role != "progressive-amd":
            return None
        status = start.args[2] if len(start.args) > 2 else "NOTSURE"
        cause = start.args[3] if len(start.args) > 3 else ""
        call = self.call
        call.amd_status, call.amd_cause, call.answered_at = status, cause, utcnow()
        call.log("campaign_answered", campaign=call.job.campaign.name, amd_status=status, amd_cause=cause)
        if status == "MACHINE":
            call.result = "machine"
            if call.job.campaign.compliance.machine == "leave_message":
                return Messaging(call, "message_left", "machine_message")
            return call.end("machine", "machine_hang_up")
        # NOTSURE goes to the agent too: a person taken for a machine would be left a message instead.
        call.result = "person"
        return RingingAgent(call)

    async def on_ChannelDestroyed(self, event: dict) -> "CallState | None":
        if self._is_patient(event):
            return self.call.end("failed", "patient_hangup_during_detection", hangup=False)
        return None

    async def on_DetectTimeout(self, event: dict) -> "CallState":
        return self.call.end("failed", "detection_timeout")

    def caller_gone(self, reason: str) -> "CallState":
        return self.call.end("failed", reason)


class RingingAgent(CampaignState):
    """A person answered: the reserved agent's desk gets the pop and the script, their phone rings. Within
    `answer_grace` seconds (2) they must be in the call, or the patient hears the hospital's message."""
    name = "campaign_ringing_agent"

    def __init__(self, call: "ProgressiveCall"):
        super().__init__(call)
        self.timer: asyncio.TimerHandle | None = None

    async def enter(self) -> "CallState | None":
        call = self.call
        call.deps.bind(call.agent_channel_id, call)
        self.timer = asyncio.get_running_loop().call_later(
            call.answer_grace, call.post, {"type": "AgentTimeout"})
        await call.send_pop()
        call.offered_at = call.log("offered", agent_id=call.agent.id, queue_name=call.queue_name)
        call.save(status="offering", offered_at=call.offered_at, answered_at=call.answered_at)
        try:
            await call.originate_agent(call.agent, call.agent_channel_id)
        except (AriError, AriUnavailable) as exc:
            log.warning("campaign call %s: dialing agent %s failed: %s", call.id, call.agent.id, exc)
            return self._abandon("failed")
        return None

    async def leave(self) -> None:
        if self.timer:
            self.timer.cancel()

    async def on_StasisStart(self, event: dict) -> "CallState | None":
        if StasisStart.from_event(event).channel.id != self.call.agent_channel_id:
            return None
        self.call.result = "person"
        return Connected(self.call, self.call.agent)

    async def on_AgentTimeout(self, event: dict) -> "CallState":
        return self._abandon("no_answer")

    async def on_ChannelDestroyed(self, event: dict) -> "CallState | None":
        if event["channel"]["id"] == self.call.agent_channel_id:
            return self._abandon("failed")
        return None

    def _abandon(self, agent_result: str) -> "CallState":
        """No agent in time: their leg is dropped and their desk paused (a phone that does not answer must
        not be reserved again at once); the patient hears the hospital's message."""
        call = self.call
        call.result = "abandoned"
        call.log("offer_failed", agent_id=call.agent.id, result=agent_result)
        call.close_leg(call.agent_channel_id, agent_result)
        asyncio.ensure_future(_quietly(call.deps.ari.hangup(call.agent_channel_id)))
        reason = "ring-no-answer" if agent_result == "no_answer" else "phone-" + agent_result
        call.deps.queues.set_state(call.agent, "paused", reason)
        call.agent_channel_id = None
        return Messaging(call, None, "no_agent")

    def caller_gone(self, reason: str) -> "CallState":
        call = self.call
        call.result = "abandoned"  # a person answered and was never connected
        call.deps.queues.set_state(call.agent, "available")
        return call.end("abandoned", reason, hangup=False)


class Messaging(CampaignState):
    """The hospital's short message (its name and callback number, nothing about health), then goodbye."""
    name = "campaign_message"

    def __init__(self, call: "ProgressiveCall", outcome: str | None, reason: str):
        super().__init__(call)
        self.outcome, self.reason = outcome, reason
        self.done: asyncio.Future | None = None

    async def enter(self) -> "CallState | None":
        call = self.call
        media = call.message_media()
        if not media:
            return await self.on_MessageDone({})
        self.done = await call.play(media)
        call.log("campaign_message_played", reason=self.reason)
        self.done.add_done_callback(lambda f: call.post({"type": "MessageDone"}))
        return None

    async def on_MessageDone(self, event: dict) -> "CallState":
        self.call.outcome_text = self.outcome
        return self.call.end(self.call.result, self.reason)

    def caller_gone(self, reason: str) -> "CallState":
        return self.call.end(self.call.result, reason, hangup=False)

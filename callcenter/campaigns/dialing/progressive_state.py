"""One class per state of a progressive campaign call (the agent was reserved before the patient is dialed).

    ProgressiveDialing -> Detecting (AMD in the dialplan) -> RingingAgent -> calls.state.Connected -> Ended
                                   \\-> Messaging (machine, or no agent within 2 s) -> Ended

The patient leg enters the app twice: `progressive,<call>` when it answers (then it leaves for the
[campaign-amd] dialplan, where nothing is played before AMD's verdict) and `progressive-amd,<call>,
<AMDSTATUS>,<AMDCAUSE>` with the verdict (call.py: one [campaign-amd] context for both modes, the role
in the channel variable CAMPAIGN_ROLE). `dial.result` (the `PatientDial` the call's ProgressiveDial holds,
call.py) is the attempt's result as it stands; it is written to the campaign when the call ends, as for
automated calls.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ...ari.client import AriError, AriUnavailable, quietly
from ...ari.events import ChannelDestroyed, StasisStart
from ...calls.events import AgentTimeout, MessageDone
from ...calls.state import CallState, Connected
from ...eventlog import utcnow
from .state import AwaitingAmd, CampaignState, Dialing

if TYPE_CHECKING:
    from ...calls.services import Call
    from .progressive import ProgressiveDial

log = logging.getLogger(__name__)


class ProgressiveDialing(Dialing):
    """The reserved agent waits (their desk shows nothing yet) while the patient's phone rings: the automated
    calls' Dialing (state.py), answered into AMD's Detecting here."""
    name = "campaign_dialing"

    def answered(self) -> "CallState":
        return Detecting(self.call)


class Detecting(AwaitingAmd):
    """The patient answered: AMD listens in the dialplan and the patient hears nothing from us yet, as for
    an automated call (state.AwaitingAmd); the verdict decides here between the reserved agent and the
    message."""
    name = "campaign_detecting"

    def verdict(self) -> "CallState":
        call, dial = self.call, self.dial
        call.times.answered_at = utcnow()
        if dial.amd_status == "MACHINE":
            dial.result = "machine"
            if dial.campaign.compliance.machine == "leave_message":
                return Messaging(call, "message_left", "machine_message")
            return self.end("machine", "machine_hang_up")
        # NOTSURE goes to the agent too: a person taken for a machine would be left a message instead.
        dial.result = "person"
        return RingingAgent(call)


class RingingAgent(CampaignState):
    """A person answered: the reserved agent's desk gets the pop and the script, their phone rings. Within
    `answer_grace` seconds (2) they must be in the call, or the patient hears the hospital's message."""
    name = "campaign_ringing_agent"
    flavour: "ProgressiveDial"

    def __init__(self, call: "Call"):
        super().__init__(call)
        self.timer: asyncio.TimerHandle | None = None

    async def enter(self) -> "CallState | None":
        call = self.call
        call.deps.bind(call.legs.agent_channel_id, call)
        self.timer = asyncio.get_running_loop().call_later(
            self.flavour.answer_grace, call.post, AgentTimeout())
        await self.flavour.send_pop(call)
        call.times.offered_at = call.log("offered", agent_id=call.agent.id, queue_name=call.queue_name)
        call.save(status="offering", offered_at=call.times.offered_at, answered_at=call.times.answered_at)
        try:
            await call.originate_agent(call.agent, call.legs.agent_channel_id)
        except (AriError, AriUnavailable) as exc:
            log.warning("campaign call %s: dialing agent %s failed: %s", call.id, call.agent.id, exc)
            return self._abandon("failed")
        return None

    async def leave(self) -> None:
        if self.timer:
            self.timer.cancel()

    async def on_StasisStart(self, event: StasisStart) -> "CallState | None":
        if event.channel.id != self.call.legs.agent_channel_id:
            return None
        self.dial.result = "person"
        return Connected(self.call, self.call.agent)

    async def on_AgentTimeout(self, event: AgentTimeout) -> "CallState":
        return self._abandon("no_answer")

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id == self.call.legs.agent_channel_id:
            return self._abandon("failed")
        return None

    def _abandon(self, agent_result: str) -> "CallState":
        """No agent in time: their leg is dropped and their desk paused (a phone that does not answer must
        not be reserved again at once); the patient hears the hospital's message."""
        call = self.call
        self.dial.result = "abandoned"
        call.log("offer_failed", agent_id=call.agent.id, result=agent_result)
        call.close_leg(call.legs.agent_channel_id, agent_result)
        asyncio.ensure_future(quietly(call.deps.ari.hangup(call.legs.agent_channel_id)))
        reason = "ring-no-answer" if agent_result == "no_answer" else "phone-" + agent_result
        call.deps.queues.set_state(call.agent, "paused", reason)
        call.legs.agent_channel_id = None
        return Messaging(call, None, "no_agent")

    def caller_gone(self, reason: str) -> "CallState":
        call = self.call
        self.dial.result = "abandoned"  # a person answered and was never connected
        call.deps.queues.set_state(call.agent, "available")
        return self.end("abandoned", reason, hangup=False)


class Messaging(CampaignState):
    """The hospital's short message (its name and callback number, nothing about health), then goodbye."""
    name = "campaign_message"
    flavour: "ProgressiveDial"

    def __init__(self, call: "Call", outcome: str | None, reason: str):
        super().__init__(call)
        self.outcome, self.reason = outcome, reason
        self.done: asyncio.Future | None = None

    async def enter(self) -> "CallState | None":
        call = self.call
        media = self.flavour.message_media(call)
        if not media:
            return await self.on_MessageDone(MessageDone())
        self.done = await call.media.play(media)
        call.log("campaign_message_played", reason=self.reason)
        self.done.add_done_callback(lambda f: call.post(MessageDone()))
        return None

    async def on_MessageDone(self, event: MessageDone) -> "CallState":
        dial = self.dial
        dial.message_outcome = self.outcome
        if self.outcome:  # a machine's message, for reports and KPIs as for automated calls
            self.call.log("campaign_outcome", campaign=dial.campaign.name, outcome=self.outcome,
                          target_id=dial.job.target_id, attempt_id=dial.job.attempt_id)
        return self.end(dial.result, self.reason)

    def caller_gone(self, reason: str) -> "CallState":
        return self.end(self.dial.result, reason, hangup=False)

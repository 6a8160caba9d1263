r"""Click-to-dial: an agent calls a patient from the desk. The agent's own phone rings first (so the agent
hears the patient's phone ring), then the patient's; when the patient answers, the call is a connected call
like any other (calls.state.Connected: hold, transfer, hang up). The call is a `Call` with the `ClickToDial`
flavour (calls/flavour.py); `new_call` builds it.

    DialingAgent -> DialingPatient -> calls.state.Connected -> ... -> Ended
                 \-> Ended (agent's phone busy, unanswered, failed)   \-> Ended (patient busy, no answer)

Both legs enter the app as `outbound,<call id>` (CallControls.on_stasis_start hands them to the call).
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from ..ari.client import AriError, AriUnavailable, quietly
from ..ari.events import ChannelDestroyed, StasisEnd, StasisStart
from ..ari.models import Channel
from ..ivr.flow import Flow
from ..queues.services import AgentRuntime
from .flavour import ActionRunner
from .services import Call, CallDeps
from .state import CallState, Connected, Ended

log = logging.getLogger(__name__)


def new_call(deps: CallDeps, flow: Flow, *, e164: str, patient_id: int | None, agent: AgentRuntime) -> Call:
    """A click-to-dial call. Its `channel` is the patient's leg, dialed only once the agent answered: its id
    is chosen up front so the call can own it before it exists, and the call states read it as 'the
    caller'."""
    channel = Channel(id="patient-" + uuid.uuid4().hex, name="", state="Down", caller_number=e164,
                      caller_name="", language=flow.default_language)
    call = Call(deps, channel, flow, flavour=ClickToDial(patient_id))
    call.agent = agent
    call.legs.agent_channel_id = "agent-" + uuid.uuid4().hex
    return call


class ClickToDial:
    """The click-to-dial flavour of a call (calls/flavour.py): the agent and the patient are known from the
    start; no IVR runs."""
    direction = "outbound"
    actions: ActionRunner | None = None
    script: str | None = None

    def __init__(self, patient_id: int | None):
        self.patient_id = patient_id  # the patient the agent dials, when dialed from their record

    def write_start(self, call: Call) -> None:
        agent, patient_id = call.agent, self.patient_id
        row = dict(id=call.id, direction="outbound", channel_id=call.channel.id, caller_raw=call.caller.e164,
                   caller_e164=call.caller.e164, caller_status="valid", language=call.language,
                   status="offering", priority=0, started_at=call.times.started_at, ivr_path=[],
                   patient_id=patient_id, agent_id=agent.id, offered_at=call.times.started_at,
                   candidate_patient_ids=[patient_id] if patient_id else [])
        legs = [dict(call_id=call.id, channel_id=call.legs.agent_channel_id, role="agent", agent_id=agent.id,
                     endpoint=agent.endpoint, started_at=call.times.started_at),
                dict(call_id=call.id, channel_id=call.channel.id, role="caller",
                     endpoint=call.deps.settings.outbound_dial_template.split("/", 1)[0],
                     started_at=call.times.started_at)]
        call.insert_rows(row, legs)
        call.log("call_started", direction="outbound", patient_id=patient_id)

    def flow_context(self, call: Call) -> dict[str, Any]:
        return {}  # never asked: a click-to-dial call runs no IVR

    def legs_answered(self, call: Call) -> None:
        """The patient answering opens the conversation; the agent's leg was marked when they picked up."""
        call.mark_answered(call.channel.id)

    async def ending(self, call: Call) -> None:
        return None

    def pop_extras(self, call: Call) -> dict[str, Any]:
        return {}


class DialingAgent(CallState):
    """Click-to-dial, step one: the agent's own phone rings (so the agent hears the patient's phone ring)."""
    name = "dialing_agent"

    def fail_safe(self) -> "CallState":
        return Ended(self.call, "failed", "fail_safe")  # an outbound call has no caller to queue

    async def enter(self) -> "CallState | None":
        call, settings = self.call, self.call.deps.settings
        call.deps.bind(call.legs.agent_channel_id, call)
        call.log("dialing_agent", endpoint_kind=call.agent.endpoint.split("/", 1)[0])
        try:
            await call.deps.ari.originate(
                call.agent.endpoint, channel_id=call.legs.agent_channel_id, app=call.deps.ari.app,
                app_args=f"outbound,{call.id}", caller_id=f'"Outbound call" <{call.caller.e164}>',
                timeout=settings.agent_ring_timeout, formats=settings.channel_formats)
        except (AriError, AriUnavailable) as exc:
            log.warning("call %s: dialing agent %s failed: %s", call.id, call.agent.id, exc)
            return Ended(call, "failed", "agent_phone_failed")
        return None

    async def on_StasisStart(self, event: StasisStart) -> "CallState | None":
        if event.channel.id != self.call.legs.agent_channel_id:
            return None
        return DialingPatient(self.call)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.call.legs.agent_channel_id:
            return None
        result = self.call.legs.dials.outcome(self.call.legs.agent_channel_id)
        self.call.close_leg(self.call.legs.agent_channel_id, result)
        return Ended(self.call, "agent_" + result, "agent_phone_" + result)

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "failed", reason)

    async def do_hangup(self) -> "CallState":
        return Ended(self.call, "cancelled", "agent_hangup")


class DialingPatient(CallState):
    """Click-to-dial, step two: the agent answered and hears ringing while the patient's phone rings."""
    name = "dialing_patient"

    def fail_safe(self) -> "CallState":
        return Ended(self.call, "failed", "fail_safe")  # an outbound call has no caller to queue

    async def enter(self) -> "CallState | None":
        call, settings = self.call, self.call.deps.settings
        call.mark_answered(call.legs.agent_channel_id)
        await quietly(call.deps.ari.ring(call.legs.agent_channel_id))
        endpoint = settings.outbound_dial_template.format(number=call.caller.e164,
                                                          digits=call.caller.e164.lstrip("+"))
        call.log("dialing_patient")
        try:
            await call.deps.ari.originate(
                endpoint, channel_id=call.channel.id, app=call.deps.ari.app, app_args=f"outbound,{call.id}",
                caller_id=settings.outbound_caller_id, timeout=settings.outbound_ring_timeout,
                formats=settings.channel_formats)
        except (AriError, AriUnavailable) as exc:
            log.warning("call %s: dialing the patient failed: %s", call.id, exc)
            return Ended(call, "failed", "patient_dial_failed")
        return None

    async def on_StasisStart(self, event: StasisStart) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        return Connected(self.call, self.call.agent)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        result = self.call.legs.dials.outcome(self.call.channel.id)
        self.call.close_leg(self.call.channel.id, result)
        return Ended(self.call, result, "patient_" + result)

    async def on_StasisEnd(self, event: StasisEnd) -> "CallState | None":
        if event.channel.id == self.call.legs.agent_channel_id:
            return Ended(self.call, "cancelled", "agent_hangup")
        return None

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "failed", reason)

    async def do_hangup(self) -> "CallState":
        return Ended(self.call, "cancelled", "agent_hangup")

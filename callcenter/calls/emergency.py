"""The emergency number conferenced into a call (issue 13): its leg's life, run by the call's own task.

The leg is originated into our app as `emergency,<call id>` and bound to the call, so its Dial, StasisStart,
StasisEnd and ChannelDestroyed events reach the call's states in order with the caller's and the agent's
(state.InCall and state.WithEmergency call the functions below). The conference counts only once the
emergency service answered and joined the caller's bridge: busy, no answer or a failed dial are written as
such and pushed to the agent's console, which offers a retry. The leg never outlives its caller: Call.finish
hangs it up with the call's other legs, and an agent who leaves hands the caller over to it (WithEmergency).

Call events: `emergency_conference_dialed` (channel), `emergency_conference_joined` (channel),
`emergency_conference_failed` (channel, result: busy, no_answer, failed), `emergency_conference_left`
(channel: the emergency service hung up), `emergency_handover` (from_agent: the agent left the caller talking
with the emergency service). Console messages: {"type": "emergency_leg", "call_id", "state": dialing |
answered | failed | ended, "result"}.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..ari.client import AriError, AriUnavailable
from .exceptions import ControlNotAllowed, TargetUnavailable

if TYPE_CHECKING:
    from .services import Call

log = logging.getLogger(__name__)

LEG_PREFIX = "emergency-"
ROLE = "emergency"
DIALING, ANSWERED, FAILED, ENDED = "dialing", "answered", "failed", "ended"
# Told to whoever listens (the red-flag escalations, wired in main.py): (call, leg id, answered or a failure).
Listener = Callable[["Call", str, str], None]


@dataclass
class EmergencyLeg:
    channel_id: str
    answered: bool = False


def is_leg(call: "Call", channel_id: str) -> bool:
    return call.legs.emergency is not None and call.legs.emergency.channel_id == channel_id


def refuse_while_in_call(call: "Call", action: str) -> None:
    """Hold or transfer would mute the caller or take the agent away while the emergency service listens."""
    if call.legs.emergency is not None:
        raise ControlNotAllowed(f"cannot {action} while the emergency number is in the call")


def new_leg_id() -> str:
    return LEG_PREFIX + uuid.uuid4().hex


async def dial(call: "Call", leg_id: str) -> None:
    """Originate the emergency number for this call; it joins the caller's bridge when it answers."""
    if call.legs.emergency is not None:
        state = "in the call" if call.legs.emergency.answered else "ringing"
        raise ControlNotAllowed(f"the emergency number is already {state}")
    deps = call.deps
    call.legs.emergency = EmergencyLeg(leg_id)
    deps.bind(leg_id, call)
    call.log("emergency_conference_dialed", channel=leg_id)
    settings = deps.settings
    try:
        await deps.ari.originate(settings.emergency_dial_template, channel_id=leg_id, app=deps.ari.app,
                                 app_args=f"{ROLE},{call.id}", caller_id=settings.outbound_caller_id,
                                 timeout=settings.outbound_ring_timeout, formats=settings.channel_formats)
    except (AriError, AriUnavailable) as exc:
        log.warning("call %s: dialing the emergency number failed: %s", call.id, exc)
        await failed(call, "failed")
        raise TargetUnavailable("dialing the emergency number failed: retry now") from None
    await _notify(call, DIALING)


async def joined(call: "Call") -> None:
    """The emergency service answered: into the caller's bridge. From now on it counts."""
    leg = call.legs.emergency
    leg.answered = True
    await call.deps.ari.add_to_bridge(call.legs.bridge_id, [leg.channel_id])
    call.log("emergency_conference_joined", channel=leg.channel_id)
    _tell(call, leg.channel_id, ANSWERED)
    await _notify(call, ANSWERED)


async def failed(call: "Call", result: str) -> None:
    """Busy, no answer or failed: nothing was escalated; the agent is told to retry."""
    leg, call.legs.emergency = call.legs.emergency, None
    call.log("emergency_conference_failed", channel=leg.channel_id, result=result)
    _tell(call, leg.channel_id, result)
    await _notify(call, FAILED, result=result)


async def left(call: "Call") -> None:
    """The emergency service hung up after it had answered."""
    leg, call.legs.emergency = call.legs.emergency, None
    call.log("emergency_conference_left", channel=leg.channel_id)
    await _notify(call, ENDED)


async def on_leg_gone(call: "Call", channel_id: str, *, destroyed: bool) -> bool:
    """The leg's StasisEnd (answered) or ChannelDestroyed (never answered); True when it was ours."""
    if not is_leg(call, channel_id):
        return False
    if call.legs.emergency.answered:
        await left(call)
    elif destroyed:
        await failed(call, call.legs.dials.outcome(channel_id))
    else:
        return False
    return True


def _tell(call: "Call", leg_id: str, outcome: str) -> None:
    for listener in call.deps.emergency_listeners:
        try:
            listener(call, leg_id, outcome)
        except Exception:  # a listener's bug must not cost the call its emergency leg
            log.exception("call %s: emergency listener failed", call.id)


async def _notify(call: "Call", state: str, **extra) -> None:
    notifier, agent = call.deps.notifier, call.agent
    if notifier is None or agent is None:
        return
    await notifier.send(agent.number, {"type": "emergency_leg", "call_id": call.id, "state": state, **extra})

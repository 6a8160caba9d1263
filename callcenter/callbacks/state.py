"""The state of an urgent callback call before the patient answers; then it is a queued caller like any
other (calls.state.Queued at the callback's priority, ahead of everyone waiting).

    DialingCallback -> calls.state.Queued (top of the nurse queue) -> Offering -> Connected -> ... -> Ended
                    -> Ended (busy, no answer, failed: the callback stays owed and is tried again)
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..ari.client import AriError, AriUnavailable
from ..ari.events import ChannelDestroyed, StasisStart
from ..calls.state import CallState, Ended, Queued
from ..vocabulary import DIALING_CALLBACK

if TYPE_CHECKING:
    from .call import UrgentCallback

log = logging.getLogger(__name__)

# How an unanswered leg ended when no Dial event said it: the hangup cause (Q.850).
CAUSE_RESULTS = {17: "busy", 18: "no_answer", 19: "no_answer"}


class DialingCallback(CallState):
    """The patient's phone rings."""
    name = DIALING_CALLBACK

    @property
    def callback(self) -> "UrgentCallback":
        return self.call.flavour  # type: ignore[return-value]

    def fail_safe(self) -> "CallState":
        return Ended(self.call, "failed", "fail_safe", hangup=True)  # nobody is on the line yet

    async def enter(self) -> "CallState | None":
        call = self.call
        call.log("dialing_patient", callback_id=self.callback.callback_id)
        try:
            await self.callback.dial_patient(call)
        except (AriError, AriUnavailable) as exc:
            log.warning("callback call %s: dialing failed: %s", call.id, exc)
            return Ended(call, "failed", "dial_failed")
        return None

    async def on_StasisStart(self, event: StasisStart) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        call, callback = self.call, self.callback
        callback.picked_up(call)
        call.log("answered", callback_id=callback.callback_id)
        return Queued(call, callback.queue, callback.priority, front=True)

    async def on_ChannelDestroyed(self, event: ChannelDestroyed) -> "CallState | None":
        if event.channel.id != self.call.channel.id:
            return None
        call, callback = self.call, self.callback
        outcome = call.legs.dials.outcome(event.channel.id, None)
        callback.result = outcome or CAUSE_RESULTS.get(event.cause, "failed")
        call.close_leg(call.channel.id, callback.result)
        return Ended(call, callback.result, "patient_" + callback.result)

    def caller_gone(self, reason: str) -> "CallState":
        return Ended(self.call, "failed", reason)

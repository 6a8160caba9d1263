"""An urgent callback call: the hospital dials the patient back because an escalation was owed when their
call ended (triage/escalation.py). When the patient answers they wait at the top of the nurse queue, ahead of
every caller already waiting, and the queue offers them to the next free nurse like any caller (screen pop,
recording, wrap-up). The call is a `Call` with the `UrgentCallback` flavour (calls/flavour.py); `new_call`
builds it. The states: callbacks/state.py; who dials and what becomes of the callback: dialer.py.
"""
from __future__ import annotations

import uuid
from typing import Any

from ..ari.models import Channel
from ..calls.flavour import ActionRunner
from ..calls.services import Call, CallDeps
from ..ivr.flow import Flow

ROLE = "callback"  # appArgs of the patient's leg entering the app when it answers: `callback,<call id>`


def new_call(deps: CallDeps, flow: Flow, *, callback_id: int, phone_e164: str, patient_id: int | None,
             queue: str, priority: int, origin_call_id: str | None) -> Call:
    """The patient's leg is the call's `channel`, its id chosen before the originate so the call owns it
    before it exists; the call states read it as 'the caller'."""
    channel = Channel(id="callback-" + uuid.uuid4().hex, name="", state="Down", caller_number=phone_e164,
                      caller_name="", language=flow.default_language)
    call = Call(deps, channel, flow, flavour=UrgentCallback(callback_id, patient_id, queue, priority,
                                                            origin_call_id))
    call.patients = [{"id": patient_id}] if patient_id else []
    return call


class UrgentCallback:
    """The urgent-callback flavour of a call: which callback it works, where the patient waits once they
    answered, and how the dial ended as it stands (answered, busy, no_answer, failed)."""
    direction = "outbound"
    actions: ActionRunner | None = None
    script: str | None = None

    def __init__(self, callback_id: int, patient_id: int | None, queue: str, priority: int,
                 origin_call_id: str | None):
        self.callback_id, self.patient_id, self.origin_call_id = callback_id, patient_id, origin_call_id
        self.queue, self.priority = queue, priority
        self.result = "failed"

    def write_start(self, call: Call) -> None:
        patient_id, e164 = self.patient_id, call.caller.e164
        row = dict(id=call.id, direction="outbound", channel_id=call.channel.id, caller_raw=e164,
                   caller_e164=e164, caller_status="valid", language=call.language, status="ivr",
                   priority=self.priority, started_at=call.times.started_at, ivr_path=[],
                   patient_id=patient_id, candidate_patient_ids=[self.patient_id] if self.patient_id else [])
        leg = dict(call_id=call.id, channel_id=call.channel.id, role="caller",
                   started_at=call.times.started_at,
                   endpoint=call.deps.settings.outbound_dial_template.split("/", 1)[0])
        call.insert_rows(row, [leg])
        call.log("call_started", direction="outbound", callback_id=self.callback_id,
                 origin_call_id=self.origin_call_id, patient_id=self.patient_id)

    def flow_context(self, call: Call) -> dict[str, Any]:
        return {}  # never asked: a callback call runs no IVR

    def legs_answered(self, call: Call) -> None:
        """The nurse's leg opens the conversation; the patient's was marked when they picked up."""
        call.mark_answered(call.legs.agent_channel_id)

    async def ending(self, call: Call) -> None:
        return None

    def pop_extras(self, call: Call) -> dict[str, Any]:
        return {}

    # -- the dial ------------------------------------------------------------------------------------------

    async def dial_patient(self, call: Call) -> None:
        settings, ari = call.deps.settings, call.deps.ari
        e164 = call.caller.e164
        endpoint = settings.outbound_dial_template.format(number=e164, digits=e164.lstrip("+"))
        await ari.originate(endpoint, channel_id=call.channel.id, app=ari.app, app_args=f"{ROLE},{call.id}",
                            caller_id=settings.outbound_caller_id, timeout=settings.outbound_ring_timeout,
                            formats=settings.channel_formats)

    def picked_up(self, call: Call) -> None:
        self.result = "answered"
        call.mark_answered(call.channel.id)

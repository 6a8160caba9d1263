"""What one kind of call does differently from another: the small strategy object a `Call` holds.

The call flavours are composed, not subclassed: a `Call` (services.py) is the same object for every call, and
asks its flavour only the few things that differ. One implementation per flavour:

- `Inbound` (here): a patient calls the hotline;
- `ClickToDial` (click_to_dial.py): an agent calls a patient from the desk;
- `AutomatedDial` (campaigns/dialing/automated.py): an automated campaign calls a patient;
- `ProgressiveDial` (campaigns/dialing/progressive.py): a progressive campaign calls a patient for an agent
  reserved before the dial.
Both campaign flavours hold the part they share, a `PatientDial` (campaigns/dialing/call.py), rather than one
extending the other.

What belongs to one flavour only (a campaign call's attempt, a click-to-dial call's patient) lives in its
flavour object, not on the call.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .services import Call


class ActionRunner(Protocol):
    """What an `action` node of a flow runs (campaigns/actions.py binds one per campaign call)."""

    async def run(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str: ...

    async def followup(self, questionnaire: str) -> Any:
        """A `followup` node's session (ivr.ports.FollowUpSession) for this call, or None."""
        ...


@runtime_checkable
class CallFlavour(Protocol):
    direction: str  # "inbound" or "outbound": the call row, the agents' consoles
    # What the flow's `action` nodes run; None: the call runs no actions (its flow takes their `next`).
    actions: ActionRunner | None
    # The call script this call carries (a progressive campaign's own); None: its queue's.
    script: str | None

    def write_start(self, call: "Call") -> None:
        """The call's row and first legs (`call.insert_rows`) and its `call_started` event, as it starts."""

    def flow_context(self, call: "Call") -> dict[str, Any]:
        """What the call's IVR flow knows about the call when it starts."""

    def legs_answered(self, call: "Call") -> None:
        """Caller and agent were just bridged (state Connected): mark the legs this answer opens."""

    async def ending(self, call: "Call") -> None:
        """The call is about to end (Call.finish), whatever ended it: what this flavour must write first."""

    def pop_extras(self, call: "Call") -> dict[str, Any]:
        """What the agent's screen pop adds for this kind of call."""


class Inbound:
    """A patient's call to the hotline: the caller ID as Asterisk gave it, matched to patients by the call.
    `actions`: the call's self-service runner (selfservice/actions.py), bound by the router's
    `CallDeps.inbound_actions`; None: the flow's action nodes take their `next`."""
    direction = "inbound"
    script: str | None = None

    def __init__(self, actions: ActionRunner | None = None):
        self.actions = actions

    def write_start(self, call: "Call") -> None:
        channel = call.channel
        row = dict(id=call.id, direction="inbound", channel_id=channel.id,
                   caller_raw=channel.caller_number[:64], caller_e164=call.caller.e164,
                   caller_status=call.caller.status, language=call.language, status="ivr",
                   priority=0, started_at=call.times.started_at, ivr_path=[], candidate_patient_ids=[])
        leg = dict(call_id=call.id, channel_id=channel.id, role="caller", endpoint=channel.name,
                   started_at=call.times.started_at, answered_at=call.times.started_at)
        call.insert_rows(row, [leg])
        call.log("call_started", caller_status=call.caller.status, channel=channel.id)

    def flow_context(self, call: "Call") -> dict[str, Any]:
        patient = call.patients[0] if len(call.patients) == 1 else None
        return {
            "caller.known": bool(call.patients), "caller.status": call.caller.status,
            "caller.candidates": len(call.patients),
            "patient.language": patient["language"] if patient else None,
        }

    def legs_answered(self, call: "Call") -> None:
        """The agent's leg opens the conversation; the caller's was answered when the call started."""
        call.mark_answered(call.legs.agent_channel_id)

    async def ending(self, call: "Call") -> None:
        return None

    def pop_extras(self, call: "Call") -> dict[str, Any]:
        return {}

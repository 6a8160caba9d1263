"""The agent's call controls: hold, hang up, blind and warm transfer, and click-to-dial (whose call and states
are click_to_dial.py).

A control never touches a call from the outside: it is posted into the call's inbox as a `Control` event and
runs in order with the call's ARI events, as the current state's `do_<action>` (state.py). So a hold that
races the caller's hang-up is decided by the call's own task, never by two tasks at once. The HTTP request
waits for the state's answer (the new state, or why it was refused).
"""
from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy.orm import Session

from ..ari.events import StasisStart
from ..auth.permissions import may_act_for_desk
from ..db.database import Database
from ..db.models import Call as CallRow
from ..db.models import Patient
from ..eventlog import EventLog
from ..ivr.flow import Flow
from ..phones import normalize
from ..queues.services import QueueService
from . import click_to_dial, emergency
from .events import Control
from .exceptions import BadControl, CallNotFound, ControlError, ControlNotAllowed
from .services import Call
from .stasis import CallRouter

log = logging.getLogger(__name__)

TRANSFER_MODES = ("blind", "warm")
# How long an HTTP request waits for the call's task to carry out a control; ARI answers in milliseconds.
REPLY_TIMEOUT = 15.0


class CallControls:
    def __init__(self, router: CallRouter, queues: QueueService, db: Database, events: EventLog, flow: Flow):
        self._router = router
        self._flow = flow  # an outbound call runs no IVR; its language defaults come from the hotline flow
        self._queues = queues
        self._db = db
        self._events = events

    # -- controls on a live call ---------------------------------------------------------------------------

    async def hold(self, call_id: str, user=None) -> str:
        return await self._control(call_id, user, "hold")

    async def unhold(self, call_id: str, user=None) -> str:
        return await self._control(call_id, user, "unhold")

    async def hangup(self, call_id: str, user=None) -> str:
        return await self._control(call_id, user, "hangup")

    async def transfer(self, call_id: str, body: dict, user=None) -> str:
        mode, queue, agent = _transfer_request(body)
        priority = _priority(body)
        return await self._control(call_id, user, "transfer", mode=mode, queue=queue, agent=agent,
                                   **({"priority": priority} if priority is not None else {}))

    async def survey(self, call_id: str, user=None) -> str:
        """The caller goes to the survey when the agent hangs up (issue 17)."""
        return await self._control(call_id, user, "survey")

    async def read_out(self, call_id: str, media: list[str], complaint_id: int, user=None) -> str:
        """Play `media` (a ticket's serial) to the caller of a connected call; returns the playback's id
        (Asterisk's GET /playbacks/{id} shows it while it plays; the call's events say how it ended)."""
        playback_id = uuid.uuid4().hex
        await self._control(call_id, user, "read_out", media=media, playback_id=playback_id,
                            complaint_id=complaint_id)
        return playback_id

    async def complete_transfer(self, call_id: str, user=None) -> str:
        return await self._control(call_id, user, "complete")

    async def cancel_transfer(self, call_id: str, user=None) -> str:
        return await self._control(call_id, user, "cancel")

    async def _control(self, call_id: str, user, action: str, **args) -> str:
        call = await self._live_call(call_id)
        self._check_desk(user, call)
        reply = asyncio.get_running_loop().create_future()
        call.post(Control(action, args, reply))
        try:
            state = await asyncio.wait_for(reply, REPLY_TIMEOUT)
        except TimeoutError:
            raise ControlNotAllowed("the call ended before the control could run") from None
        await self._events.flush()  # GET /api/calls/{id} right after sees what this did
        return state

    async def _live_call(self, call_id: str) -> Call:
        call = self._router.find(call_id)
        if call is not None and not call.ended.is_set():
            return call
        if await self._db.run(lambda s: s.get(CallRow, call_id)) is not None:
            raise ControlNotAllowed("the call has ended")
        raise CallNotFound("no such call")

    @staticmethod
    def _check_desk(user, call: Call) -> None:
        """Agents and nurses control the calls of their own desk only (the own-desk rule of
        auth/permissions.py, as web/request.py applies it to requests)."""
        if user is None:
            return
        desk = call.agent.number if call.agent is not None else ""
        if not may_act_for_desk(user.role, user.desk, desk):
            raise _Forbidden("you may control the calls of your own desk only")

    # -- conference the emergency number --------------------------------------------------------------------

    async def conference_emergency(self, call_id: str, user=None) -> str:
        """Dial the configured emergency number into the call's bridge: caller, agent and the emergency
        service all hear each other once it answers. Run by the call's own task like every control (the
        leg's life: calls/emergency.py). Returns the leg's channel id."""
        # Chosen here, as the call's other legs are: a busy line may fail before this request hears back.
        channel_id = emergency.new_leg_id()
        await self._control(call_id, user, "conference_emergency", channel_id=channel_id)
        return channel_id

    async def on_emergency_start(self, start: StasisStart) -> None:
        """The emergency number answered: its call's task puts it into the caller's bridge, or hangs it up
        when the call is over meanwhile."""
        await self._router.to_call(start, "emergency leg")

    # -- click-to-dial ---------------------------------------------------------------------------------

    async def dial(self, agent_number: str, body: dict) -> str:
        phone, patient_id = _dial_request(body)
        e164 = self._e164(phone)
        if patient_id is not None and not await self._db.run(_patient_exists, patient_id):
            raise BadControl(f"no patient with id {patient_id}")
        agent = self._queues.agent(agent_number)
        if agent.state not in ("available", "paused"):
            raise ControlNotAllowed(f"agent {agent_number} is {agent.state}: dial when available or paused")
        deps = self._router.deps
        call = click_to_dial.new_call(deps, self._flow, e164=e164, patient_id=patient_id, agent=agent)
        # Ringing at once, before any await: the queue must not offer this agent a caller meanwhile.
        self._queues.set_state(agent, "ringing", call_id=call.id)
        self._router.start_call(call, lambda c: click_to_dial.DialingAgent(c))
        return call.id

    def _e164(self, phone: str) -> str:
        number = normalize(phone, self._router.deps.settings.default_region)
        if not number.is_valid:
            raise BadControl("'phone' is not a valid phone number (E.164 like +14155550100, or national)")
        return number.e164

    async def on_stasis_start(self, start: StasisStart) -> None:
        """Both legs of a click-to-dial call enter the app as `outbound,<call id>`."""
        await self._router.to_call(start, "outbound channel")


class _Forbidden(ControlError):
    status = 403


def _transfer_request(body: dict) -> tuple[str, str | None, str | None]:
    mode = body.get("mode")
    if mode not in TRANSFER_MODES:
        raise BadControl("'mode' must be 'blind' or 'warm'")
    queue, agent = body.get("queue"), body.get("agent")
    if (queue is None) == (agent is None):
        raise BadControl("give either 'queue' or 'agent'")
    target = queue if queue is not None else agent
    if not isinstance(target, str) or not target or len(target) > 64:
        raise BadControl("'queue' or 'agent' must be a short text")
    return mode, queue, agent


def _priority(body: dict) -> int | None:
    priority = body.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 0 <= priority <= 100):
        raise BadControl("'priority' must be an integer from 0 to 100")
    return priority


def _dial_request(body: dict) -> tuple[str, int | None]:
    phone, patient_id = body.get("phone"), body.get("patient_id")
    if not isinstance(phone, str) or not phone.strip() or len(phone) > 32:
        raise BadControl("'phone' is required: a phone number")
    if patient_id is not None and (isinstance(patient_id, bool) or not isinstance(patient_id, int)):
        raise BadControl("'patient_id' must be an integer")
    return phone, patient_id


def _patient_exists(session: Session, patient_id: int) -> bool:
    return session.get(Patient, patient_id) is not None

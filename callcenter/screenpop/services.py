"""The screen pop: who is calling, shown to the agent before they answer.

The patient lookup runs when the call arrives (during the IVR), so offering the call only sends what is
already known. Every pop is a view of patient records and writes one audit row per patient shown and person
shown it (each open console's viewer: the desk's user, or a supervisor watching the desk), in one transaction
before the pop is sent. Rows that cannot be written withhold the patients: the pop still rings the agent (the
caller must reach someone), as an unknown caller with `withheld` set, and the agent can search (audited).

PHI minimisation: the pop reaches the agent's console before anyone knows who is really on the line, so it
carries only what the identity check needs (per candidate: id, name, date of birth, MRN, language and the
flag codes such as vip / chronic, without their notes) plus the call's queue and IVR path. The clinical
record (allergies, conditions, visits, appointments, previous calls) is only sent once the agent confirmed
the identity, through the desk's audited record view (desk/services.py).
"""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Patient
from ..db.queries import AuditActor, find_patients_by_phone
from ..eventlog import EventLog, utcnow
from ..phones import CallerNumber
from ..vocabulary import AGENT_ON_CALL
from .notifier import AgentNotifier

log = logging.getLogger(__name__)

MAX_CANDIDATES = 10


class ScreenPopService:
    def __init__(self, db: Database, events: EventLog, notifier: AgentNotifier):
        self._db = db
        self._events = events  # its add_audit: the pop's audit rows with their webhook events
        self._notifier = notifier

    async def lookup(self, caller: CallerNumber) -> list[dict]:
        if caller.e164 is None:
            return []
        return await self._db.run(candidates, caller.e164)

    async def offer(self, call, agent, audit_detail: dict | None = None) -> dict:
        """Send the pop to the desk's open consoles once its audit rows are written; what was sent."""
        consoles = self._notifier.consoles(agent.number)
        viewers = set(consoles.values()) or {AuditActor()}  # no console: still audited, for the desk
        message = await self._audited(self.build(call, agent), call, agent, viewers, audit_detail or {})
        await self._notifier.send(agent.number, message, only=consoles)
        return message

    async def replay(self, call, agent, viewer: AuditActor) -> list[dict]:
        """What a console (re)opened during a call must be shown: the pop again (a console reloaded while the
        phone rings would otherwise lose who is calling) and, once answered, where the call is. Audited like
        the first pop, for the one who opened the console: it shows the same candidates again."""
        if call is None or call.agent is not agent or call.ended.is_set():
            return []
        pop = self.build(call, agent) | {"replayed": True}
        messages = [await self._audited(pop, call, agent, {viewer}, {"replayed": True})]
        if call.state.name in AGENT_ON_CALL:  # the states the agent's console has buttons for
            messages.append({"type": "call_state", "call_id": call.id, "state": call.state.name,
                             "direction": call.direction})
        return messages

    async def _audited(self, message: dict, call, agent, viewers: set[AuditActor], detail: dict) -> dict:
        """The message once its audit rows are in the database; without its patients if they cannot be."""
        rows = [(viewer, patient["id"] if patient else None) for viewer in sorted(viewers, key=_order)
                for patient in call.patients or [None]]
        detail = {"candidates": len(call.patients)} | detail
        try:
            await self._db.run(self._audit_pop, call.id, agent.id, rows, detail)
        except Exception:
            log.exception("call %s: the screen pop's audit rows failed: pop sent without patients", call.id)
            return message | {"known": False, "patients": [], "withheld": True}
        return message

    def _audit_pop(self, session: Session, call_id: str, agent_id: int,
                   rows: list[tuple[AuditActor, int | None]], detail: dict) -> None:
        for viewer, patient_id in rows:
            self._events.add_audit(session, "screen_pop", actor=viewer, actor_agent_id=agent_id,
                                   call_id=call_id, patient_id=patient_id, detail=detail)

    def build(self, call, agent) -> dict:
        return {
            "type": "screen_pop",
            "call_id": call.id,
            "sent_at": utcnow().isoformat(),
            "queue": call.queue_name,
            "language": call.language,
            "caller": {"number": call.caller.e164, "status": call.caller.status},
            "known": bool(call.patients),
            "patients": call.patients,
            "ivr_path": call.ivr_path,
            "agent": agent.number,
        } | call.flavour.pop_extras(call)


def _order(viewer: AuditActor) -> tuple:
    return (viewer.user_id or 0, viewer.api_client or "")


def candidates(session: Session, e164: str) -> list[dict]:
    """The patients a caller with this number may be (identity candidates, at most MAX_CANDIDATES): the one
    lookup of the pop, the IVR and FastAGI's identify."""
    return [identity_candidate(p) for p in find_patients_by_phone(session, e164)[:MAX_CANDIDATES]]


def identity_candidate(patient: Patient) -> dict:
    """One candidate of a pop: enough to ask "are you ...?" and to route (the IVR reads the language),
    nothing clinical. Flag notes are free text that may be clinical ("Dialysis Tuesdays"): codes only."""
    return {
        "id": patient.id,
        "name": patient.full_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "mrn": patient.mrn,
        "language": patient.language,
        "flags": sorted(f.flag for f in patient.flags),
    }

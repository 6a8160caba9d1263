"""The screen pop: who is calling, shown to the agent before they answer.

The patient lookup runs when the call arrives (during the IVR), so offering the call only sends what is
already known. Every pop is a view of patient records and writes one audit row per patient shown.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.queries import find_patients_by_phone, patient_summary
from ..eventlog import EventLog, utcnow
from ..phones import CallerNumber
from .notifier import AgentNotifier

MAX_CANDIDATES = 10


class ScreenPopService:
    def __init__(self, db: Database, events: EventLog, notifier: AgentNotifier):
        self._db = db
        self._events = events
        self._notifier = notifier

    async def lookup(self, caller: CallerNumber) -> list[dict]:
        if caller.e164 is None:
            return []
        return await self._db.run(_summaries, caller.e164)

    async def offer(self, call, agent) -> dict:
        message = self.build(call, agent)
        await self._notifier.send(agent.number, message)
        for patient in call.patients or [None]:
            self._events.audit("screen_pop", actor_agent_id=agent.id, call_id=call.id,
                               patient_id=patient["id"] if patient else None,
                               detail={"candidates": len(call.patients)})
        return message

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
        }


def _summaries(session: Session, e164: str) -> list[dict]:
    patients = find_patients_by_phone(session, e164)[:MAX_CANDIDATES]
    return [patient_summary(session, p.id) for p in patients]

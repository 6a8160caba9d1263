"""The survey after an inbound call (issue 17): its row, written when the survey starts (the call, the agent
who took it, the queue) and updated with each answer as it is given, so a caller who hangs up mid-survey
leaves the answers they gave. No patient data: the call's id links it to everything else."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..campaigns.actions import survey_score
from ..db.database import Database
from ..db.models import CallSurvey
from ..eventlog import utcnow

# question -> (the context value the flow's menu set, the column, what a valid answer is)
QUESTIONS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "satisfaction": ("survey.score", "satisfaction", survey_score),
    "resolved": ("survey.resolved", "resolved", lambda v: _yes_no(v)),
}


class SurveyStore:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db, self.clock = db, clock

    async def start(self, call_id: str, agent_id: int | None, queue_name: str | None) -> None:
        row = dict(call_id=call_id, agent_id=agent_id, queue_name=queue_name, started_at=self.clock())
        await self.db.run(lambda s: s.add(CallSurvey(**row)))

    async def answer(self, call_id: str, question: str, context: dict[str, Any]) -> bool:
        """Store the answer the flow put into the context; False when it is not a valid answer."""
        if question not in QUESTIONS:
            raise ValueError(f"unknown survey question {question!r}")
        variable, column, check = QUESTIONS[question]
        value = check(context.get(variable))
        if value is None:
            return False
        now = self.clock()
        await self.db.run(_store, call_id, {column: value, "answered_at": now})
        return True


def _store(session: Session, call_id: str, values: dict[str, Any]) -> None:
    session.execute(update(CallSurvey).where(CallSurvey.call_id == call_id).values(**values))


def _yes_no(value: Any) -> bool | None:
    return {"yes": True, "no": False}.get(str(value).lower()) if value is not None else None

"""Callbacks: the calls the hospital owes patients, in one home.

Every creator goes through here: an agent's wrap-up ("call back tomorrow at 10"), a campaign call that found a
red flag with no nurse free (`callback.urgent`), and an escalation owed on a call whose caller hung up (an
urgent callback the dialer places at once, triage/escalation.py). A callback has a due time, a reason (codes
and short text written by staff; clinical detail stays in the call's events), a priority (urgent ones first,
at the top of the nurse queue) and is worked by claiming it: an agent taking it, or the urgent dialer
dialing it. Claiming is one conditional UPDATE, so two claimers never both win. An attempt that did not reach
the patient gives the claim back with its result and the time of the next try (`retry`): the callback stays
owed, listed first with its failed attempts, until `complete` closes it.

The session-level functions are for callers already inside a transaction (the desk saves a disposition and
its callback atomically); `CallbackService` runs them in the pool for everyone else.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, or_, select, update
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Callback, Patient
from ..eventlog import utcnow

URGENT_PRIORITY = 100  # the top of the queue: the same rank as a red-flag warm transfer (TOP_PRIORITY)
CLOSED = ("done", "cancelled", "failed")


@dataclass(frozen=True)
class NewCallback:
    phone_e164: str
    due_at: datetime
    reason: str = ""
    patient_id: int | None = None
    queue_name: str | None = None
    agent_id: int | None = None  # one agent's callback; None: anyone serving `queue_name`
    origin_call_id: str | None = None
    created_by_user_id: int | None = None
    urgent: bool = False
    autodial: bool = False  # the urgent dialer dials it when due (else a person works it from the list)

    @property
    def priority(self) -> int:
        return URGENT_PRIORITY if self.urgent else 0


# -- in the caller's transaction ---------------------------------------------------------------------------


def create(session: Session, new: NewCallback, *, now: datetime | None = None) -> int:
    callback = Callback(patient_id=new.patient_id, phone_e164=new.phone_e164, queue_name=new.queue_name,
                        agent_id=new.agent_id, due_at=new.due_at, status="scheduled", reason=new.reason,
                        origin_call_id=new.origin_call_id, created_by_user_id=new.created_by_user_id,
                        created_at=now or utcnow(), urgent=new.urgent, priority=new.priority,
                        autodial=new.autodial)
    session.add(callback)
    session.flush()
    return callback.id


def listing(session: Session, *, agent_id: int | None, queues: list[str],
            limit: int) -> list[tuple[Callback, Patient | None]]:
    """Open callbacks of one agent or of the queues they serve: most urgent first, then due soonest."""
    for_my_queues = Callback.agent_id.is_(None) & Callback.queue_name.in_(queues)
    # `== None` would be IS NULL: every queue's callbacks. Without an agent, only the queues count.
    mine = Callback.agent_id == agent_id if agent_id is not None else false()
    query = (select(Callback, Patient).outerjoin(Patient, Callback.patient_id == Patient.id)
             .where(Callback.status == "scheduled", or_(mine, for_my_queues))
             .order_by(Callback.priority.desc(), Callback.due_at, Callback.id).limit(limit))
    return [(cb, patient) for cb, patient in session.execute(query)]


def claim(session: Session, callback_id: int, *, by_agent_id: int | None = None,
          now: datetime | None = None) -> bool:
    """Take a scheduled, unclaimed callback to work it; False when someone else has it or it is closed."""
    done = session.execute(update(Callback).where(
        Callback.id == callback_id, Callback.status == "scheduled", Callback.claimed_at.is_(None))
        .values(claimed_at=now or utcnow(), claimed_by_agent_id=by_agent_id))
    return done.rowcount == 1


def retry(session: Session, callback_id: int, *, result: str, next_at: datetime) -> int:
    """An attempt did not reach the patient: the claim is given back, the callback stays owed and is due
    again at `next_at`. Returns the attempts made so far."""
    callback = session.get(Callback, callback_id)
    if callback is None or callback.status in CLOSED:
        return 0
    callback.attempts += 1
    callback.last_result, callback.due_at = result[:16], next_at
    callback.claimed_at, callback.claimed_by_agent_id = None, None
    return callback.attempts


def complete(session: Session, callback_id: int, *, result_call_id: str | None = None, status: str = "done",
             now: datetime | None = None) -> bool:
    """Close a callback (done: the patient was reached; cancelled/failed). False when already closed."""
    if status not in CLOSED:
        raise ValueError(f"a callback closes as one of {', '.join(CLOSED)}")
    callback = session.get(Callback, callback_id)
    if callback is None or callback.status in CLOSED:
        return False
    callback.status, callback.completed_at = status, now or utcnow()
    callback.result_call_id = result_call_id
    if status == "done":
        callback.attempts += 1
        callback.last_result = "answered"
    return True


def due_to_dial(session: Session, now: datetime, limit: int = 20) -> list[Callback]:
    """Callbacks for the dialer, due and not being worked: what the urgent dialer dials, most urgent first."""
    query = (select(Callback).where(Callback.status == "scheduled", Callback.autodial.is_(True),
                                       Callback.claimed_at.is_(None), Callback.due_at <= now)
             .order_by(Callback.priority.desc(), Callback.due_at, Callback.id).limit(limit))
    return list(session.scalars(query))


def release_dialer_claims(session: Session) -> int:
    """Claims the urgent dialer held when the process stopped: their calls died with it, so the callbacks
    are owed again (run when the dialer starts; there is one dialer per contact center)."""
    done = session.execute(update(Callback).where(
        Callback.autodial.is_(True), Callback.status == "scheduled", Callback.claimed_at.is_not(None),
        Callback.claimed_by_agent_id.is_(None)).values(claimed_at=None))
    return done.rowcount


def get(session: Session, callback_id: int) -> Callback | None:
    return session.get(Callback, callback_id)


# -- the service (runs the above in the pool) --------------------------------------------------------------


class CallbackService:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self._db, self.clock = db, clock

    async def create(self, new: NewCallback) -> int:
        now = self.clock()
        return await self._db.run(lambda s: create(s, new, now=now))

    async def list(self, *, agent_id: int | None, queues: list[str],
                   limit: int = 30) -> list[tuple[Callback, Patient | None]]:
        return await self._db.run(lambda s: listing(s, agent_id=agent_id, queues=queues, limit=limit))

    async def claim(self, callback_id: int, *, by_agent_id: int | None = None) -> bool:
        now = self.clock()
        return await self._db.run(lambda s: claim(s, callback_id, by_agent_id=by_agent_id, now=now))

    async def retry(self, callback_id: int, *, result: str, next_at: datetime) -> int:
        return await self._db.run(lambda s: retry(s, callback_id, result=result, next_at=next_at))

    async def complete(self, callback_id: int, *, result_call_id: str | None = None,
                       status: str = "done") -> bool:
        now = self.clock()
        return await self._db.run(lambda s: complete(s, callback_id, result_call_id=result_call_id,
                                                     status=status, now=now))

    async def due_to_dial(self) -> list[Callback]:
        return await self._db.run(due_to_dial, self.clock())

    async def release_dialer_claims(self) -> int:
        return await self._db.run(release_dialer_claims)

    async def get(self, callback_id: int) -> Callback | None:
        return await self._db.run(get, callback_id)

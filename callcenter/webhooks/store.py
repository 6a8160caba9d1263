"""The deliveries' life in the database: addressed from the outbox, claimed, settled. Plain functions over a
Session, run through Database.run by the worker (worker.py).

Several controllers may share one PostgreSQL: outbox rows and due deliveries are taken with `FOR UPDATE SKIP
LOCKED` inside the one statement that takes them (DELETE ... RETURNING, UPDATE ... RETURNING), so two workers
never address the same event or send the same delivery. SQLite has one writer at a time, which gives the same
guarantee (the clause renders as nothing there). A claim is a lease (`claimed_until`): a worker that died
holding one lets it go when the lease ends, and only the claim's holder may settle it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from ..db.models import WebhookDelivery, WebhookOutbox, WebhookSubscription
from .events import payload

DELIVERED, PENDING, DEAD = "delivered", "pending", "dead"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds, with what sending it needs."""
    id: int
    event_id: str
    type: str
    body: str
    attempts: int
    url: str
    secret: str
    subscription_id: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one send ended: the HTTP status (None: no answer), what went wrong, and what becomes of it."""
    status: str  # DELIVERED, PENDING (retry at next_attempt_at) or DEAD
    at: datetime
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def address(session: Session, limit: int) -> int:
    """Take up to `limit` outbox rows and turn each into one delivery per active subscription wanting its
    type, in one transaction. The body is frozen here: a retry or a re-send is byte for byte the same."""
    o = WebhookOutbox
    taken = select(o.id).order_by(o.id).limit(limit).with_for_update(skip_locked=True)
    rows = session.execute(delete(o).where(o.id.in_(taken))
                           .returning(o.id, o.event_id, o.type, o.occurred_at, o.data, o.clinical)).all()
    if not rows:
        return 0
    subscriptions = list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.active)))
    session.add_all([_delivery(row, sub) for row in sorted(rows) for sub in subscriptions
                     if row.type in sub.events])
    return len(rows)


def _delivery(row, sub: WebhookSubscription) -> WebhookDelivery:
    body = payload(row.event_id, row.type, row.occurred_at.isoformat(), row.data, row.clinical, sub.scopes)
    return WebhookDelivery(subscription_id=sub.id, event_id=row.event_id, type=row.type, status=PENDING,
                           body=json.dumps(body, separators=(",", ":"), sort_keys=True), attempts=0,
                           next_attempt_at=row.occurred_at)


def claim(session: Session, worker: str, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries of active subscriptions that nobody holds (or whose holder's lease
    ended), oldest due first."""
    d, s = WebhookDelivery, WebhookSubscription
    due = (select(d.id).where(d.status == PENDING, d.next_attempt_at <= now,
                              or_(d.claimed_until.is_(None), d.claimed_until < now),
                              d.subscription_id.in_(select(s.id).where(s.active)))
           .order_by(d.next_attempt_at, d.id).limit(limit).with_for_update(skip_locked=True))
    taken = session.execute(update(d).where(d.id.in_(due))
                            .values(claimed_by=worker, claimed_until=now + lease)
                            .returning(d.id, d.event_id, d.type, d.body, d.attempts, d.subscription_id)).all()
    wanted = {t.subscription_id for t in taken}
    targets = {sub.id: sub for sub in session.scalars(select(s).where(s.id.in_(wanted)))}
    return [Claimed(t.id, t.event_id, t.type, t.body, t.attempts, targets[t.subscription_id].url,
                    targets[t.subscription_id].secret, t.subscription_id) for t in sorted(taken)]


def settle(session: Session, worker: str, delivery_id: int, attempt: Attempt) -> bool:
    """Write how the attempt ended and let the claim go; False if this worker no longer held it."""
    d = WebhookDelivery
    values = dict(status=attempt.status, attempts=d.attempts + 1, last_attempt_at=attempt.at,
                  last_status_code=attempt.status_code, last_error=attempt.error, claimed_by=None,
                  claimed_until=None)
    if attempt.status == DELIVERED:
        values["delivered_at"] = attempt.at
    if attempt.next_attempt_at is not None:
        values["next_attempt_at"] = attempt.next_attempt_at
    done = session.execute(update(d).where(d.id == delivery_id, d.claimed_by == worker).values(**values))
    return done.rowcount == 1


def purge(session: Session, before: datetime) -> int:
    """Forget settled deliveries of events older than `before` (the history the console shows is bounded);
    a pending one is kept whatever its age."""
    d = WebhookDelivery
    return session.execute(delete(d).where(d.status.in_((DELIVERED, DEAD)), d.created_at < before)).rowcount


def release(session: Session, worker: str) -> int:
    """A worker stopping hands back what it claimed and did not send (the next worker takes them at once)."""
    d = WebhookDelivery
    done = session.execute(update(d).where(d.claimed_by == worker, d.status == PENDING)
                           .values(claimed_by=None, claimed_until=None))
    return done.rowcount


def resend(session: Session, delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Send a delivery again now with a fresh count of attempts (a dead one after the receiver was fixed, or
    a delivered one the receiver lost). None if there is no such delivery or a worker is sending it."""
    d = WebhookDelivery
    done = session.execute(update(d).where(d.id == delivery_id, or_(d.claimed_until.is_(None),
                                                                     d.claimed_until < now))
                           .values(status=PENDING, attempts=0, next_attempt_at=now, claimed_by=None,
                                   claimed_until=None, delivered_at=None))
    return session.get(d, delivery_id) if done.rowcount == 1 else None


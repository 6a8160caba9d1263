"""What the admin console and the JSON API do with webhooks: subscriptions (URL, events, secret, scopes) and
the deliveries, listed and re-sent. Every change is audited in its own transaction (never the secret).

The secret is generated here unless the admin brings one, shown once in the answer that created or rotated
it, and never listed again.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import WebhookDelivery, WebhookSubscription
from ..db.queries import AuditActor, add_audit_event
from ..db.types import utcnow
from ..vocabulary import WEBHOOK_EVENTS
from .events import SCOPES
from .exceptions import Conflict, InvalidSubscription, NotFound
from .store import resend

NAME_MAX, URL_MAX, SECRET_MIN, SECRET_MAX = 64, 2000, 16, 128
DELIVERY_PAGE = 100


@dataclass
class SubscriptionForm:
    """What the admin asks for, as typed; `validated` refuses it with a message naming the field."""
    name: str = ""
    url: str = ""
    events: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    secret: str = ""  # empty: generate one
    active: bool = True

    def validated(self) -> SubscriptionForm:
        name, url = self.name.strip(), self.url.strip()
        if not 0 < len(name) <= NAME_MAX:
            raise InvalidSubscription(f"a name of 1 to {NAME_MAX} characters is needed", "name")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > URL_MAX:
            raise InvalidSubscription("the URL must be an http:// or https:// address", "url")
        if not self.events or not set(self.events) <= WEBHOOK_EVENTS:
            raise InvalidSubscription(f"choose events among {', '.join(sorted(WEBHOOK_EVENTS))}", "events")
        if not set(self.scopes) <= set(SCOPES):
            raise InvalidSubscription(f"scopes are among {', '.join(SCOPES)}", "scopes")
        if self.secret and not SECRET_MIN <= len(self.secret) <= SECRET_MAX:
            raise InvalidSubscription(f"a secret has {SECRET_MIN} to {SECRET_MAX} characters", "secret")
        return SubscriptionForm(name, url, sorted(set(self.events)), sorted(set(self.scopes)), self.secret,
                                bool(self.active))


class WebhookService:
    def __init__(self, db: Database, kick=lambda: None):
        self._db = db
        self._kick = kick  # wakes the delivery worker (a re-send goes out now, not at the next poll)

    async def subscriptions(self) -> list[dict]:
        return await self._db.run(_subscriptions)

    async def subscription(self, sub_id: int) -> dict:
        return await self._db.run(_subscription, sub_id)

    async def create(self, form: SubscriptionForm, actor: AuditActor | None) -> dict:
        """The new subscription, with its secret (the only time it is shown)."""
        return await self._db.run(_create, form.validated(), actor)

    async def update(self, sub_id: int, form: SubscriptionForm, actor: AuditActor | None) -> dict:
        """Change a subscription; a secret given replaces the old one (shown in the answer), none keeps it."""
        return await self._db.run(_update, sub_id, form.validated(), actor)

    async def delete(self, sub_id: int, actor: AuditActor | None) -> None:
        await self._db.run(_delete, sub_id, actor)

    async def deliveries(self, *, status: str | None = None, subscription_id: int | None = None,
                         limit: int = DELIVERY_PAGE) -> list[dict]:
        return await self._db.run(_deliveries, status, subscription_id, limit)

    async def delivery(self, delivery_id: int) -> dict:
        return await self._db.run(_delivery, delivery_id)

    async def resend(self, delivery_id: int, actor: AuditActor | None) -> dict:
        found = await self._db.run(_resend, delivery_id, actor)
        self._kick()
        return found


def _subscriptions(session: Session) -> list[dict]:
    counts = dict(session.execute(select(WebhookDelivery.subscription_id, func.count())
                                  .where(WebhookDelivery.status != "delivered")
                                  .group_by(WebhookDelivery.subscription_id)).all())
    rows = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.name))
    return [_public(sub) | {"undelivered": counts.get(sub.id, 0)} for sub in rows]


def _subscription(session: Session, sub_id: int) -> dict:
    return _public(_get(session, sub_id))


def _get(session: Session, sub_id: int) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id)
    if sub is None:
        raise NotFound("no such webhook subscription")
    return sub


def _create(session: Session, form: SubscriptionForm, actor: AuditActor | None) -> dict:
    secret = form.secret or secrets.token_urlsafe(32)
    sub = WebhookSubscription(name=form.name, url=form.url, events=form.events, scopes=form.scopes,
                              secret=secret, active=form.active, created_at=utcnow(),
                              created_by_user_id=actor.user_id if actor else None)
    session.add(sub)
    _flush_unique(session)
    _audit(session, "webhook_subscription_created", actor, sub)
    return _public(sub) | {"secret": secret}


def _update(session: Session, sub_id: int, form: SubscriptionForm, actor: AuditActor | None) -> dict:
    sub = _get(session, sub_id)
    sub.name, sub.url, sub.events, sub.scopes, sub.active = (form.name, form.url, form.events, form.scopes,
                                                             form.active)
    if form.secret:
        sub.secret = form.secret
    _flush_unique(session)
    _audit(session, "webhook_subscription_changed", actor, sub, secret_changed=bool(form.secret))
    return _public(sub) | ({"secret": form.secret} if form.secret else {})


def _delete(session: Session, sub_id: int, actor: AuditActor | None) -> None:
    sub = _get(session, sub_id)
    _audit(session, "webhook_subscription_deleted", actor, sub)
    session.delete(sub)


def _flush_unique(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("a subscription of that name exists", "name") from None


def _audit(session: Session, action: str, actor: AuditActor | None, sub: WebhookSubscription,
           **extra) -> None:
    add_audit_event(session, action, actor=actor,
                    detail={"subscription_id": sub.id, "events": list(sub.events), "scopes": list(sub.scopes),
                            "active": sub.active, **extra})


def _public(sub: WebhookSubscription) -> dict:
    return {"id": sub.id, "name": sub.name, "url": sub.url, "events": list(sub.events),
            "scopes": list(sub.scopes), "active": sub.active, "created_at": sub.created_at.isoformat()}


def _deliveries(session: Session, status: str | None, subscription_id: int | None, limit: int) -> list[dict]:
    d = WebhookDelivery
    query = select(d).order_by(d.id.desc()).limit(limit)
    if status:
        query = query.where(d.status == status)
    if subscription_id:
        query = query.where(d.subscription_id == subscription_id)
    return [_delivery_view(row) for row in session.scalars(query)]


def _delivery(session: Session, delivery_id: int) -> dict:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound("no such delivery")
    return _delivery_view(row) | {"body": row.body}


def _resend(session: Session, delivery_id: int, actor: AuditActor | None) -> dict:
    if session.get(WebhookDelivery, delivery_id) is None:
        raise NotFound("no such delivery")
    row = resend(session, delivery_id, utcnow())
    if row is None:
        raise Conflict("this delivery is being sent right now")
    add_audit_event(session, "webhook_delivery_resent", actor=actor,
                    detail={"delivery_id": delivery_id, "subscription_id": row.subscription_id})
    return _delivery_view(row)


def _delivery_view(row: WebhookDelivery) -> dict:
    iso = _iso
    return {"id": row.id, "subscription_id": row.subscription_id, "event_id": row.event_id, "type": row.type,
            "status": row.status, "attempts": row.attempts, "created_at": iso(row.created_at),
            "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
            "last_attempt_at": iso(row.last_attempt_at), "last_status_code": row.last_status_code,
            "last_error": row.last_error, "delivered_at": iso(row.delivered_at)}


def _iso(value) -> str | None:
    return value.isoformat() if value else None

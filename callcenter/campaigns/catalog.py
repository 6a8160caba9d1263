"""The stored campaigns as the console lists them (their rows: version, who changed them last), and a campaign
switched on or off (audited with who). The console's pages are console_http.py; the YAML itself is
services.py's, the do-not-call list dnc.py's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Campaign, User
from ..db.queries import add_audit_event
from ..errors import ServiceError
from ..eventlog import utcnow


class CatalogError(ServiceError):
    """A refused change or an unknown campaign; `field` names the console form's input at fault."""

    def __init__(self, message: str, field: str = "", status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status


class CampaignCatalog:
    def __init__(self, db: Database):
        self._db = db

    async def set_enabled(self, user_id: int | None, name: str, enabled: bool) -> None:
        changed = await self._db.run(_set_enabled, name, enabled, user_id)
        if not changed:
            raise CatalogError(f"no campaign named {name!r}", status=404)


def _set_enabled(session: Session, name: str, enabled: bool, user_id: int | None) -> bool:
    """The switch and its audit row, in one transaction."""
    result = session.execute(update(Campaign).where(Campaign.name == name).values(
        enabled=enabled, updated_at=utcnow(), updated_by_user_id=user_id))
    if result.rowcount == 0:
        return False
    add_audit_event(session, "campaign_enabled" if enabled else "campaign_disabled", actor_user_id=user_id,
                    detail={"campaign": name})
    return True


@dataclass(frozen=True)
class CampaignRow:
    name: str
    kind: str
    title: str
    version: int
    enabled: bool
    source_yaml: str
    loaded_from: str | None
    updated_at: datetime
    updated_by: str | None


async def campaign_rows(db: Database) -> list[CampaignRow]:
    return await db.run(_campaign_rows, None)


async def campaign_row(db: Database, name: str) -> CampaignRow:
    rows = await db.run(_campaign_rows, name)
    if not rows:
        raise CatalogError(f"no campaign named {name!r}", status=404)
    return rows[0]


def _campaign_rows(session: Session, name: str | None) -> list[CampaignRow]:
    query = (select(Campaign, User.username).outerjoin(User, User.id == Campaign.updated_by_user_id)
             .order_by(Campaign.name))
    if name is not None:
        query = query.where(Campaign.name == name)
    return [CampaignRow(c.name, c.kind, c.title, c.version, c.enabled, c.source_yaml, c.loaded_from,
                        c.updated_at, username) for c, username in session.execute(query).all()]

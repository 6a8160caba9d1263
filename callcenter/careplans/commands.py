"""`callcenter careplans plan`: make the follow-ups of every active care plan due up to today (or
`--days-ahead` days later), hand the automated ones now due to their campaigns, read back what the campaigns
did; prints the figures as JSON. Idempotent: run it from cron as often as you like."""
from __future__ import annotations

import asyncio
import json

from ..campaigns.services import CampaignService
from ..config import Config
from ..db.database import Database, upgrade
from ..eventlog import EventLog
from ..followup.services import QuestionnaireService
from .services import CarePlanService


def plan(cfg: Config, args) -> int:
    upgrade(cfg.database_url)
    report = asyncio.run(_plan(cfg, args.days_ahead))
    print(json.dumps(report.to_json()))
    return 0


async def _plan(cfg: Config, days_ahead: int):
    db = Database(cfg.database_url)
    try:
        return await build(cfg, db).plan(days_ahead=days_ahead)
    finally:
        db.close()


def build(cfg: Config, db: Database) -> CarePlanService:
    """The service without telephony (no click-to-dial from the command line)."""
    campaigns = CampaignService(db, EventLog(db), cfg)
    return CarePlanService(db, cfg.site.time_zone, QuestionnaireService(db), campaigns)

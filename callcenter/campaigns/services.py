"""Campaign use cases: definitions (load, edit, read), planning, claims for the dialer, outcomes, reports.

The dialers (dialing/automated.py, dialing/progressive.py) call `claim()` for jobs and `finish()` for every
attempt; nothing here speaks ARI.
Logs name campaigns, targets, attempts and patients by id only.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..config import Config
from ..db.database import Database
from ..db.models import Campaign, CampaignAttempt, CampaignTarget
from ..db.queries import AuditActor, add_audit_event
from ..db.types import utcnow
from ..eventlog import EventLog
from .claims import DialJob, Finished, claim_jobs, finish_attempt
from .exceptions import CampaignError, CampaignNotFound
from .planner import PlanReport, plan_targets
from .schema import CampaignDef, load_campaign_file, load_campaign_text

log = logging.getLogger(__name__)

__all__ = ["CampaignService", "DialJob", "PlanReport"]
REPORT_FIELDS = ("target_id", "patient_id", "subject_kind", "subject_id", "status", "attempts", "last_result",
                 "last_attempt_at", "next_attempt_at", "outcome", "completed_at")


class CampaignService:
    def __init__(self, db: Database, events: EventLog, cfg: Config, *, clock: Callable[[], datetime] = utcnow,
                 flows_dir: Path | None = None):
        self.db, self.events, self.cfg, self.clock = db, events, cfg, clock
        self.flows_dir = flows_dir or cfg.path("ivr_flows")
        self.hospital_zone = cfg.site.time_zone or "UTC"
        self.claim_ttl = timedelta(seconds=cfg.campaigns.claim_ttl_seconds)
        self._parsed: dict[str, tuple[int, CampaignDef]] = {}  # name -> (stored version, definition)
        # What else a plan or an attempt's end does, in its own transaction (the SMS package's texts:
        # reminders for a planned reminder campaign, "we tried to call you"): fn(session, campaign, now) and
        # fn(session, finished, campaign or None, now), wired in main.py.
        self.plan_listeners: list[Callable[[Session, CampaignDef, datetime], object]] = []
        self.attempt_listeners: list[Callable[[Session, Finished, CampaignDef | None, datetime], object]] = []

    # ---- definitions ----

    async def load_file(self, path: str | Path, user_id: int | None = None) -> CampaignDef:
        """Validate a campaign file (its flow must exist) and store it; unchanged text keeps its version."""
        path = Path(path)
        campaign = load_campaign_file(path, self.flows_dir)
        text = path.read_text(encoding="utf-8")
        await self.db.run(self._store, campaign, text, str(path), AuditActor(user_id), False)
        return campaign

    async def save_text(self, name: str, text: str, actor: AuditActor | None) -> CampaignDef:
        """An edit (an admin's, or an API client's): validated like a file; the name inside must be the
        campaign's."""
        campaign = load_campaign_text(text, f"{name}.yaml", self.flows_dir)
        if campaign.name != name:
            raise CampaignError([f"{name}.yaml:1: name: the file names campaign {campaign.name!r}, "
                                 f"not {name!r} (a campaign is renamed by loading a new file)"])
        await self.db.run(self._store, campaign, text, None, actor or AuditActor(), True)
        return campaign

    def _store(self, session: Session, campaign: CampaignDef, text: str, loaded_from: str | None,
               actor: AuditActor, edited: bool) -> None:
        row = session.scalar(select(Campaign).where(Campaign.name == campaign.name))
        if row is not None and row.source_yaml == text:
            return
        now = self.clock()
        if row is None:
            row = Campaign(name=campaign.name, version=0)
            session.add(row)
        row.kind, row.title, row.source_yaml = campaign.kind, campaign.title, text
        row.version = (row.version or 0) + 1
        row.loaded_from = loaded_from if loaded_from is not None else row.loaded_from
        row.updated_at, row.updated_by_user_id = now, actor.user_id
        session.flush()
        add_audit_event(session, "campaign_edited" if edited else "campaign_loaded", actor=actor,
                        detail={"campaign": campaign.name, "version": row.version})
        log.info("campaign %s stored, version %d", campaign.name, row.version)

    async def definitions(self, *, enabled_only: bool = False) -> dict[str, CampaignDef]:
        rows = await self.db.run(_stored_definitions)
        return {name: self._parse(name, version, text) for name, version, text, enabled in rows
                if enabled or not enabled_only}

    async def get(self, name: str) -> CampaignDef:
        version, text, _ = await self._row(name)
        return self._parse(name, version, text)

    async def source(self, name: str) -> tuple[int, str]:
        """(stored version, YAML text) for the editor."""
        version, text, _ = await self._row(name)
        return version, text

    async def _row(self, name: str) -> tuple[int, str, bool]:
        row = await self.db.run(_stored_definition, name)
        if row is None:
            raise CampaignNotFound(name)
        return row

    def _parse(self, name: str, version: int, text: str) -> CampaignDef:
        cached = self._parsed.get(name)
        if cached and cached[0] == version:
            return cached[1]
        # Stored text was validated when stored; the flow check is left out so a later flow rename does
        # not hide the campaign from its reports.
        campaign = load_campaign_text(text, f"{name}.yaml")
        self._parsed[name] = (version, campaign)
        return campaign

    # ---- planning, claims, outcomes ----

    async def plan(self, name: str, now: datetime | None = None) -> PlanReport:
        campaign = await self.get(name)
        report = await self.db.run(self._plan, campaign, now or self.clock())
        log.info("campaign %s planned: %d new, %d expired, %d pending", name, report.created, report.expired,
                 report.pending)
        return report

    def _plan(self, session: Session, campaign: CampaignDef, now: datetime) -> PlanReport:
        report = plan_targets(session, campaign, now, self.hospital_zone)
        for listener in self.plan_listeners:
            listener(session, campaign, now)
        return report

    async def claim(self, name: str, worker: str, limit: int, now: datetime | None = None,
                    held: Counter | None = None) -> list[DialJob]:
        """Up to `limit` due targets that every compliance rule allows now, each locked to `worker`; `held`
        receives how many due targets a rule holds back for now, by reason."""
        version, text, enabled = await self._row(name)
        if not enabled:
            return []  # switched off by an admin: a run started before keeps its calls, dials nobody new
        campaign = self._parse(name, version, text)
        now = now or self.clock()
        for attempt in range(5):
            try:
                return await self.db.run(claim_jobs, campaign, worker, limit, now, self.claim_ttl,
                                         self.hospital_zone, held)
            except OperationalError as exc:
                # PostgreSQL may pick us as a deadlock victim against another worker; the claim is retried
                # whole (its transaction was rolled back).
                if "deadlock" not in str(exc).lower() or attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        return []

    async def finish(self, attempt_id: int, result: str, *, call_id: str | None = None,
                     answered_at: datetime | None = None, ended_at: datetime | None = None,
                     amd_status: str | None = None, amd_cause: str | None = None, keys: str = "",
                     outcome: str | None = None) -> Finished | None:
        campaigns = await self.definitions()
        facts = dict(call_id=call_id, answered_at=answered_at, ended_at=ended_at, amd_status=amd_status,
                     amd_cause=amd_cause, keys=keys, outcome=outcome)
        done = await self.db.run(self._finish, campaigns, attempt_id, result, facts)
        if done is not None:
            self.events.event(done.call_id, "campaign_attempt_ended", campaign=done.campaign,
                              target_id=done.target_id, attempt_id=done.attempt_id, result=done.result,
                              amd_status=done.amd_status, outcome=done.outcome)
        return done

    def _finish(self, session: Session, campaigns: dict[str, CampaignDef], attempt_id: int, result: str,
                facts: dict) -> Finished | None:
        now = self.clock()
        done = finish_attempt(session, campaigns, attempt_id, result, now, facts)
        if done is not None:
            for listener in self.attempt_listeners:
                listener(session, done, campaigns.get(done.campaign), now)
        return done

    # ---- reports ----

    async def report(self, name: str) -> dict:
        campaign = await self.get(name)
        counts = await self.db.run(_report_counts, name)
        return {"campaign": name, "title": campaign.title, "kind": campaign.kind, "mode": campaign.mode,
                **counts}

    async def audit_run(self, name: str, actor: AuditActor) -> None:
        """The audit row of a run started by hand, in its own transaction before the run dials anyone."""
        await self.db.run(_audit_run, name, actor)

    async def report_rows(self, name: str, actor: AuditActor) -> list[dict]:
        """One row per target (patient ids, outcomes): an export of patient data, audited with the read."""
        await self.get(name)
        return await self.db.run(_audited_report_rows, name, actor)


def _stored_definitions(session: Session) -> list[tuple[str, int, str, bool]]:
    return [tuple(row) for row in session.execute(select(
        Campaign.name, Campaign.version, Campaign.source_yaml, Campaign.enabled).order_by(Campaign.name))]


def _stored_definition(session: Session, name: str) -> tuple[int, str, bool] | None:
    row = session.execute(select(Campaign.version, Campaign.source_yaml, Campaign.enabled).where(
        Campaign.name == name)).first()
    return tuple(row) if row else None


def _report_counts(session: Session, name: str) -> dict:
    t, a = CampaignTarget, CampaignAttempt
    by_status = dict(session.execute(select(t.status, func.count()).where(t.campaign_name == name)
                                     .group_by(t.status)).all())
    attempts = dict(session.execute(select(a.result, func.count()).where(a.campaign_name == name)
                                    .group_by(a.result)).all())
    outcomes = dict(session.execute(select(a.outcome, func.count(func.distinct(a.target_id))).where(
        a.campaign_name == name, a.outcome.is_not(None)).group_by(a.outcome)).all())
    reached = session.scalar(select(func.count(func.distinct(a.target_id))).where(
        a.campaign_name == name, a.result == "person")) or 0
    return {
        "targets": sum(by_status.values()), "by_status": by_status, "reached": reached,
        "completed": by_status.get("completed", 0), "confirmed": outcomes.get("confirmed", 0),
        "cancelled": outcomes.get("cancelled", 0), "opted_out": by_status.get("opted_out", 0),
        "red_flags": sum(n for outcome, n in outcomes.items() if outcome.startswith("red_flag")),
        "messages_left": outcomes.get("message_left", 0),
        "attempts": sum(attempts.values()), "attempts_by_result": attempts, "outcomes": outcomes,
    }


def _audit_run(session: Session, name: str, actor: AuditActor) -> None:
    add_audit_event(session, "campaign_run", actor=actor, detail={"campaign": name})


def _audited_report_rows(session: Session, name: str, actor: AuditActor) -> list[dict]:
    rows = _report_rows(session, name)
    add_audit_event(session, "campaign_report_csv", actor=actor, detail={"campaign": name, "rows": len(rows)})
    return rows


def _report_rows(session: Session, name: str) -> list[dict]:
    rows = session.scalars(select(CampaignTarget).where(CampaignTarget.campaign_name == name)
                           .order_by(CampaignTarget.id))
    return [{"target_id": r.id, "patient_id": r.patient_id, "subject_kind": r.subject_kind,
             "subject_id": r.subject_id, "status": r.status, "attempts": r.attempts,
             "last_result": r.last_result or "", "last_attempt_at": _iso(r.last_attempt_at),
             "next_attempt_at": _iso(r.next_attempt_at), "outcome": (r.outcome or {}).get("outcome", ""),
             "completed_at": _iso(r.completed_at)} for r in rows]


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""

"""Claims: which worker dials which patient now. The lock is a row of dial_claims whose primary key is the
patient, so two workers (processes, hosts) or two campaigns can never dial one patient at once: the second
INSERT finds the row (ON CONFLICT DO NOTHING, rowcount 0) and skips that patient.

Inside the claim the target moves pending -> in_progress with a conditional UPDATE (status and attempts as
read), so a target finished and rescheduled between our read and our claim is not dialed twice either.
A claim whose worker crashed expires (`expires_at`); the next claim() closes its attempt as 'failed' and
puts the target back to pending.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db.models import CampaignAttempt, CampaignTarget, DialClaim, DoNotCall, Patient
from . import compliance
from .compliance import DialFacts, DncEntry
from .exceptions import AttemptNotFound
from .schema import CampaignDef

# Outcomes after which a target is done (the call achieved its purpose).
COMPLETING = ("completed", "confirmed", "cancelled", "survey_done", "survey_score")
RECENT = timedelta(days=8)
DECEASED = "deceased"  # enough history for the per-week cap in any time zone


@dataclass(frozen=True)
class DialJob:
    attempt_id: int
    target_id: int
    campaign: CampaignDef
    patient_id: int
    phone_e164: str
    language: str
    subject_kind: str
    subject_id: int
    worker: str


@dataclass(frozen=True)
class Finished:
    """What finish() wrote, for the call event."""
    campaign: str
    attempt_id: int
    target_id: int
    patient_id: int
    call_id: str | None
    result: str
    amd_status: str | None
    outcome: str | None
    target_status: str


def claim_jobs(session: Session, campaign: CampaignDef, worker: str, limit: int, now: datetime,
               ttl: timedelta, hospital_zone: str, held: Counter | None = None) -> list[DialJob]:
    """`held`, when given, counts the due targets a rule holds back for now, by reason (outside_window,
    retry_wait, cap_day, ...): a run that dials nobody can say why."""
    reclaim_expired(session, now)
    jobs: list[DialJob] = []
    after = (now - timedelta(days=36500), 0)
    page = max(limit * 4, 50)
    while len(jobs) < limit:
        candidates = _candidates(session, campaign.name, now, after, page)
        if not candidates:
            break
        after = (candidates[-1].next_attempt_at, candidates[-1].id)
        allowed = _screen(session, campaign, candidates, now, hospital_zone, held)
        # Claims in patient order: two PostgreSQL workers then lock rows in the same order (no deadlock).
        for target, language in sorted(allowed, key=lambda pair: pair[0].patient_id):
            job = _claim_one(session, campaign, target, language, worker, now, ttl)
            if job:
                jobs.append(job)
                if len(jobs) == limit:
                    break
    return jobs


def _candidates(session: Session, campaign: str, now: datetime, after: tuple[datetime, int],
                page: int) -> list[CampaignTarget]:
    """Due pending targets of patients nobody is dialing, oldest due first, one page after `after`."""
    t = CampaignTarget
    live = exists(select(DialClaim.patient_id).where(DialClaim.patient_id == t.patient_id))
    query = select(t).where(
        t.campaign_name == campaign, t.status == "pending", t.next_attempt_at <= now, ~live,
        or_(t.next_attempt_at > after[0], and_(t.next_attempt_at == after[0], t.id > after[1])),
    ).order_by(t.next_attempt_at, t.id).limit(page)
    return list(session.scalars(query))


def _screen(session: Session, campaign: CampaignDef, targets: list[CampaignTarget], now: datetime,
            hospital_zone: str, held: Counter | None = None) -> list[tuple[CampaignTarget, str]]:
    """The targets every compliance rule allows now, with the patient's language. Targets refused for
    good (do-not-call, attempts used up) are closed here; the others just wait."""
    patient_ids = {t.patient_id for t in targets}
    patients = {row.id: row for row in session.execute(
        select(Patient.id, Patient.time_zone, Patient.language, Patient.deceased)
        .where(Patient.id.in_(patient_ids)))}
    dnc = _dnc(session, patient_ids, {t.phone_e164 for t in targets})
    recent = _recent_attempts(session, patient_ids, now)
    allowed = []
    for target in targets:
        patient = patients.get(target.patient_id)
        facts = DialFacts(target.patient_id, target.phone_e164 or "", patient.time_zone if patient else None,
                          target.attempts, target.last_result, target.last_attempt_at,
                          tuple(recent[target.patient_id]))
        reason = (compliance.refusal(campaign, facts, dnc, now, hospital_zone) if target.phone_e164
                  else "no_phone")
        if patient is not None and patient.deceased:
            reason = DECEASED  # a death the hospital's feed reported: never dialed (issue 15)
        if reason is None:
            allowed.append((target, patient.language if patient else "en"))
        elif reason in compliance.FINAL or reason in ("no_phone", DECEASED):
            _close(session, target, reason, now)
        elif held is not None:
            held[reason] += 1
    return allowed


def _dnc(session: Session, patient_ids: set[int], phones: set[str | None]) -> list[DncEntry]:
    rows = session.execute(select(DoNotCall.e164, DoNotCall.patient_id, DoNotCall.campaign_kind).where(
        or_(DoNotCall.patient_id.in_(patient_ids), DoNotCall.e164.in_({p for p in phones if p}))))
    return [DncEntry(*row) for row in rows]


def _recent_attempts(session: Session, patient_ids: set[int], now: datetime) -> dict[int, list[datetime]]:
    recent: dict[int, list[datetime]] = defaultdict(list)
    rows = session.execute(select(CampaignAttempt.patient_id, CampaignAttempt.started_at).where(
        CampaignAttempt.patient_id.in_(patient_ids), CampaignAttempt.started_at >= now - RECENT))
    for patient_id, started_at in rows:
        recent[patient_id].append(started_at)
    return recent


def _close(session: Session, target: CampaignTarget, reason: str, now: datetime) -> None:
    status = "failed" if reason == compliance.MAX_ATTEMPTS else "excluded"
    session.execute(update(CampaignTarget).where(
        CampaignTarget.id == target.id, CampaignTarget.status == "pending").values(
        status=status, outcome={**(target.outcome or {}), "reason": reason}, completed_at=now))


def _insert_claim(session: Session):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(DialClaim).on_conflict_do_nothing(index_elements=["patient_id"])


def _claim_one(session: Session, campaign: CampaignDef, target: CampaignTarget, language: str, worker: str,
               now: datetime, ttl: timedelta) -> DialJob | None:
    # RETURNING, not rowcount: through the ORM session psycopg reports -1 for INSERT ... ON CONFLICT.
    claimed = session.execute(_insert_claim(session).values(
        patient_id=target.patient_id, campaign_name=campaign.name, target_id=target.id, worker=worker,
        claimed_at=now, expires_at=now + ttl).returning(DialClaim.patient_id)).first()
    if claimed is None:
        return None  # someone else is dialing this patient
    taken = session.execute(update(CampaignTarget).where(
        CampaignTarget.id == target.id, CampaignTarget.status == "pending",
        CampaignTarget.attempts == target.attempts,
    ).values(status="in_progress", attempts=target.attempts + 1, last_attempt_at=now)).rowcount
    if taken != 1:
        session.execute(delete(DialClaim).where(DialClaim.patient_id == target.patient_id))
        return None
    attempt = CampaignAttempt(target_id=target.id, campaign_name=campaign.name, patient_id=target.patient_id,
                              worker=worker, started_at=now, result="dialing")
    session.add(attempt)
    session.flush()
    return DialJob(attempt.id, target.id, campaign, target.patient_id, target.phone_e164, language,
                   target.subject_kind, target.subject_id, worker)


def reclaim_expired(session: Session, now: datetime) -> int:
    """Claims of crashed workers: their attempt failed, their target is pending again, the patient free."""
    expired = list(session.execute(select(DialClaim.patient_id, DialClaim.target_id).where(
        DialClaim.expires_at < now)))
    freed = 0
    for patient_id, target_id in expired:
        # Only the worker whose DELETE removed the row repairs the attempt: two reclaimers never both do.
        gone = session.execute(delete(DialClaim).where(
            DialClaim.patient_id == patient_id, DialClaim.expires_at < now)).rowcount
        if gone != 1:
            continue
        session.execute(update(CampaignAttempt).where(
            CampaignAttempt.target_id == target_id, CampaignAttempt.result == "dialing",
        ).values(result="failed", outcome="claim_expired", ended_at=now))
        session.execute(update(CampaignTarget).where(
            CampaignTarget.id == target_id, CampaignTarget.status == "in_progress",
        ).values(status="pending", next_attempt_at=now))  # last_result kept: the lost call's is unknown
        freed += 1
    return freed


def finish_attempt(session: Session, campaigns: dict[str, CampaignDef], attempt_id: int, result: str,
                   now: datetime, facts: dict) -> Finished | None:
    """Write how an attempt ended and move its target on; None if it was already finished (idempotent)."""
    attempt = session.get(CampaignAttempt, attempt_id, with_for_update=True)
    if attempt is None:
        raise AttemptNotFound(attempt_id)
    if attempt.result != "dialing":
        return None
    campaign = campaigns.get(attempt.campaign_name)
    _write_attempt(attempt, result, now, facts)
    target = session.get(CampaignTarget, attempt.target_id, with_for_update=True)
    _move_target(target, campaign, attempt, now)
    if attempt.outcome == "opted_out":
        _record_opt_out(session, attempt, campaign)
    session.execute(delete(DialClaim).where(DialClaim.patient_id == attempt.patient_id,
                                            DialClaim.target_id == attempt.target_id))
    return Finished(attempt.campaign_name, attempt.id, target.id, attempt.patient_id, attempt.call_id,
                    attempt.result, attempt.amd_status, attempt.outcome, target.status)


def _write_attempt(attempt: CampaignAttempt, result: str, now: datetime, facts: dict) -> None:
    attempt.result = result
    attempt.call_id = facts.get("call_id") or attempt.call_id
    attempt.answered_at = facts.get("answered_at")
    attempt.ended_at = facts.get("ended_at") or now
    attempt.amd_status = facts.get("amd_status")
    attempt.amd_cause = facts.get("amd_cause")
    attempt.keys = (facts.get("keys") or "")[:64]
    attempt.outcome = facts.get("outcome")
    # Connected time: from the answer to the end; 0 for a call nobody answered.
    attempt.duration_seconds = (
        max(0.0, (attempt.ended_at - attempt.answered_at).total_seconds()) if attempt.answered_at else 0.0)


def completes(outcome: str | None) -> bool:
    """An attempt outcome that completes its target (the follow-up reports find the completing call by it)."""
    return outcome in COMPLETING or (outcome or "").startswith("red_flag")


def _move_target(target: CampaignTarget, campaign: CampaignDef | None, attempt: CampaignAttempt,
                 now: datetime) -> None:
    target.last_result = attempt.result
    target.last_attempt_at = attempt.started_at
    outcome = attempt.outcome
    if outcome:
        target.outcome = {**(target.outcome or {}), "outcome": outcome}
    if completes(outcome):
        target.status, target.completed_at = "completed", now
    elif outcome == "opted_out":
        target.status, target.completed_at = "opted_out", now
    elif campaign is None or target.attempts >= campaign.compliance.max_attempts:
        target.status, target.completed_at = "failed", now
    else:
        target.status = "pending"
        target.next_attempt_at = compliance.retry_due(campaign.compliance, attempt.result, now)


def _record_opt_out(session: Session, attempt: CampaignAttempt, campaign: CampaignDef | None) -> None:
    """The opt-out key: no campaign of this kind calls the patient again (recorded once)."""
    kind = campaign.kind if campaign else None
    known = session.scalar(select(DoNotCall.id).where(
        DoNotCall.patient_id == attempt.patient_id,
        or_(DoNotCall.campaign_kind.is_(None), DoNotCall.campaign_kind == kind)).limit(1))
    if known is None:
        session.add(DoNotCall(patient_id=attempt.patient_id, campaign_kind=kind, source="ivr_key",
                              reason="opt-out key in a campaign call", call_id=attempt.call_id))

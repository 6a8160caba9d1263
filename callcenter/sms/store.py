"""The outbox in the database: texts queued in their cause's transaction, claimed by a worker, settled.
Plain functions over a Session, run through Database.run.

Claims work like the webhook deliveries' (webhooks/store.py): due rows taken with FOR UPDATE SKIP LOCKED
inside the UPDATE ... RETURNING that claims them, a lease (`claimed_until`) so a dead worker's texts go to
the next one, and only the holder may settle. Before a text is handed out it is screened in the same
transaction: an opt-out that came since it was queued suppresses it; outside its window it waits for the
window's next start (unclaimed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..campaigns import compliance
from ..campaigns.compliance import DncEntry
from ..campaigns.schema import Compliance, parse_clock
from ..db.models import DoNotCall, Patient, TextDeliveryReport, TextMessage

QUEUED, SENT, DELIVERED, FAILED = "queued", "sent", "delivered", "failed"
DEAD, SUPPRESSED = "dead", "suppressed"
# The answer to a patient's own text goes out whatever the window and even after STOP (the STOP's own
# confirmation is such an answer).
REPLY = "reply"
# Kannel's delivery report types -> what they make of the text (4 buffered, 8 taken by the SMSC: still sent).
REPORTS = {1: DELIVERED, 2: FAILED, 4: "buffered", 8: "accepted", 16: "rejected"}


@dataclass(frozen=True, slots=True)
class NewText:
    e164: str
    body: str
    purpose: str
    patient_id: int | None = None
    template: str | None = None
    template_version: str | None = None
    language: str = "en"
    subject_kind: str | None = None
    subject_id: int | None = None
    dedupe_key: str | None = None
    campaign_kind: str | None = None
    send_window: str | None = None   # "HH:MM-HH:MM"; None: any time
    reply_to_id: int | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    e164: str
    body: str
    attempts: int


def queue(session: Session, text: NewText, now: datetime) -> int | None:
    """Insert a queued text; None when its dedupe_key was queued before (the same cause, planned again)."""
    values = dict(direction="out", status=QUEUED, attempts=0, next_attempt_at=now, created_at=now,
                  **{f: getattr(text, f) for f in NewText.__slots__})
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(TextMessage).values(**values)
    if text.dedupe_key:
        statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    row = session.execute(statement.returning(TextMessage.id)).first()
    return row[0] if row else None


def claim(session: Session, worker: str, now: datetime, lease: timedelta, limit: int,
          hospital_zone: str) -> list[Claimed]:
    """Due texts nobody holds, screened (opt-outs, windows); the ones to send now claimed for `worker`."""
    t = TextMessage
    due = (select(t.id).where(t.status == QUEUED, t.next_attempt_at <= now,
                              or_(t.claimed_until.is_(None), t.claimed_until < now))
           .order_by(t.next_attempt_at, t.id).limit(limit).with_for_update(skip_locked=True))
    rows = list(session.scalars(select(t).where(t.id.in_(due))))
    ready = [row for row in rows if _screen(session, row, now, hospital_zone)]
    if not ready:
        return []
    session.execute(update(t).where(t.id.in_([r.id for r in ready]))
                    .values(claimed_by=worker, claimed_until=now + lease))
    return [Claimed(r.id, r.e164, r.body, r.attempts) for r in ready]


def _screen(session: Session, row: TextMessage, now: datetime, hospital_zone: str) -> bool:
    if row.purpose != REPLY and opted_out(session, row.patient_id, row.e164, row.campaign_kind):
        row.status, row.last_error, row.next_attempt_at = SUPPRESSED, "do_not_call", None
        return False
    if row.send_window and row.purpose != REPLY:
        opens = window_opens(row.send_window, now, _zone(session, row.patient_id, hospital_zone))
        if opens is not None:
            row.next_attempt_at = opens
            return False
    return True


def opted_out(session: Session, patient_id: int | None, e164: str, kind: str | None) -> bool:
    """The do-not-call list (campaigns/dnc.py, the same entries the dialer reads) refuses this text."""
    who = [DoNotCall.e164 == e164] + ([DoNotCall.patient_id == patient_id] if patient_id else [])
    entries = [DncEntry(*row) for row in session.execute(
        select(DoNotCall.e164, DoNotCall.patient_id, DoNotCall.campaign_kind).where(or_(*who)))]
    return compliance.do_not_call(entries, patient_id or 0, e164, kind or "") is not None


def _zone(session: Session, patient_id: int | None, hospital_zone: str):
    own = session.scalar(select(Patient.time_zone).where(Patient.id == patient_id)) if patient_id else None
    return compliance.zone(own, hospital_zone)


def window_opens(window: str, now: datetime, tz) -> datetime | None:
    """None when `now` is inside the window (the campaigns' rule: start included, end excluded), else when
    it opens next, in UTC."""
    start, end = parse_window(window)
    if compliance.outside_window(Compliance(window_start=start, window_end=end), now, tz) is None:
        return None
    local = now.astimezone(tz)
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=tz).astimezone(now.tzinfo)


def parse_window(window: str) -> tuple[time, time]:
    """"08:00-21:00" -> (08:00, 21:00); ValueError when it is not that."""
    first, sep, last = window.partition("-")
    try:
        start, end = parse_clock(first.strip()), parse_clock(last.strip())
    except Exception:
        raise ValueError(f"expected HH:MM-HH:MM, got {window!r}") from None
    if not sep or start >= end:
        raise ValueError(f"expected HH:MM-HH:MM with the start before the end, got {window!r}")
    return start, end


def sent(session: Session, worker: str, text_id: int, now: datetime) -> bool:
    t = TextMessage
    done = session.execute(update(t).where(t.id == text_id, t.claimed_by == worker).values(
        # A delivery report may have come before this commit (Kannel is quick): it is kept.
        status=case((t.status == QUEUED, SENT), else_=t.status), sent_at=now, attempts=t.attempts + 1,
        last_error=None, claimed_by=None, claimed_until=None))
    return done.rowcount == 1


def failed(session: Session, worker: str, text_id: int, error: str, retry_at: datetime | None) -> bool:
    """A send that did not go: again at `retry_at`, or dead (None)."""
    t = TextMessage
    values = dict(attempts=t.attempts + 1, last_error=error[:200], claimed_by=None, claimed_until=None)
    values.update(next_attempt_at=retry_at) if retry_at else values.update(status=DEAD, next_attempt_at=None)
    done = session.execute(update(t).where(t.id == text_id, t.claimed_by == worker).values(**values))
    return done.rowcount == 1


def release(session: Session, worker: str) -> int:
    """A worker stopping hands back what it claimed and did not send."""
    t = TextMessage
    return session.execute(update(t).where(t.claimed_by == worker, t.status == QUEUED)
                           .values(claimed_by=None, claimed_until=None)).rowcount


@dataclass(frozen=True, slots=True)
class Reported:
    known: bool  # the report is of one of our texts (kept)
    failed_now: bool = False  # this report made the text failed: its consequences are owed once


def report(session: Session, text_id: int, code: int, detail: str | None, now: datetime) -> Reported:
    """Keep a delivery report and move the text on (delivered or failed; the others only kept). Each move
    is one conditional UPDATE: two reports of one text arrive together (Kannel sends 8 and 1 at once), and
    the later "taken by the SMSC" must not undo the earlier "delivered"; a second failure report of a text
    that failed already changes nothing (`failed_now` is true once)."""
    t = TextMessage
    known = session.scalar(select(t.id).where(t.id == text_id, t.direction == "out"))
    if known is None:
        return Reported(False)
    status = REPORTS.get(code, "unknown")
    session.add(TextDeliveryReport(message_id=text_id, code=code, status=status,
                                   detail=(detail or None) and detail[:200], received_at=now))
    if status == DELIVERED:
        session.execute(update(t).where(t.id == text_id).values(status=DELIVERED, delivered_at=now))
    elif status in (FAILED, "rejected"):
        moved = session.execute(update(t).where(t.id == text_id, t.status.notin_((DELIVERED, FAILED)))
                                .values(status=FAILED))
        return Reported(True, moved.rowcount == 1)
    else:  # a report that overtook our own commit of the send: it was sent
        session.execute(update(t).where(t.id == text_id, t.status == QUEUED).values(status=SENT, sent_at=now))
    return Reported(True)

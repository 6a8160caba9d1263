"""Follow-up performance and its reports (issue 16, items 5 and 6; definitions in docs/reports.md).

Every discharge-based report starts from the same rows as the KPI dashboard's follow-up rate: the admissions
discharged in the period and whether a follow-up of theirs completed (`kpi.compute.discharged_between` and
`followup_completions`, shared, so the totals here and the dashboard's are the same numbers). Each discharge
is folded once into a `FollowUpCase` (its department, ward, attending, the staff member who worked it, when
it completed, the call that completed it and how much of that call was recorded); the reports are sums of
those cases by a cut. Questionnaire reports (satisfaction, answers by question code, red flags) read the
follow-up answers (`followup_answers`).

Days are the hospital's ([site] time_zone): a report's period runs from local midnight of its first day to
local midnight after its last, and timeliness counts local calendar days from the discharge.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from ..campaigns.claims import completes
from ..db.models import (
    Agent,
    Call,
    CallEvent,
    CampaignAttempt,
    CampaignTarget,
    CarePlan,
    CarePlanFollowUp,
    Encounter,
    FollowUpAnswer,
    FollowUpQuestion,
    FollowUpQuestionnaire,
    FollowUpQuestionnaireVersion,
    FollowUpResponse,
    Patient,
    Recording,
)
from ..db.queries import AuditActor, add_audit_event
from ..errors import ServiceError
from ..kpi.compute import discharged_between, followup_completions

if TYPE_CHECKING:
    from ..config import Config
    from ..db.database import Database

CUTS = ("department", "ward", "attending", "staff")
CARE_CUTS = ("department", "kind", "channel")
# A care-plan follow-up by its status (callcenter/careplans/): the report's columns.
CARE_STATES = (("completed", "Completed", ("completed",)),
               ("missed", "Missed", ("unreachable", "refused", "wrong_number")),
               ("open", "Open", ("pending", "calling", "escalated")),
               ("withdrawn", "Withdrawn", ("withdrawn",)))
# A discharge's follow-up, as its campaign targets say; the first that applies of several targets wins.
STATUS_ORDER = ("completed", "in_progress", "pending", "failed", "opted_out", "expired", "excluded")
OUTCOMES = (("completed", "Completed"), ("red_flag", "Completed, red flag"), ("in_progress", "In progress"),
            ("unreachable", "Unreachable"), ("refused", "Refused"), ("withdrawn", "Withdrawn"),
            ("excluded", "Excluded (deceased)"), ("not_planned", "Not planned"))
_OUTCOME_OF_STATUS = {"in_progress": "in_progress", "pending": "in_progress", "failed": "unreachable",
                      "opted_out": "refused", "expired": "withdrawn", "excluded": "excluded"}
TIMELINESS = (("on_time", "On time"), ("late", "Late"), ("overdue", "Overdue"), ("not_due", "Not yet due"))
# How a completed follow-up proves itself (docs/reports.md): a staff one by its call's recordings, an
# automated one by its call's answered talk time and the answers stored under its id. Flagged: the others.
PROOFS = (("verified", "Recorded call"), ("automated", "Automated call, answered"),
          ("short", "Recording too short"), ("unrecorded", "Call not recorded"),
          ("automated_short", "Automated call too short"), ("unanswered", "Automated call not answered"),
          ("no_answers", "No answers on the call"), ("no_call", "No call linked"))
PROVEN = frozenset({"verified", "automated"})
FLAGGED = frozenset(name for name, _ in PROOFS) - PROVEN
NONE_LABEL = "(none)"
# Top box: the two best points of a 1-5 scale, as the KPI dashboard's CSAT counts a 4 or 5 of 5.
TOP_BOX = 2


class ReportError(ServiceError):
    status = 400


class UnknownReport(ServiceError):
    status = 404


# -- settings ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSettings:
    tz: ZoneInfo
    followup_days: int
    days_by_department: dict[str, int]
    min_talk_seconds: float

    @classmethod
    def from_config(cls, cfg: Config) -> ReportSettings:
        r = cfg.reports
        return cls(ZoneInfo(cfg.site.time_zone), r.followup_days, parse_days(r.followup_days_by_department),
                   r.min_talk_seconds)

    def deadline_days(self, department: str | None) -> int:
        return self.days_by_department.get((department or "").casefold(), self.followup_days)

    def local_day(self, ts: datetime) -> date:
        return _aware(ts).astimezone(self.tz).date()


def parse_days(text: str) -> dict[str, int]:
    """ "Cardiology:2, Surgery:3" -> {"cardiology": 2, "surgery": 3} (departments compared without case)."""
    days = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.rpartition(":")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise ReportError(f"reports.followup_days_by_department: {item!r} is not 'department:days'")
        days[name.strip().casefold()] = int(value)
    return days


# -- one discharge's follow-up -------------------------------------------------------------------------------


@dataclass
class FollowUpCase:
    encounter_id: int
    patient_id: int
    discharged_at: datetime
    department: str | None
    ward: str | None
    attending: str | None
    done: bool
    completed_at: datetime | None = None
    status: str | None = None           # the best of its targets' statuses; None: no target (not planned)
    outcome: str | None = None          # the completing (or else the last) attempt's outcome
    agent_id: int | None = None         # who worked it: the completing call's agent, else the last agent's
    attempted: bool = False
    call_id: str | None = None          # the completing call
    call_found: bool = False            # its row is on record
    call_agent: int | None = None       # that call's agent (None: an automated call)
    recordings: int = 0
    recorded_seconds: float = 0.0
    talk_seconds: float | None = None   # answered to ended (None: never answered)
    answers: int = 0                    # an automated call's answers stored under its id

    def staff_key(self) -> str:
        if self.agent_id is not None:
            return str(self.agent_id)
        return "automated" if self.attempted else "none"

    def proof(self, min_talk_seconds: float) -> str | None:
        """How a completed follow-up proves it happened; None while it is not completed."""
        return call_proof(self, min_talk_seconds) if self.done else None

    def timeliness(self, settings: ReportSettings, today: date) -> str:
        due = settings.local_day(self.discharged_at) + timedelta(days=settings.deadline_days(self.department))
        if self.done:
            on_time = self.completed_at is not None and settings.local_day(self.completed_at) <= due
            return "on_time" if on_time else "late"
        return "overdue" if today > due else "not_due"

    def outcome_key(self) -> str:
        if self.done:
            return "red_flag" if (self.outcome or "").startswith("red_flag") else "completed"
        return _OUTCOME_OF_STATUS.get(self.status or "", "not_planned")


def call_proof(evidence, min_talk_seconds: float) -> str:
    """The proof a completed follow-up (a discharge's `FollowUpCase`, a care plan's `CarePlanCompletion`) has
    in its completing call: a staff call by its recordings, an automated one by what the product's own rows
    show, since no staff member vouches for it (a patient on the line for the minimum talk time who gave
    answers: DTMF answers, a spoken answer's recording, each stored with the call's id)."""
    if evidence.call_id is None or not evidence.call_found:
        return "no_call"
    if evidence.call_agent is not None:
        if not evidence.recordings:
            return "unrecorded"
        return "verified" if evidence.recorded_seconds >= min_talk_seconds else "short"
    if evidence.talk_seconds is None:
        return "unanswered"
    if evidence.talk_seconds < min_talk_seconds:
        return "automated_short"
    return "automated" if evidence.answers else "no_answers"


def load_cases(session: Session, start: datetime, end: datetime, *, targets: bool = True,
               attempts: bool = True) -> list[FollowUpCase]:
    """Every admission discharged in [start, end) with its follow-up: up to three queries, folded here. A
    report leaves out what it does not show: the targets' statuses (outcomes) and the attempts (who worked
    it, the completing call)."""
    done = followup_completions()
    e = Encounter
    # The instants are read raw and decoded here: the ORM's per-row type processing cost more than the query
    # (as the KPI computation found for the event log).
    stmt = (select(e.id, e.patient_id, type_coerce(e.discharged_at, String), e.department, e.ward,
                   e.attending, done.c.encounter_id, type_coerce(done.c.completed_at, String))
            .outerjoin(done, done.c.encounter_id == e.id).where(*discharged_between(start, end)))
    cases = {eid: FollowUpCase(eid, patient_id, _utc(discharged), department, ward, attending,
                               followed is not None, _utc(completed))
             for eid, patient_id, discharged, department, ward, attending, followed, completed
             in session.connection().execute(stmt)}
    if targets:
        _fold_targets(session, cases, start, end)
    if attempts:
        _fold_attempts(session, cases, start, end)
        _fold_answers(session, cases.values())
    return list(cases.values())


def _fold_targets(session: Session, cases: dict[int, FollowUpCase], start: datetime, end: datetime) -> None:
    t = CampaignTarget
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    for encounter_id, status in session.connection().execute(
            select(t.subject_id, t.status).join(Encounter, Encounter.id == t.subject_id)
            .where(t.subject_kind == "encounter", *discharged_between(start, end))):
        case = cases[encounter_id]
        if case.status is None or rank.get(status, 99) < rank.get(case.status, 99):
            case.status = status


def _fold_attempts(session: Session, cases: dict[int, FollowUpCase], start: datetime, end: datetime) -> None:
    """Attempts in order: the last with an agent names who worked the follow-up; the last completing one is
    the call that completed it (its agent and recordings are the authenticity check)."""
    t, a = CampaignTarget, CampaignAttempt
    stmt = (select(t.subject_id, a.outcome, a.call_id, Call.agent_id, func.count(Recording.id),
                   func.coalesce(func.sum(Recording.duration_seconds), 0.0), Call.id, Call.answered_at,
                   Call.ended_at)
            .join(t, t.id == a.target_id).join(Encounter, Encounter.id == t.subject_id)
            .outerjoin(Call, Call.id == a.call_id).outerjoin(Recording, Recording.call_id == a.call_id)
            .where(t.subject_kind == "encounter", *discharged_between(start, end))
            .group_by(t.subject_id, a.id, a.started_at, a.outcome, a.call_id, Call.id, Call.agent_id,
                      Call.answered_at, Call.ended_at)
            .order_by(a.started_at, a.id))
    for (encounter_id, outcome, call_id, agent_id, recordings, seconds, found, answered,
         ended) in session.connection().execute(stmt):
        case = cases[encounter_id]
        if case.done and case.call_id is not None:
            continue  # what follows the completing call (nothing, normally) changes nothing
        case.attempted = True
        case.outcome = outcome
        if case.done and completes(outcome):
            case.call_id, case.call_agent, case.agent_id = call_id, agent_id, agent_id
            case.recordings, case.recorded_seconds = recordings, float(seconds or 0.0)
            case.call_found, case.talk_seconds = found is not None, _talk_seconds(answered, ended)
        elif agent_id is not None:
            case.agent_id = agent_id


def _talk_seconds(answered, ended) -> float | None:
    """Answered to ended; a call still on record without its end counts no talk time."""
    if answered is None:
        return None
    return max((_utc(ended) - _utc(answered)).total_seconds(), 0.0) if ended is not None else 0.0


def _fold_answers(session: Session, cases: Iterable[FollowUpCase | CarePlanCompletion]) -> None:
    """How many answers each automated completing call holds: the questionnaire answers stored with its id,
    and a triage protocol's answers in its event log (the discharge flow asks yes/no red flags)."""
    by_call: dict[str, list] = defaultdict(list)
    for case in cases:
        if case.done and case.call_found and case.call_agent is None:
            by_call[case.call_id].append(case)
    ids = sorted(by_call)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for call_id, count in [*session.execute(
                select(FollowUpAnswer.call_id, func.count()).where(FollowUpAnswer.call_id.in_(chunk))
                .group_by(FollowUpAnswer.call_id)), *session.execute(
                select(CallEvent.call_id, func.count()).where(CallEvent.call_id.in_(chunk),
                                                             CallEvent.type == "triage_answered")
                .group_by(CallEvent.call_id))]:
            for case in by_call[call_id]:
                case.answers += count


# -- the generic report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str = "count"  # text, count, rate, number, days, datetime


@dataclass
class Report:
    name: str
    title: str
    start: datetime
    end: datetime
    time_zone: str
    params: dict[str, str]
    columns: list[Column]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None
    # How the page draws it (kpi_charts.js): kind "bars" (grouped) or "stacked", the columns drawn.
    chart: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # A second table under the first (the authenticity report's flagged follow-ups): title, columns, rows.
    detail: dict[str, Any] | None = None

    def to_json(self) -> dict:
        return {"report": self.name, "title": self.title, "from": self.start.isoformat(),
                "to": self.end.isoformat(), "time_zone": self.time_zone, "params": self.params,
                "columns": [{"name": c.name, "label": c.label, "kind": c.kind} for c in self.columns],
                "rows": [_json_row(r) for r in self.rows],
                "total": _json_row(self.total) if self.total is not None else None,
                "chart": self.chart, "notes": self.notes,
                "detail": None if self.detail is None else {
                    "title": self.detail["title"], "rows": [_json_row(r) for r in self.detail["rows"]],
                    "columns": [{"name": c.name, "label": c.label, "kind": c.kind}
                                for c in self.detail["columns"]]}}

    def detail_table(self) -> list[list[Any]]:
        if self.detail is None:
            return []
        return [[_json_value(r.get(c.name)) for c in self.detail["columns"]] for r in self.detail["rows"]]

    def table(self) -> list[list[Any]]:
        """The rows then the total, cells in column order (CSV, PDF)."""
        rows = self.rows + ([self.total] if self.total is not None else [])
        return [[_json_value(r.get(c.name)) for c in self.columns] for r in rows]


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in row.items()}


def _json_value(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _utc(value: str | datetime | None) -> datetime | None:
    """A raw instant: SQLite gives its stored text, PostgreSQL's driver a datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _aware(value)


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# -- the reports over discharges --------------------------------------------------------------------------


def cut_key(case: FollowUpCase, by: str) -> str:
    if by == "staff":
        return case.staff_key()
    value = {"department": case.department, "ward": case.ward, "attending": case.attending}[by]
    return value or NONE_LABEL


def _grouped(cases: Iterable[FollowUpCase], by: str) -> dict[str, list[FollowUpCase]]:
    groups: dict[str, list[FollowUpCase]] = defaultdict(list)
    for case in cases:
        groups[cut_key(case, by)].append(case)
    return dict(sorted(groups.items()))


def _label(key: str, by: str, agents: dict[int, tuple[str, str]]) -> str:
    if by != "staff":
        return key
    if key in ("automated", "none"):
        return {"automated": "Automated calls", "none": "No call on record"}[key]
    number, name = agents.get(int(key), (key, ""))
    return f"{number} · {name}" if name else number


def _cut_column(by: str) -> Column:
    return Column("label", {"department": "Department", "ward": "Ward", "attending": "Attending doctor",
                            "staff": "Staff member"}[by], "text")


def followup_rate(cases: list[FollowUpCase], by: str, agents) -> tuple[list[Column], list[dict], dict, dict]:
    def row(key: str, label: str, group: list[FollowUpCase]) -> dict:
        done = sum(c.done for c in group)
        return {"key": key, "label": label, "discharged": len(group), "followed_up": done,
                "not_followed_up": len(group) - done, "followup_rate": _ratio(done, len(group))}
    rows = [row(k, _label(k, by, agents), g) for k, g in _grouped(cases, by).items()]
    columns = [_cut_column(by), Column("discharged", "Discharged"), Column("followed_up", "Followed up"),
               Column("not_followed_up", "Not followed up"),
               Column("followup_rate", "Follow-up rate", "rate")]
    chart = {"kind": "bars", "series": ["discharged", "followed_up"]}
    return columns, rows, row("total", "Total", cases), chart


def timeliness(cases: list[FollowUpCase], by: str, agents, settings: ReportSettings, today: date):
    def row(key: str, label: str, group: list[FollowUpCase]) -> dict:
        kinds = Counter(c.timeliness(settings, today) for c in group)
        out = {"key": key, "label": label, "discharged": len(group),
               **{name: kinds.get(name, 0) for name, _ in TIMELINESS},
               "timely_rate": _ratio(kinds.get("on_time", 0), len(group))}
        if by == "department" and key != "total":
            out["deadline_days"] = settings.deadline_days(None if key == NONE_LABEL else key)
        return out
    rows = [row(k, _label(k, by, agents), g) for k, g in _grouped(cases, by).items()]
    columns = [_cut_column(by)] + ([Column("deadline_days", "Within (days)", "number")]
                                   if by == "department" else [])
    columns += [Column("discharged", "Discharged"), *(Column(n, label) for n, label in TIMELINESS),
                Column("timely_rate", "Timely rate", "rate")]
    chart = {"kind": "stacked", "series": [n for n, _ in TIMELINESS]}
    return columns, rows, row("total", "Total", cases), chart


def outcomes(cases: list[FollowUpCase], by: str, agents):
    def row(key: str, label: str, group: list[FollowUpCase]) -> dict:
        kinds = Counter(c.outcome_key() for c in group)
        return {"key": key, "label": label, "discharged": len(group),
                **{name: kinds.get(name, 0) for name, _ in OUTCOMES}}
    rows = [row(k, _label(k, by, agents), g) for k, g in _grouped(cases, by).items()]
    columns = [_cut_column(by), Column("discharged", "Discharged"),
               *(Column(n, label) for n, label in OUTCOMES)]
    chart = {"kind": "stacked", "series": [n for n, _ in OUTCOMES]}
    return columns, rows, row("total", "Total", cases), chart


def authenticity(cases: list[FollowUpCase], by: str, agents, settings: ReportSettings):
    """Per cut, completed follow-ups by proof; then each flagged one (ids only: no patient data)."""
    completed = [c for c in cases if c.done]

    def row(key: str, label: str, group: list[FollowUpCase]) -> dict:
        kinds = Counter(c.proof(settings.min_talk_seconds) for c in group)
        flagged = sum(kinds.get(k, 0) for k in FLAGGED)
        return {"key": key, "label": label, "completed": len(group),
                **{name: kinds.get(name, 0) for name, _ in PROOFS}, "flagged": flagged,
                "authentic_rate": _ratio(len(group) - flagged, len(group))}
    rows = [row(k, _label(k, by, agents), g) for k, g in _grouped(completed, by).items()]
    columns = [_cut_column(by), Column("completed", "Completed"), *(Column(n, label) for n, label in PROOFS),
               Column("flagged", "Flagged"), Column("authentic_rate", "Authentic", "rate")]
    chart = {"kind": "stacked", "series": [n for n, _ in PROOFS]}
    return columns, rows, row("total", "Total", completed), chart


FLAGGED_COLUMNS = [Column("encounter_id", "Encounter", "text"),
                   Column("discharged_at", "Discharged", "datetime"),
                   Column("completed_at", "Completed", "datetime"), Column("staff", "Staff member", "text"),
                   Column("call_id", "Call", "text"), Column("recorded_seconds", "Recorded (s)", "number"),
                   Column("talk_seconds", "Talk (s)", "number"), Column("flag", "Flag", "text")]


def flagged_followups(cases: list[FollowUpCase], agents, settings: ReportSettings) -> list[dict]:
    out = []
    for c in sorted(cases, key=lambda c: (c.discharged_at, c.encounter_id)):
        proof = c.proof(settings.min_talk_seconds)
        if proof in FLAGGED:
            out.append({"encounter_id": c.encounter_id, "discharged_at": c.discharged_at,
                        "completed_at": c.completed_at, "staff": _label(c.staff_key(), "staff", agents),
                        "call_id": c.call_id, "recorded_seconds": c.recorded_seconds,
                        "talk_seconds": c.talk_seconds, "flag": dict(PROOFS)[proof]})
    return out


# -- the service ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportInfo:
    name: str
    title: str
    description: str
    cuts: tuple[str, ...] = ()
    patient_data: bool = False  # names patients: a read of their records, audited
    needs_code: bool = False


CATALOGUE: tuple[ReportInfo, ...] = (
    ReportInfo("followup-rate", "Follow-up rate",
               "Discharged patients followed up, by department, ward, attending doctor or staff member.",
               CUTS),
    ReportInfo("timeliness", "Timeliness",
               "Follow-ups completed within the department's number of days after discharge.", CUTS),
    ReportInfo("authenticity", "Authenticity",
               "Completed follow-ups proved by their call (staff: recorded for the minimum talk time; "
               "automated: answered for it, with the patient's answers); the others flagged.", CUTS),
    ReportInfo("overdue", "Overdue follow-ups",
               "Discharged patients whose follow-up is past its deadline and not done (names patients).",
               patient_data=True),
    ReportInfo("outcomes", "Outcomes", "How each discharge's follow-up ended.", CUTS),
    ReportInfo("red-flags", "Red flags in follow-ups",
               "Red flags raised by follow-up answers, by department, question and disposition."),
    ReportInfo("satisfaction", "Satisfaction by department",
               "Satisfaction questionnaire answers by department and question."),
    ReportInfo("answers", "Answers by question code",
               "Every answer to one question of the bank, across questionnaires.", needs_code=True),
    ReportInfo("care-plan-adherence", "Care-plan adherence",
               "Care-plan follow-ups due in the period: done, missed, still open, by department, kind or "
               "channel.", CARE_CUTS),
)
REPORTS = {info.name: info for info in CATALOGUE}


@dataclass(frozen=True)
class ReportQuery:
    name: str
    start: datetime
    end: datetime
    by: str = "department"
    code: str | None = None


class ReportService:
    def __init__(self, db: Database, cfg: Config, *, clock: Callable[[], datetime] | None = None):
        self._db = db
        self.settings = ReportSettings.from_config(cfg)
        self._clock = clock or (lambda: datetime.now(UTC))

    def info(self, name: str) -> ReportInfo:
        info = REPORTS.get(name)
        if info is None:
            raise UnknownReport(f"no report named {name[:40]!r}")
        return info

    def now(self) -> datetime:
        return self._clock().astimezone(self.settings.tz)

    def today(self) -> date:
        return self.now().date()

    async def report(self, q: ReportQuery, actor: AuditActor | None = None) -> Report:
        info = self.info(q.name)
        if info.patient_data and actor is None:
            raise ReportError("a report that names patients needs the reader, for the audit")
        return await self._db.run(self.compute, q, actor)

    def compute(self, session: Session, q: ReportQuery, actor: AuditActor | None = None) -> Report:
        """The report in the caller's session (the web runs it in the pool; benchmark and tests directly)."""
        info = self.info(q.name)
        if q.start.tzinfo is None or q.end.tzinfo is None or q.end <= q.start:
            raise ReportError("a report needs an aware start before its end")
        if info.cuts and q.by not in info.cuts:
            raise ReportError(f"'by' must be one of {', '.join(info.cuts)}")
        columns, rows, total, chart, notes, *detail = BUILDERS[q.name](self, session, q, actor)
        params = {"by": q.by} if info.cuts else ({"code": q.code or ""} if info.needs_code else {})
        return Report(q.name, info.title, q.start, q.end, self.settings.tz.key, params, columns, rows, total,
                      chart, notes, detail[0] if detail else None)

    # -- builders: (service, session, query, actor) -> columns, rows, total, chart, notes

    def _cases(self, session: Session, q: ReportQuery, *, targets: bool = True,
               attempts: bool = True) -> list[FollowUpCase]:
        return load_cases(session, q.start.astimezone(UTC), q.end.astimezone(UTC), targets=targets,
                          attempts=attempts or q.by == "staff")

    def _rate(self, session: Session, q: ReportQuery, actor) -> tuple:
        cases = self._cases(session, q, targets=False, attempts=False)
        return (*followup_rate(cases, q.by, _agents(session)), [])

    def _timeliness(self, session: Session, q: ReportQuery, actor) -> tuple:
        notes = [f"Timely: completed within {self.settings.followup_days} days of discharge (hospital days), "
                 "or the department's own number of days."]
        cases = self._cases(session, q, targets=False, attempts=False)
        return (*timeliness(cases, q.by, _agents(session), self.settings, self.today()), notes)

    def _authenticity(self, session: Session, q: ReportQuery, actor) -> tuple:
        cases, agents = self._cases(session, q, targets=False), _agents(session)
        minimum = f"{self.settings.min_talk_seconds:g} s"
        notes = [f"A follow-up completed by staff must link to a recorded call of at least {minimum}; one "
                 f"completed by an automated call, to an answered call of at least {minimum} of talk time "
                 "holding the patient's answers."]
        flagged = {"title": "Flagged follow-ups", "columns": FLAGGED_COLUMNS,
                   "rows": flagged_followups(cases, agents, self.settings)}
        return (*authenticity(cases, q.by, agents, self.settings), notes, flagged)

    def _outcomes(self, session: Session, q: ReportQuery, actor) -> tuple:
        return (*outcomes(self._cases(session, q), q.by, _agents(session)), [])

    def _overdue(self, session: Session, q: ReportQuery, actor: AuditActor) -> tuple:
        today = self.today()
        cases = self._cases(session, q, attempts=False)
        late = [c for c in cases if c.timeliness(self.settings, today) == "overdue"]
        return (*overdue_list(session, late, self.settings, today, actor),
                [f"{len(late)} follow-ups overdue on {today.isoformat()}."])

    def _red_flags(self, session: Session, q: ReportQuery, actor) -> tuple:
        return (*red_flags(session, q.start, q.end), [])

    def _satisfaction(self, session: Session, q: ReportQuery, actor) -> tuple:
        return (*satisfaction(session, q.start, q.end), [])

    def _care_plans(self, session: Session, q: ReportQuery, actor) -> tuple:
        first = q.start.astimezone(self.settings.tz).date()
        last = (q.end - timedelta(microseconds=1)).astimezone(self.settings.tz).date()
        minimum = f"{self.settings.min_talk_seconds:g} s"
        notes = ["Adherence: completed / follow-ups due in the period, withdrawn ones (a death, a plan "
                 "ended) left out. Open: not done yet, escalated to the plan's nurse included.",
                 "Completed, unproven: as in the authenticity report, a follow-up completed on the desk "
                 f"must link to a recorded call of at least {minimum}; an automated one, to an answered call "
                 f"of at least {minimum} holding the patient's answers."]
        done = care_plan_completions(session, first, last)
        flagged = {"title": "Completed care-plan follow-ups without proof", "columns": CARE_FLAGGED_COLUMNS,
                   "rows": flagged_care_followups(done, self.settings.min_talk_seconds)}
        return (*care_plan_adherence(session, first, last, q.by, self.today(), done,
                                     self.settings.min_talk_seconds), notes, flagged)

    def _answers(self, session: Session, q: ReportQuery, actor) -> tuple:
        if not q.code:
            raise ReportError("'code' names the question (a code of the question bank)")
        return (*answers_by_code(session, q.code, q.start, q.end), [])


BUILDERS: dict[str, Callable] = {
    "followup-rate": ReportService._rate, "timeliness": ReportService._timeliness,
    "authenticity": ReportService._authenticity, "overdue": ReportService._overdue,
    "outcomes": ReportService._outcomes, "red-flags": ReportService._red_flags,
    "satisfaction": ReportService._satisfaction, "answers": ReportService._answers,
    "care-plan-adherence": ReportService._care_plans,
}


def _agents(session: Session) -> dict[int, tuple[str, str]]:
    rows = session.execute(select(Agent.id, Agent.number, Agent.name))
    return {row.id: (row.number, row.name) for row in rows}


# -- overdue list: names patients ----------------------------------------------------------------------------


def overdue_list(session: Session, late: list[FollowUpCase], settings: ReportSettings, today: date,
                 actor: AuditActor):
    """Who is overdue, with names: each listed patient's read is audited in this transaction."""
    names = {}
    ids = sorted({c.patient_id for c in late})
    for chunk in range(0, len(ids), 500):
        for row in session.execute(select(Patient.id, Patient.mrn, Patient.given_name, Patient.family_name)
                                   .where(Patient.id.in_(ids[chunk:chunk + 500]))):
            names[row.id] = (row.mrn, f"{row.given_name} {row.family_name}")
    rows = []
    for c in sorted(late, key=lambda c: (c.discharged_at, c.encounter_id)):
        due = settings.local_day(c.discharged_at) + timedelta(days=settings.deadline_days(c.department))
        mrn, name = names.get(c.patient_id, ("", ""))
        rows.append({"key": str(c.encounter_id), "label": name, "mrn": mrn, "patient_id": c.patient_id,
                     "encounter_id": c.encounter_id, "department": c.department or NONE_LABEL,
                     "ward": c.ward or NONE_LABEL, "discharged": settings.local_day(c.discharged_at),
                     "due": due, "days_overdue": (today - due).days,
                     "status": dict(OUTCOMES)[c.outcome_key()]})
    for patient_id in ids:
        add_audit_event(session, "report_overdue_list", actor=actor, patient_id=patient_id,
                        detail={"report": "overdue"})
    columns = [Column("label", "Patient", "text"), Column("mrn", "MRN", "text"),
               Column("department", "Department", "text"), Column("ward", "Ward", "text"),
               Column("discharged", "Discharged", "date"), Column("due", "Due by", "date"),
               Column("days_overdue", "Days overdue", "number"), Column("status", "Follow-up", "text")]
    by_department = Counter(r["department"] for r in rows)
    chart = {"kind": "bars", "series": ["overdue"], "rows": [
        {"label": d, "overdue": n} for d, n in sorted(by_department.items())]}
    return columns, rows, None, chart


# -- questionnaire answers -----------------------------------------------------------------------------------


def _answer_rows(session: Session, start: datetime, end: datetime, *where):
    """Answers given in [start, end) with their questionnaire's kind and definition, and the department of
    the patient's last discharge before the response started."""
    r, a, v, q = FollowUpResponse, FollowUpAnswer, FollowUpQuestionnaireVersion, FollowUpQuestionnaire
    last_stay = (select(Encounter.department).where(
        Encounter.patient_id == r.patient_id, Encounter.kind == "admission",
        Encounter.discharged_at <= r.started_at).order_by(Encounter.discharged_at.desc()).limit(1)
        .correlate(r).scalar_subquery())
    return session.execute(
        select(a.question_code, a.value, a.red_flag_disposition, a.red_flag_escalation, q.kind,
               v.definition, last_stay.label("stay_department"))
        .join(r, r.id == a.response_id).join(v, v.id == a.questionnaire_version_id)
        .join(q, q.id == v.questionnaire_id)
        .where(a.answered_at >= start.astimezone(UTC), a.answered_at < end.astimezone(UTC), *where)
        .order_by(a.id))


def _department(row) -> str:
    """The stay's department in the hospital's own words (as the discharge reports show it), else the
    questionnaire's."""
    return row.stay_department or (row.definition or {}).get("department") or NONE_LABEL


def red_flags(session: Session, start: datetime, end: datetime):
    counts: Counter = Counter()
    for row in _answer_rows(session, start, end, FollowUpAnswer.red_flag_disposition.is_not(None)):
        counts[(_department(row), row.question_code, row.red_flag_disposition, row.red_flag_escalation)] += 1
    rows = [{"key": "|".join(k), "label": k[0], "question_code": k[1], "disposition": k[2],
             "escalation": k[3] or "", "red_flags": n} for k, n in sorted(counts.items())]
    columns = [Column("label", "Department", "text"), Column("question_code", "Question", "text"),
               Column("disposition", "Disposition", "text"), Column("escalation", "Escalation", "text"),
               Column("red_flags", "Red flags")]
    per_department = Counter()
    for r in rows:
        per_department[r["label"]] += r["red_flags"]
    chart = {"kind": "bars", "series": ["red_flags"],
             "rows": [{"label": d, "red_flags": n} for d, n in sorted(per_department.items())]}
    return columns, rows, {"label": "Total", "red_flags": sum(counts.values())}, chart


def satisfaction(session: Session, start: datetime, end: datetime):
    """Scale answers of satisfaction questionnaires: per department and question, the mean and the share in
    the top box (the scale's two best points), the dashboard's CSAT rule for a 1-5 scale."""
    sums: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0, 0, 0])  # n, sum, top, bottom
    for row in _answer_rows(session, start, end, FollowUpQuestionnaire.kind == "satisfaction"):
        scale = _scale(row.definition, row.question_code)
        value = (row.value or {}).get("value")
        if scale is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        low, high = scale
        s = sums[(_department(row), row.question_code)]
        s[0] += 1
        s[1] += value
        s[2] += value > high - TOP_BOX
        s[3] += value < low + TOP_BOX
    rows = [{"key": f"{d}|{c}", "label": d, "question_code": c, "answers": n, "mean": total / n,
             "satisfied": top, "neutral": n - top - bottom, "dissatisfied": bottom, "top_box": top / n}
            for (d, c), (n, total, top, bottom) in sorted(sums.items())]
    columns = [Column("label", "Department", "text"), Column("question_code", "Question", "text"),
               Column("answers", "Answers"), Column("mean", "Mean", "number"),
               Column("satisfied", "Satisfied"), Column("neutral", "Neutral"),
               Column("dissatisfied", "Dissatisfied"), Column("top_box", "Satisfied share", "rate")]
    n = sum(r["answers"] for r in rows)
    top = sum(r["satisfied"] for r in rows)
    total = {"label": "Total", "answers": n, "satisfied": top, "top_box": _ratio(top, n),
             "dissatisfied": sum(r["dissatisfied"] for r in rows), "neutral": sum(r["neutral"] for r in rows)}
    chart = {"kind": "stacked", "series": ["satisfied", "neutral", "dissatisfied"]}
    return columns, rows, total, chart


def _scale(definition: dict, code: str) -> tuple[int, int] | None:
    for item in (definition or {}).get("items", []):
        question = item.get("question") or {}
        if question.get("code") == code and question.get("type") == "scale":
            return int(question["min"]), int(question["max"])
    return None


def answers_by_code(session: Session, code: str, start: datetime, end: datetime):
    """Counts per answer value (each key of a multiple choice counted), per department."""
    question = session.execute(select(FollowUpQuestion.type, FollowUpQuestion.unit)
                               .where(FollowUpQuestion.code == code)).first()
    if question is None:
        raise UnknownReport(f"no question with code {code[:64]!r} in the bank")
    counts: Counter = Counter()
    for row in _answer_rows(session, start, end, FollowUpAnswer.question_code == code):
        value = (row.value or {}).get("value")
        for item in (value if isinstance(value, list) else [value]):
            counts[(_department(row), _answer_text(item, question.type))] += 1
    rows = [{"key": f"{d}|{v}", "label": d, "answer": v, "answers": n}
            for (d, v), n in sorted(counts.items())]
    columns = [Column("label", "Department", "text"), Column("answer", "Answer", "text"),
               Column("answers", "Answers")]
    per_value = Counter()
    for r in rows:
        per_value[r["answer"]] += r["answers"]
    chart = {"kind": "bars", "series": ["answers"],
             "rows": [{"label": v, "answers": n} for v, n in sorted(per_value.items())]}
    return columns, rows, {"label": "Total", "answers": sum(counts.values())}, chart


def _answer_text(value, kind: str) -> str:
    if kind in ("free_text", "recorded"):
        return "(answered)"  # the text itself may identify a patient: counted, never shown here
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


# -- care plans ----------------------------------------------------------------------------------------------


@dataclass
class CarePlanCompletion:
    """A completed care-plan follow-up and the call that completed it, judged by `call_proof` as a
    discharge's follow-up is: the desk's call (`last_call_id`, placed from the desk or named with the
    outcome) or, on the automated channel, the campaign attempt that completed its target."""
    followup_id: int
    due_on: date
    cut: dict[str, str]
    call_id: str | None
    done: bool = True
    call_found: bool = False
    call_agent: int | None = None
    recordings: int = 0
    recorded_seconds: float = 0.0
    talk_seconds: float | None = None
    answers: int = 0


def care_plan_completions(session: Session, first: date, last: date) -> list[CarePlanCompletion]:
    f, p = CarePlanFollowUp, CarePlan
    rows = session.execute(
        select(f.id, f.due_on, p.department, p.kind, p.channel, f.last_call_id).join(p, p.id == f.plan_id)
        .where(f.due_on >= first, f.due_on <= last, f.status == "completed").order_by(f.due_on, f.id))
    done = [CarePlanCompletion(fid, due_on, {"department": department or NONE_LABEL,
                                             "kind": kind or NONE_LABEL, "channel": channel or NONE_LABEL},
                                call_id)
            for fid, due_on, department, kind, channel, call_id in rows]
    _completing_attempts(session, [c for c in done if c.call_id is None])
    _fold_calls(session, done)
    _fold_answers(session, done)
    return done


def _completing_attempts(session: Session, unlinked: list[CarePlanCompletion]) -> None:
    """An automated follow-up's call: the last attempt on its campaign target whose outcome completes."""
    by_id = {c.followup_id: c for c in unlinked}
    a, f = CampaignAttempt, CarePlanFollowUp
    for ids in (sorted(by_id)[i:i + 500] for i in range(0, len(by_id), 500)):
        for fid, call_id, outcome in session.execute(
                select(f.id, a.call_id, a.outcome).join(a, a.target_id == f.campaign_target_id)
                .where(f.id.in_(ids)).order_by(a.started_at, a.id)):
            if completes(outcome):
                by_id[fid].call_id = call_id


def _fold_calls(session: Session, done: list[CarePlanCompletion]) -> None:
    by_call: dict[str, list[CarePlanCompletion]] = defaultdict(list)
    for c in done:
        if c.call_id is not None:
            by_call[c.call_id].append(c)
    ids = sorted(by_call)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for call_id, agent_id, answered, ended, recordings, seconds in session.execute(
                select(Call.id, Call.agent_id, Call.answered_at, Call.ended_at, func.count(Recording.id),
                       func.coalesce(func.sum(Recording.duration_seconds), 0.0))
                .outerjoin(Recording, Recording.call_id == Call.id).where(Call.id.in_(chunk))
                .group_by(Call.id, Call.agent_id, Call.answered_at, Call.ended_at)):
            for c in by_call[call_id]:
                c.call_found, c.call_agent = True, agent_id
                c.recordings, c.recorded_seconds = recordings, float(seconds or 0.0)
                c.talk_seconds = _talk_seconds(answered, ended)


CARE_FLAGGED_COLUMNS = [Column("followup_id", "Follow-up", "text"), Column("due_on", "Due", "text"),
                        Column("channel", "Channel", "text"), Column("call_id", "Call", "text"),
                        Column("recorded_seconds", "Recorded (s)", "number"),
                        Column("talk_seconds", "Talk (s)", "number"), Column("flag", "Flag", "text")]


def flagged_care_followups(done: list[CarePlanCompletion], min_talk_seconds: float) -> list[dict]:
    out = []
    for c in done:
        proof = call_proof(c, min_talk_seconds)
        if proof in FLAGGED:
            out.append({"followup_id": c.followup_id, "due_on": c.due_on.isoformat(),
                        "channel": c.cut["channel"], "call_id": c.call_id,
                        "recorded_seconds": c.recorded_seconds, "talk_seconds": c.talk_seconds,
                        "flag": dict(PROOFS)[proof]})
    return out


def care_plan_adherence(session: Session, first: date, last: date, by: str, today: date,
                        done: list[CarePlanCompletion] = (), min_talk_seconds: float = 0.0):
    """Care-plan follow-ups due on the hospital days first..last, by the plan's department, kind or channel:
    how many were done, missed (unreachable, refused, wrong number), are still open (overdue among them) or
    were withdrawn; and of the done ones (`done`, `care_plan_completions`), how many are flagged for lack of
    proof of the call, by the same rule as the authenticity report."""
    f, p = CarePlanFollowUp, CarePlan
    cut = {"department": p.department, "kind": p.kind, "channel": p.channel}[by]
    state = {status: name for name, _, statuses in CARE_STATES for status in statuses}
    sums: dict[str, Counter] = defaultdict(Counter)
    for key, status, due_on, count in session.execute(
            select(cut, f.status, f.due_on, func.count()).join(p, p.id == f.plan_id)
            .where(f.due_on >= first, f.due_on <= last).group_by(cut, f.status, f.due_on)):
        group = sums[key or NONE_LABEL]
        group[state.get(status, "open")] += count
        group["due"] += count
        group["overdue"] += count if state.get(status, "open") == "open" and due_on < today else 0
    for c in done:
        sums[c.cut[by]]["flagged"] += call_proof(c, min_talk_seconds) in FLAGGED

    def row(key: str, c: Counter) -> dict:
        return {"key": key, "label": key, "due": c["due"], **{n: c[n] for n, _, _ in CARE_STATES},
                "overdue": c["overdue"], "adherence": _ratio(c["completed"], c["due"] - c["withdrawn"]),
                "flagged": c["flagged"]}
    rows = [row(k, c) for k, c in sorted(sums.items())]
    heading = {"department": "Department", "kind": "Kind", "channel": "Channel"}[by]
    columns = [Column("label", heading, "text"),
               Column("due", "Due"), *(Column(n, label) for n, label, _ in CARE_STATES),
               Column("overdue", "Open and overdue"), Column("adherence", "Adherence", "rate"),
               Column("flagged", "Completed, unproven")]
    total = row("total", sum(sums.values(), Counter()))
    total["label"] = "Total"
    chart = {"kind": "stacked", "series": [n for n, _, _ in CARE_STATES]}
    return columns, rows, total, chart

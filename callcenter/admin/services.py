"""Administration: users, desks (agents), queues, and the audit log viewer.

Forms hold what the admin typed, as typed (strings), so a refused form is shown again with nothing lost; the
functions here validate them and raise InvalidInput / Conflict / NotFound with a message for the form.
Every change writes an audit row (never a password) in the same transaction as the change. A desk or queue
change also reaches the running QueueService (`reload_agent` / `reload_queue`): no restart needed.

The plain functions take a Session (run through Database.run); AdminService is the async face the views use.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ..auth.exceptions import AuthError, DuplicateUser, UnknownUser
from ..auth.services import CurrentUser, UserInfo, create_user, list_users, normalize_username, set_password
from ..db.database import Database
from ..db.models import (
    USER_ROLES,
    Agent,
    AuditEvent,
    Call,
    Callback,
    CallLeg,
    Disposition,
    Patient,
    Queue,
    Recording,
    User,
)
from ..db.queries import add_audit_event
from ..queues.services import AgentRuntime, QueueInfo, QueueService
from .exceptions import Conflict, InvalidInput, NotFound

# Channel technologies a desk phone may use; a Local channel must name its context (ext@context).
ENDPOINT_TECHS = ("PJSIP", "SIP", "IAX2", "DAHDI", "Local")
ENDPOINT = re.compile(r"^(?P<tech>[A-Za-z0-9]+)/(?P<resource>[A-Za-z0-9_.+@:/-]+)$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]{2})?$")   # ISO 639 code, optionally a region: en, es, pt-br
AGENT_NUMBER = re.compile(r"^[0-9]{2,16}$")
QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MOH_CLASS = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_SERVICE_LEVEL = 3600
AUDIT_PAGE_SIZE = 50
AUDIT_CSV_LIMIT = 50_000


# -- forms: what the admin typed ---------------------------------------------------------------------------


@dataclass
class UserForm:
    username: str = ""
    display_name: str = ""
    role: str = "agent"
    password: str = ""


@dataclass
class AgentForm:
    number: str = ""
    name: str = ""
    username: str = ""          # the linked user; "" = none
    endpoint: str = ""
    skills: list[str] = field(default_factory=list)
    languages: str = "en"       # as typed: "en, es"


@dataclass
class QueueForm:
    name: str = ""
    title: str = ""
    skill: str = ""
    service_level_seconds: str = "30"
    moh_class: str = "default"
    post_call_survey: bool = False  # its callers answer the survey after the call (issue 17)


@dataclass
class AuditFilter:
    date_from: str = ""
    date_to: str = ""
    actor: str = ""             # a username
    action: str = ""
    mrn: str = ""               # typed into the filter form (a POST): never in a URL
    call_id: str = ""
    recording_id: str = ""
    page: int = 1
    patient: str = ""           # the patient's id: what links carry instead of the MRN

    def query_args(self) -> dict[str, str]:
        """The filter as URL query arguments (empty ones left out), for pagination and export links. The
        MRN is patient data and never goes into a URL: links name the patient by id."""
        values = {k: v for k, v in vars(self).items() if k not in ("page", "mrn")}
        return {k: v.strip() for k, v in values.items() if v.strip()}


# -- what the pages show -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskRow:
    number: str
    name: str
    username: str | None
    endpoint: str
    skills: list[str]
    languages: list[str]
    calls: int


@dataclass(frozen=True)
class QueueRow:
    name: str
    title: str
    skill: str
    service_level_seconds: int
    moh_class: str
    desks_with_skill: int


@dataclass(frozen=True)
class AuditRow:
    id: int
    ts: datetime
    action: str
    actor: str | None           # "username (Display Name)"
    desk: str | None            # the actor's desk number, for rows written by a desk (screen pops)
    mrn: str | None
    patient_name: str | None
    call_id: str | None
    recording_id: int | None
    reason: str | None
    detail: dict
    patient_id: int | None = None   # what a link to the patient's other rows carries (never the MRN)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class _AuditQuery:
    since: datetime | None
    until: datetime | None
    user_id: int | None
    agent_id: int | None
    action: str | None
    patient_id: int | None
    call_id: str | None
    recording_id: int | None


# -- users ---------------------------------------------------------------------------------------------------


def _user_info(session: Session, username: str) -> UserInfo:
    wanted = normalize_username(username)
    found = next((u for u in list_users(session) if u.username == wanted), None)
    if found is None:
        raise NotFound(f"no user named {username!r}")
    return found


def _create_user(session: Session, hasher: PasswordHasher, actor: CurrentUser, form: UserForm) -> str:
    if not form.password:
        raise InvalidInput("enter an initial password", "password")
    try:
        user = create_user(session, hasher, form.username, form.role, form.display_name or None,
                           form.password, must_change=True)   # the admin knows it: the user replaces it
    except DuplicateUser as exc:
        raise Conflict(str(exc), "username") from None
    except AuthError as exc:
        raise InvalidInput(str(exc), _user_field(str(exc))) from None
    _audit(session, actor, "user_created", username=user.username, role=user.role)
    return user.username


def _user_field(message: str) -> str:
    for name in ("password", "role", "display name", "username"):
        if name in message:
            return name.replace(" ", "_")
    return "username"


def _set_role(session: Session, actor: CurrentUser, username: str, role: str) -> None:
    user = _user_row(session, username)
    if role not in USER_ROLES:
        raise InvalidInput(f"unknown role {role!r}: choose one of {', '.join(USER_ROLES)}", "role")
    if user.id == actor.id and role != user.role:
        raise Conflict("you cannot change your own role: ask another administrator", "role")
    if role != user.role:
        _audit(session, actor, "user_role_changed", username=user.username, old=user.role, new=role)
        user.role = role


def _set_active(session: Session, actor: CurrentUser, username: str, active: bool) -> None:
    user = _user_row(session, username)
    if user.id == actor.id and not active:
        raise Conflict("you cannot deactivate your own account: ask another administrator")
    if user.active != active:
        user.active = active
        user.session_version += 1   # a deactivated user is signed out everywhere at once
        _audit(session, actor, "user_activated" if active else "user_deactivated", username=user.username)


def _reset_password(session: Session, hasher: PasswordHasher, actor: CurrentUser, username: str,
                    password: str) -> None:
    if not password:
        raise InvalidInput("enter the new password", "password")
    try:
        # also unlocks and ends their sessions; the admin knows it, so the user replaces it at next sign-in
        user = set_password(session, hasher, username, password, must_change=True)
    except UnknownUser as exc:
        raise NotFound(str(exc)) from None
    except AuthError as exc:
        raise InvalidInput(str(exc), "password") from None
    _audit(session, actor, "user_password_reset", username=user.username)


def _set_phone(session: Session, actor: CurrentUser, username: str, endpoint: str) -> None:
    """The phone a supervisor listens, whispers and barges from; empty clears it (the service default)."""
    user = _user_row(session, username)
    value = valid_endpoint(endpoint) if endpoint.strip() else None
    if value != user.phone_endpoint:
        _audit(session, actor, "user_phone_changed", username=user.username, old=user.phone_endpoint,
               new=value)
        user.phone_endpoint = value


def _user_row(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


# -- desks (agents) ----------------------------------------------------------------------------------------


def _desks(session: Session) -> list[DeskRow]:
    calls = (select(Call.agent_id, func.count().label("n")).group_by(Call.agent_id).subquery())
    query = (select(Agent, User.username, calls.c.n).outerjoin(User, Agent.user_id == User.id)
             .outerjoin(calls, calls.c.agent_id == Agent.id).order_by(Agent.number))
    return [DeskRow(a.number, a.name, username, a.endpoint, sorted(a.skills or ()), sorted(a.languages or ()),
                    n or 0) for a, username, n in session.execute(query)]


def _desk_form(session: Session, number: str) -> AgentForm:
    agent = _agent_row(session, number)
    return AgentForm(agent.number, agent.name, agent.user.username if agent.user else "", agent.endpoint,
                     sorted(agent.skills or ()), ", ".join(agent.languages or ()))


def _desk_options(session: Session, number: str | None) -> dict:
    """The choices of the desk form: queue skills, and users without a desk (plus this desk's own)."""
    skills = sorted(set(session.scalars(select(Queue.skill))))
    linked = select(Agent.user_id).where(Agent.user_id.is_not(None))
    if number:
        linked = linked.where(Agent.number != number)
    users = session.execute(select(User.username, User.display_name, User.role)
                            .where(User.active.is_(True), User.id.not_in(linked)).order_by(User.username))
    return {"skills": skills, "users": [tuple(u) for u in users]}


def _save_desk(session: Session, actor: CurrentUser, form: AgentForm, creating: bool) -> str:
    values = _valid_desk(session, form, creating)
    if creating:
        session.add(Agent(number=form.number.strip(), **values))
    else:
        agent = _agent_row(session, form.number)
        for key, value in values.items():
            setattr(agent, key, value)
    session.flush()
    _audit(session, actor, "agent_created" if creating else "agent_updated", number=form.number.strip(),
           **{k: v for k, v in values.items() if k != "user_id"}, user=form.username.strip() or None)
    return form.number.strip()


def _valid_desk(session: Session, form: AgentForm, creating: bool) -> dict:
    number = form.number.strip()
    if creating:
        if not AGENT_NUMBER.match(number):
            raise InvalidInput("a desk number has 2-16 digits", "number")
        if session.scalar(select(Agent.id).where(Agent.number == number)) is not None:
            raise Conflict(f"desk {number} already exists", "number")
    name = form.name.strip()
    if not 0 < len(name) <= 120:
        raise InvalidInput("the desk name must have 1-120 characters", "name")
    return {"name": name, "endpoint": valid_endpoint(form.endpoint),
            "skills": _valid_skills(session, form.skills), "languages": valid_languages(form.languages),
            "user_id": _free_user(session, form.username, number)}


def valid_endpoint(text: str) -> str:
    """An Asterisk dial string for one phone: Tech/resource, e.g. PJSIP/1001 or Local/1001@agent-phones/n."""
    endpoint = text.strip()
    found = ENDPOINT.match(endpoint)
    if len(endpoint) > 255 or found is None:
        raise InvalidInput("the endpoint must be the Asterisk dial string of one phone, Tech/resource, e.g. "
                           "PJSIP/1001, written with letters, digits and _ . + @ : / -", "endpoint")
    tech = next((t for t in ENDPOINT_TECHS if t.lower() == found["tech"].lower()), None)
    if tech is None:
        raise InvalidInput(f"unknown channel technology {found['tech']!r}: use one of "
                           f"{', '.join(ENDPOINT_TECHS)}", "endpoint")
    if tech == "Local" and "@" not in found["resource"]:
        raise InvalidInput("a Local endpoint names its context: Local/extension@context", "endpoint")
    return f"{tech}/{found['resource']}"


def valid_languages(text: str) -> list[str]:
    codes = [c.strip().lower() for c in re.split(r"[,\s]+", text) if c.strip()]
    if not codes:
        raise InvalidInput("give at least one language code, e.g. en", "languages")
    bad = [c for c in codes if not LANGUAGE.match(c)]
    if bad:
        raise InvalidInput(f"not a language code: {', '.join(bad)} (use ISO codes like en, es, pt-br)",
                           "languages")
    return list(dict.fromkeys(codes))


def _valid_skills(session: Session, skills: list[str]) -> list[str]:
    known = set(session.scalars(select(Queue.skill)))
    unknown = sorted(set(skills) - known)
    if unknown:
        raise InvalidInput(f"no queue uses the skill(s) {', '.join(unknown)}", "skills")
    return sorted(set(skills))


def _free_user(session: Session, username: str, number: str) -> int | None:
    if not username.strip():
        return None
    user = _user_row(session, username)
    holder = session.scalar(select(Agent.number).where(Agent.user_id == user.id, Agent.number != number))
    if holder is not None:
        raise Conflict(f"{user.username} already has desk {holder}", "username")
    return user.id


def _delete_desk(session: Session, actor: CurrentUser, number: str) -> None:
    agent = _agent_row(session, number)
    uses = _desk_references(session, agent.id)
    if uses:
        raise Conflict(f"desk {number} cannot be deleted: the call history refers to it ({uses}). "
                       f"Unlink its user or remove its skills instead.")
    session.delete(agent)
    _audit(session, actor, "agent_deleted", number=number)


def _desk_references(session: Session, agent_id: int) -> str:
    tables = (("calls", Call.agent_id), ("call legs", CallLeg.agent_id), ("recordings", Recording.agent_id),
              ("dispositions", Disposition.agent_id), ("callbacks", Callback.agent_id))
    counts = [(label, session.scalar(select(func.count()).where(column == agent_id)))
              for label, column in tables]
    return ", ".join(f"{n} {label if n > 1 else label[:-1]}" for label, n in counts if n)


def _agent_row(session: Session, number: str) -> Agent:
    agent = session.scalar(select(Agent).where(Agent.number == number.strip()))
    if agent is None:
        raise NotFound(f"no desk numbered {number!r}")
    return agent


# -- queues ------------------------------------------------------------------------------------------------


def _queues(session: Session) -> list[QueueRow]:
    desks = list(session.scalars(select(Agent.skills)))
    return [QueueRow(q.name, q.title, q.skill, q.service_level_seconds, q.moh_class,
                     sum(q.skill in (skills or ()) for skills in desks))
            for q in session.scalars(select(Queue).order_by(Queue.name))]


def _queue_form(session: Session, name: str) -> QueueForm:
    q = _queue_row(session, name)
    return QueueForm(q.name, q.title, q.skill, str(q.service_level_seconds), q.moh_class,
                     bool(q.post_call_survey))


def _save_queue(session: Session, actor: CurrentUser, form: QueueForm, creating: bool) -> str:
    name = form.name.strip()
    values = _valid_queue(session, form, creating)
    if creating:
        session.add(Queue(name=name, **values))
    else:
        session.execute(update(Queue).where(Queue.id == _queue_row(session, name).id).values(**values))
    _audit(session, actor, "queue_created" if creating else "queue_updated", name=name, **values)
    return name


def _valid_queue(session: Session, form: QueueForm, creating: bool) -> dict:
    name = form.name.strip()
    if creating:
        if not QUEUE_NAME.match(name):
            raise InvalidInput("a queue name is 1-64 characters: lower-case letters, digits, '_', '-'",
                               "name")
        if session.scalar(select(Queue.id).where(Queue.name == name)) is not None:
            raise Conflict(f"a queue named {name!r} already exists", "name")
    title = form.title.strip()
    if not 0 < len(title) <= 120:
        raise InvalidInput("the title must have 1-120 characters", "title")
    skill = form.skill.strip() or name
    if not QUEUE_NAME.match(skill):
        raise InvalidInput("a skill is 1-64 characters: lower-case letters, digits, '_', '-'", "skill")
    moh = form.moh_class.strip()
    if not MOH_CLASS.match(moh):
        raise InvalidInput("the music-on-hold class is an Asterisk class name: letters, digits, '_', '-'",
                           "moh_class")
    return {"title": title, "skill": skill, "moh_class": moh,
            "service_level_seconds": _seconds(form.service_level_seconds),
            "post_call_survey": bool(form.post_call_survey)}


def _seconds(text: str) -> int:
    try:
        seconds = int(text.strip())
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= MAX_SERVICE_LEVEL:
        raise InvalidInput(f"the service level is a whole number of seconds, 1-{MAX_SERVICE_LEVEL}",
                           "service_level_seconds")
    return seconds


def _queue_row(session: Session, name: str) -> Queue:
    queue = session.scalar(select(Queue).where(Queue.name == name.strip()))
    if queue is None:
        raise NotFound(f"no queue named {name!r}")
    return queue


# -- audit log ---------------------------------------------------------------------------------------------


def _audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def _audit_page(session: Session, filt: AuditFilter) -> AuditPage:
    query = _audit_select(_resolve(session, filt))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(1, filt.page), pages)
    rows = session.scalars(query.order_by(AuditEvent.ts.desc(), AuditEvent.id.desc())
                           .offset((page - 1) * AUDIT_PAGE_SIZE).limit(AUDIT_PAGE_SIZE))
    return AuditPage(_audit_rows(session, list(rows)), total, page, pages)


def _audit_export(session: Session, actor: CurrentUser, filt: AuditFilter) -> list[AuditRow]:
    query = _audit_select(_resolve(session, filt))
    rows = list(session.scalars(query.order_by(AuditEvent.ts.desc(), AuditEvent.id.desc())
                                .limit(AUDIT_CSV_LIMIT)))
    # An export takes patient names off the screen and out of the building: that one is audited.
    _audit(session, actor, "audit_log_exported", rows=len(rows), filter=filt.query_args())
    return _audit_rows(session, rows)


def _resolve(session: Session, filt: AuditFilter) -> _AuditQuery:
    user_id = agent_id = patient_id = None
    if filt.actor.strip():
        user = _user_row(session, filt.actor)
        user_id = user.id
        agent_id = session.scalar(select(Agent.id).where(Agent.user_id == user.id))
    if filt.mrn.strip():
        patient_id = _patient_by_mrn(session, filt.mrn)
    elif filt.patient.strip():
        if not filt.patient.strip().isdigit():
            raise InvalidInput("a patient is named by id", "mrn")
        patient_id = int(filt.patient.strip())
    since, until = _day(filt.date_from, "date_from"), _day(filt.date_to, "date_to")
    if since and until and since > until:
        raise InvalidInput("the start date is after the end date", "date_to")
    return _AuditQuery(since, until + timedelta(days=1) if until else None, user_id, agent_id,
                       filt.action.strip() or None, patient_id, filt.call_id.strip() or None,
                       _recording_id(filt.recording_id))


def _patient_by_mrn(session: Session, mrn: str) -> int:
    patient_id = session.scalar(select(Patient.id).where(Patient.mrn == mrn.strip().upper()))
    if patient_id is None:
        raise InvalidInput(f"no patient with MRN {mrn.strip()!r}", "mrn")
    return patient_id


def _with_patient_id(session: Session, filt: AuditFilter) -> AuditFilter:
    """The form's filter as links carry it: the MRN replaced by the patient's id (checked like a search)."""
    _resolve(session, filt)  # refuses what the page would refuse
    if not filt.mrn.strip():
        return filt
    return replace(filt, mrn="", patient=str(_patient_by_mrn(session, filt.mrn)), page=1)


def _mrn_of(session: Session, patient: str) -> str:
    row = session.get(Patient, int(patient)) if patient.strip().isdigit() else None
    return row.mrn if row is not None else ""


def _day(text: str, name: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(), tzinfo=UTC)
    except ValueError:
        raise InvalidInput("a date is written YYYY-MM-DD", name) from None


def _recording_id(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidInput("a recording id is a number", "recording_id")
    return int(text.strip())


def _audit_select(q: _AuditQuery):
    query = select(AuditEvent)
    if q.since:
        query = query.where(AuditEvent.ts >= q.since)
    if q.until:
        query = query.where(AuditEvent.ts < q.until)
    if q.user_id is not None:
        by_user = [AuditEvent.actor_user_id == q.user_id]
        if q.agent_id is not None:   # rows a desk wrote (screen pops) belong to the user of the desk
            by_user.append(AuditEvent.actor_agent_id == q.agent_id)
        query = query.where(or_(*by_user))
    conditions = ((q.action, AuditEvent.action), (q.patient_id, AuditEvent.patient_id),
                  (q.call_id, AuditEvent.call_id), (q.recording_id, AuditEvent.recording_id))
    for value, column in conditions:
        if value is not None:
            query = query.where(column == value)
    return query


def _audit_rows(session: Session, events: list[AuditEvent]) -> list[AuditRow]:
    users = _names(session, User, {e.actor_user_id for e in events})
    desks = _names(session, Agent, {e.actor_agent_id for e in events})
    patients = _names(session, Patient, {e.patient_id for e in events})
    rows = []
    for e in events:
        user, desk = users.get(e.actor_user_id), desks.get(e.actor_agent_id)
        patient = patients.get(e.patient_id)
        if user is None and desk is not None and desk.user is not None:
            user = desk.user   # a screen pop is written by the desk: show whose desk it is
        rows.append(AuditRow(e.id, e.ts, e.action, f"{user.username} ({user.display_name})" if user else None,
                             desk.number if desk else None, patient.mrn if patient else None,
                             patient.full_name if patient else None, e.call_id, e.recording_id, e.reason,
                             dict(e.detail or {}), e.patient_id))
    return rows


def _names(session: Session, model, ids: set[int | None]) -> dict:
    ids = {i for i in ids if i is not None}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))} if ids else {}


def _audit(session: Session, actor: CurrentUser, action: str, **detail) -> None:
    add_audit_event(session, action, actor_user_id=actor.id, detail=detail)


# -- the service -------------------------------------------------------------------------------------------


class AdminService:
    """What the admin pages do. Desk and queue changes are pushed to the running QueueService."""

    def __init__(self, db: Database, queues: QueueService, hasher: PasswordHasher):
        self._db = db
        self._queues = queues
        self._hasher = hasher

    # users
    async def users(self) -> list[UserInfo]:
        return await self._db.run(list_users)

    async def user(self, username: str) -> UserInfo:
        return await self._db.run(_user_info, username)

    async def create_user(self, actor: CurrentUser, form: UserForm) -> str:
        return await self._db.run(_create_user, self._hasher, actor, form)

    async def set_role(self, actor: CurrentUser, username: str, role: str) -> None:
        await self._db.run(_set_role, actor, username, role)

    async def set_active(self, actor: CurrentUser, username: str, active: bool) -> None:
        await self._db.run(_set_active, actor, username, active)

    async def set_phone(self, actor: CurrentUser, username: str, endpoint: str) -> None:
        await self._db.run(_set_phone, actor, username, endpoint)

    async def reset_password(self, actor: CurrentUser, username: str, password: str) -> None:
        await self._db.run(_reset_password, self._hasher, actor, username, password)

    # what runs now (read from the QueueService, never the database)
    def running_agents(self) -> dict[str, AgentRuntime]:
        return dict(self._queues.agents)

    def running_queues(self) -> dict[str, QueueInfo]:
        return dict(self._queues.queues)

    def waiting(self) -> dict[str, int]:
        return {name: len(self._queues.waiting(name)) for name in self._queues.queues}

    # desks
    async def desks(self) -> list[DeskRow]:
        return await self._db.run(_desks)

    async def desk_form(self, number: str) -> AgentForm:
        return await self._db.run(_desk_form, number)

    async def desk_options(self, number: str | None = None) -> dict:
        return await self._db.run(_desk_options, number)

    async def save_desk(self, actor: CurrentUser, form: AgentForm, *, creating: bool) -> str:
        number = await self._db.run(_save_desk, actor, form, creating)
        await self._queues.reload_agent(number)
        return number

    async def delete_desk(self, actor: CurrentUser, number: str) -> None:
        running = self._queues.agents.get(number)
        if running is not None and running.state != "logged_out":
            raise Conflict(f"desk {number} is signed in ({running.state}): it must sign out first")
        await self._db.run(_delete_desk, actor, number)
        await self._queues.reload_agent(number)

    # queues
    async def queues(self) -> list[QueueRow]:
        return await self._db.run(_queues)

    async def queue_form(self, name: str) -> QueueForm:
        return await self._db.run(_queue_form, name)

    async def save_queue(self, actor: CurrentUser, form: QueueForm, *, creating: bool) -> str:
        name = await self._db.run(_save_queue, actor, form, creating)
        await self._queues.reload_queue(name)
        return name

    # audit log
    async def audit_actions(self) -> list[str]:
        return await self._db.run(_audit_actions)

    async def audit_page(self, filt: AuditFilter) -> AuditPage:
        return await self._db.run(_audit_page, filt)

    async def audit_link_filter(self, filt: AuditFilter) -> AuditFilter:
        """The filter typed into the form, made fit for a URL (InvalidInput as the page would say)."""
        return await self._db.run(_with_patient_id, filt)

    async def audit_form_mrn(self, filt: AuditFilter) -> str:
        """The MRN to show in the form for a filter that names the patient by id."""
        return await self._db.run(_mrn_of, filt.patient)

    async def audit_export(self, actor: CurrentUser, filt: AuditFilter) -> list[AuditRow]:
        return await self._db.run(_audit_export, actor, filt)


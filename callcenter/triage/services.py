"""Red-flag triage on a call: the session model (pure, no I/O) and the service that keeps one per call.

The rules (issue 5): the agent picks a protocol (suggested from the IVR choice or the call reason); questions
are shown one at a time in the protocol's order, which is acuity order; the first "yes" sets the disposition
and ends the questioning; "no" to every question gives the protocol's `if_no_to_all`. Every question shown and
every answer is recorded with its time and agent, as call events (`triage_*`), so the record survives a
restart and needs no schema of its own:

| type                     | data                                                                         |
| ------------------------ | ---------------------------------------------------------------------------- |
| `triage_started`         | protocol, version, language, suggested (protocol ids offered first)          |
| `triage_age`             | protocol, version, age_months, source ('record': the confirmed patient's     |
|                          | date of birth at the call date; 'asked': given by the caller)                |
| `triage_question_shown`  | protocol, version, question, index (1-based), text (the words shown)         |
| `triage_answered`        | protocol, version, question, answer ('yes' or 'no')                          |
| `triage_disposition`     | protocol, version, disposition, decided_by (question id or 'no_to_all'),     |
|                          | action, escalation_required, rank (0 most urgent), satisfied_by (the         |
|                          | escalations that count): the ladder as it was, for the wrap-up rule          |

A protocol that depends on the age (`ages` on it or on a question) starts with the age: from the record of
the patient the agent confirmed, else asked (the panel's age step) before the first question. A question
for other ages is then not shown; with the age unknown (a phone questionnaire) every question is asked.

The agent is the event's `agent_id` column; `user_id` (the signed-in user, when the console knows it) is
in data.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from typing import Protocol as TypingProtocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..db.models import CallEvent, Patient
from ..db.queries import AuditActor, add_audit_event, age_in_months
from ..eventlog import utcnow
from .exceptions import (
    InvalidAge,
    NoSession,
    OutOfOrder,
    SessionExists,
    TriageDataError,
    TriageFinished,
    UnknownLanguage,
    UnknownProtocol,
)
from .guide import ScriptGuide, ScriptStep
from .schema import (
    Ladder,
    Protocol,
    Question,
    ScriptMap,
    Suggestions,
    load_ladder,
    load_protocols,
    load_script_map,
    load_suggestions,
)
from .suggestions import Suggester, Suggestion

NO_TO_ALL = "no_to_all"


@dataclass(frozen=True)
class Fact:
    """One thing that happened in a session, ready to be written as a call event."""
    type: str
    at: datetime
    agent_id: int | None
    data: dict[str, Any]


@dataclass
class Step:
    question: Question
    shown_at: datetime
    shown_to: int | None
    answer: bool | None = None
    answered_at: datetime | None = None
    answered_by: int | None = None


@dataclass(frozen=True)
class Decision:
    disposition: str
    decided_by: str  # the question answered "yes", or NO_TO_ALL
    at: datetime
    agent_id: int | None


@dataclass(frozen=True)
class Age:
    months: int  # whole calendar months
    source: str  # AGE_FROM_RECORD or AGE_ASKED


AGE_FROM_RECORD, AGE_ASKED = "record", "asked"
DAYS_PER_MONTH = 365.25 / 12


def months_of(value: int, unit: str) -> int:
    """An age as a caller says it (6 weeks, 2 months, 54 years) in whole months, rounded down: 12 weeks is
    2 months, so still an infant under 3 months."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidAge("an age is a whole number from 0")
    if unit == "days":
        return int(value // DAYS_PER_MONTH)
    if unit == "weeks":
        return int(value * 7 // DAYS_PER_MONTH)
    if unit in ("months", "years"):
        return value * (12 if unit == "years" else 1)
    raise InvalidAge("the unit of an age is days, weeks, months or years")


@dataclass
class TriageSession:
    """One protocol run on one call. Methods return the facts they produced; `facts` keeps them all."""
    protocol: Protocol
    ladder: Ladder
    language: str
    steps: list[Step] = field(default_factory=list)
    decision: Decision | None = None
    facts: list[Fact] = field(default_factory=list)
    age: Age | None = None

    @classmethod
    def start(cls, protocol: Protocol, ladder: Ladder, language: str, *, agent_id: int | None = None,
              at: datetime | None = None, suggested: Iterable[str] = (), user_id: int | None = None,
              age_months: int | None = None, ask_age: bool = False) -> "TriageSession":
        """`age_months`: from the patient's record. `ask_age`: the desk asks the age first when the
        protocol depends on it and the record gave none (a phone questionnaire cannot: it asks everything)."""
        if language not in protocol.languages:
            raise UnknownLanguage(f"protocol '{protocol.id}' has no language '{language}'")
        session = cls(protocol, ladder, language)
        at = at or utcnow()
        session._fact("triage_started", at, agent_id, user_id, language=language, suggested=list(suggested))
        if protocol.age_dependent and age_months is not None:
            session._set_age(Age(age_months, AGE_FROM_RECORD), at, agent_id, user_id)
        if not (protocol.age_dependent and ask_age and session.age is None):
            session._next(0, at, agent_id, user_id)
        return session

    @property
    def current(self) -> Question | None:
        """The question waiting for an answer, or None once the disposition is set."""
        if self.decision is None and self.steps and self.steps[-1].answer is None:
            return self.steps[-1].question
        return None

    @property
    def awaiting_age(self) -> bool:
        """Started, and the first question waits for the patient's age."""
        return self.decision is None and not self.steps

    def give_age(self, months: int, *, agent_id: int | None = None, at: datetime | None = None,
                 user_id: int | None = None) -> list[Fact]:
        """The age as the caller gave it; then the first question for that age."""
        if not self.awaiting_age:
            raise OutOfOrder("the age is asked before the first question only")
        if not isinstance(months, int) or not 0 <= months < 150 * 12:
            raise InvalidAge("an age is a whole number of months from 0 to 150 years")
        at = at or utcnow()
        before = len(self.facts)
        self._set_age(Age(months, AGE_ASKED), at, agent_id, user_id)
        self._next(0, at, agent_id, user_id)
        return self.facts[before:]

    def asks(self, question: Question) -> bool:
        """A question for other ages is not asked; with the age unknown, every question is."""
        return question.ages is None or self.age is None or question.ages.includes(self.age.months)

    def _set_age(self, age: Age, at: datetime, agent_id: int | None, user_id: int | None) -> None:
        self.age = age
        self._fact("triage_age", at, agent_id, user_id, age_months=age.months, source=age.source)

    def _next(self, index: int, at: datetime, agent_id: int | None, user_id: int | None) -> None:
        """Show the first question from `index` on that is asked at the patient's age; none left: 'no' to
        every red flag asked."""
        questions = self.protocol.questions
        index = next((i for i in range(index, len(questions)) if self.asks(questions[i])), None)
        if index is None:
            self._decide(self.protocol.if_no_to_all.disposition, NO_TO_ALL, at, agent_id, user_id)
        else:
            self._show(index, at, agent_id, user_id)

    def answer(self, question_id: str, yes: bool, *, agent_id: int | None = None, at: datetime | None = None,
               user_id: int | None = None) -> list[Fact]:
        current = self.current
        if self.awaiting_age:
            raise OutOfOrder(f"protocol '{self.protocol.id}' asks the age first")
        if current is None:
            raise TriageFinished(f"the disposition is already '{self.decision.disposition}'")
        if question_id != current.id:
            raise OutOfOrder(f"the question on screen is '{current.id}', not '{question_id}'")
        at = at or utcnow()
        before = len(self.facts)
        step = self.steps[-1]
        step.answer, step.answered_at, step.answered_by = yes, at, agent_id
        self._fact("triage_answered", at, agent_id, user_id, question=current.id,
                   answer="yes" if yes else "no")
        if yes:
            self._decide(current.if_yes, current.id, at, agent_id, user_id)
        else:
            self._next(self.protocol.questions.index(current) + 1, at, agent_id, user_id)
        return self.facts[before:]

    def _show(self, index: int, at: datetime, agent_id: int | None, user_id: int | None) -> None:
        question = self.protocol.questions[index]
        self.steps.append(Step(question, at, agent_id))
        self._fact("triage_question_shown", at, agent_id, user_id, question=question.id, index=index + 1,
                   text=question.text[self.language])

    def _decide(self, disposition: str, decided_by: str, at: datetime, agent_id: int | None,
                user_id: int | None) -> None:
        self.decision = Decision(disposition, decided_by, at, agent_id)
        rung = self.ladder[disposition]
        self._fact("triage_disposition", at, agent_id, user_id, disposition=disposition,
                   decided_by=decided_by, action=rung.action, escalation_required=rung.escalation_required,
                   rank=rung.rank, satisfied_by=list(rung.satisfied_by))

    def _fact(self, type_: str, at: datetime, agent_id: int | None, user_id: int | None, **data: Any) -> None:
        data = {"protocol": self.protocol.id, "version": self.protocol.version, **data}
        if user_id is not None:
            data["user_id"] = user_id
        self.facts.append(Fact(type_, at, agent_id, data))

    # -- what a panel shows --

    def view(self) -> dict[str, Any]:
        """Everything a triage panel needs, in the session's language; JSON-ready."""
        lang, protocol = self.language, self.protocol
        current = self.current
        return {
            "protocol": {"id": protocol.id, "version": protocol.version, "title": protocol.title[lang],
                         "source": list(protocol.source), "review_status": protocol.review_status},
            "language": lang,
            "state": "age" if self.awaiting_age else "asking" if current else "decided",
            "age": self._age_view(),
            "current": None if current is None else {
                "id": current.id, "text": current.text[lang], "index": len(self.steps),
                "total": len(protocol.questions)},
            "steps": [_step_view(step, lang) for step in self.steps],
            "disposition": None if self.decision is None else self._decision_view(),
        }

    def _age_view(self) -> dict[str, Any] | None:
        """What the panel says about the age: the question while it is awaited, the age and where it came
        from, and a warning when the protocol is written for other ages (flagged, never refused)."""
        protocol = self.protocol
        if not protocol.age_dependent:
            return None
        age = self.age
        outside = age is not None and protocol.ages is not None and not protocol.ages.includes(age.months)
        return {"question": protocol.age_question[self.language] if protocol.age_question else None,
                "months": age.months if age else None, "source": age.source if age else None,
                "protocol_ages": protocol.ages.said() if protocol.ages else None, "outside": outside}

    def _decision_view(self) -> dict[str, Any]:
        lang, decision = self.language, self.decision
        rung = self.ladder[decision.disposition]
        by_question = self.protocol.question(decision.decided_by)
        advice = by_question.advice if by_question else self.protocol.if_no_to_all.advice
        return {
            "id": rung.id, "rank": rung.rank, "label": rung.label[lang], "action": rung.action,
            "escalation_required": rung.escalation_required, "satisfied_by": list(rung.satisfied_by),
            "instruction": rung.instruction[lang],
            "advice": advice[lang], "call_back_if_worse": self.protocol.call_back_if_worse[lang],
            "decided_by": decision.decided_by, "decided_at": decision.at.isoformat(),
            "agent_id": decision.agent_id,
        }

    # -- back from the record --

    @classmethod
    def replay(cls, events: Iterable[Any], protocols: dict[str, Protocol], ladder: Ladder
               ) -> "TriageSession | None":
        """The latest session of a call rebuilt from its call events (objects with type, ts, agent_id,
        data), e.g. after a restart or for the call's detail page. None when the call had no triage."""
        session = None
        for event in events:
            if event.type == "triage_started":
                protocol = protocols.get(event.data["protocol"])
                if protocol is None:
                    raise UnknownProtocol(event.data["protocol"])
                session = cls(protocol, ladder, event.data["language"])
            if session is not None and event.type.startswith("triage_"):
                session._apply(event)
        return session

    def _apply(self, event: Any) -> None:
        data = event.data
        self.facts.append(Fact(event.type, event.ts, event.agent_id, dict(data)))
        if event.type == "triage_question_shown":
            self.steps.append(Step(self.protocol.question(data["question"]), event.ts, event.agent_id))
        elif event.type == "triage_answered":
            step = self.steps[-1]
            step.answer, step.answered_at = data["answer"] == "yes", event.ts
            step.answered_by = event.agent_id
        elif event.type == "triage_disposition":
            self.decision = Decision(data["disposition"], data["decided_by"], event.ts, event.agent_id)
        elif event.type == "triage_age":
            self.age = Age(data["age_months"], data["source"])


def _step_view(step: Step, lang: str) -> dict[str, Any]:
    return {
        "question": step.question.id, "text": step.question.text[lang],
        "shown_at": step.shown_at.isoformat(), "shown_to": step.shown_to,
        "answer": None if step.answer is None else ("yes" if step.answer else "no"),
        "answered_at": step.answered_at.isoformat() if step.answered_at else None,
        "answered_by": step.answered_by,
    }


class EventWriter(TypingProtocol):
    def event(self, call_id: str | None, type_: str, *, agent_id: int | None = None,
              ts: datetime | None = None, **data: Any) -> datetime: ...


class Runner(TypingProtocol):
    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...


class TriageService:
    """Sessions per call, written to the call event log as they happen."""

    def __init__(self, events: EventWriter, protocols: dict[str, Protocol], ladder: Ladder,
                 suggestions: Suggestions, clock: Callable[[], datetime] = utcnow, db: Runner | None = None,
                 guide: ScriptGuide | None = None, script_map: ScriptMap | None = None):
        self.events, self.protocols, self.ladder = events, protocols, ladder
        self.suggester, self.clock, self.db = Suggester(suggestions), clock, db
        self.guide = guide or ScriptGuide()
        self.script_map = script_map or load_script_map()
        self.sessions: dict[str, TriageSession] = {}
        # The reason for the call as the agent typed it, per call: patient words, kept in memory only (never
        # logged, never in a URL), for the suggestions and to refill the desk's field after a reload.
        self.reasons: dict[str, str] = {}

    @classmethod
    def from_files(cls, events: EventWriter, **kwargs: Any) -> "TriageService":
        """The shipped ladder, protocols and suggestions; a broken file stops the start (TriageDataError)."""
        ladder = load_ladder()
        protocols = load_protocols(ladder=ladder)
        return cls(events, protocols, ladder, load_suggestions(protocol_ids=set(protocols)),
                   script_map=load_script_map(), **kwargs)

    def catalogue(self, language: str = "en") -> list[dict[str, Any]]:
        """The protocols a panel lists, by title in `language` (English where a protocol lacks it)."""
        return sorted(({"id": p.id, "version": p.version, "title": p.title.get(language, p.title["en"])}
                       for p in self.protocols.values()), key=lambda p: p["title"])

    def suggest(self, ivr_path: list[dict] | None = None, queue: str | None = None,
                reason: str | None = None, language: str | None = None) -> list[str]:
        return [s.protocol for s in self.suggester.suggest(ivr_path, queue, reason, language)]

    def suggestions_for(self, call: Any) -> list[Suggestion]:
        """A live call's suggestions: its reason typed on the desk, its IVR path, its queue."""
        reason = self.reasons.get(call.id)
        return self.suggester.suggest(call.ivr.path, call.queue_name, reason, call.language)

    def set_reason(self, call_id: str, reason: str) -> None:
        """What the caller says the call is about (the desk's reason field now; speech could call it too)."""
        self.reasons[call_id] = reason.strip()

    def protocol(self, protocol_id: str) -> Protocol:
        protocol = self.protocols.get(protocol_id)
        if protocol is None:
            raise UnknownProtocol(f"no protocol '{protocol_id}'")
        return protocol

    def start(self, call_id: str, protocol_id: str, language: str, *, agent_id: int | None = None,
              user_id: int | None = None, suggested: Iterable[str] = (), age_months: int | None = None
              ) -> TriageSession:
        """Start a protocol on a call. A session still asking must be answered first: switching protocol
        halfway would leave a half-asked red-flag list in the record with no disposition. An age-dependent
        protocol takes `age_months` (from the record, see `patient_age`), else asks the age first."""
        protocol = self.protocol(protocol_id)
        running = self.sessions.get(call_id)
        if running is not None and running.decision is None:
            raise SessionExists(f"protocol '{running.protocol.id}' is still being asked on this call")
        session = TriageSession.start(protocol, self.ladder, language, agent_id=agent_id, at=self.clock(),
                                      suggested=suggested, user_id=user_id, age_months=age_months,
                                      ask_age=True)
        self.sessions[call_id] = session
        self._write(call_id, session.facts)
        return session

    def answer(self, call_id: str, question_id: str, yes: bool, *, agent_id: int | None = None,
               user_id: int | None = None) -> TriageSession:
        session = self.session(call_id)
        self._write(call_id, session.answer(question_id, yes, agent_id=agent_id, at=self.clock(),
                                            user_id=user_id))
        return session

    def give_age(self, call_id: str, months: int, *, agent_id: int | None = None,
                 user_id: int | None = None) -> TriageSession:
        session = self.session(call_id)
        self._write(call_id, session.give_age(months, agent_id=agent_id, at=self.clock(), user_id=user_id))
        return session

    async def patient_age(self, call_id: str, *, actor_user_id: int | None = None,
                          actor_agent_id: int | None = None, time_zone: str = "UTC") -> int | None:
        """The age in months, at the call date in the hospital's time zone, of the patient the agent
        confirmed on this call; None before the identity is confirmed. Reading the date of birth is a read
        of the record: audited. Computed at every start, never stored: the calendar moves on."""
        if self.db is None:
            return None
        today = self.clock().astimezone(ZoneInfo(time_zone)).date()
        return await self.db.run(_audited_age, call_id, today, AuditActor(actor_user_id, actor_agent_id))

    def session(self, call_id: str) -> TriageSession:
        try:
            return self.sessions[call_id]
        except KeyError:
            raise NoSession(f"no triage on call {call_id}") from None

    def resume(self, call_id: str, events: Iterable[Any]) -> TriageSession | None:
        """Rebuild a call's session from its stored events (after a restart) and keep it."""
        session = TriageSession.replay(events, self.protocols, self.ladder)
        if session is not None:
            self.sessions[call_id] = session
        return session

    def forget(self, call_id: str) -> None:
        """The call is over: the record is in the event log, the memory can go."""
        self.sessions.pop(call_id, None)
        self.reasons.pop(call_id, None)

    def _write(self, call_id: str, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.events.event(call_id, fact.type, agent_id=fact.agent_id, ts=fact.at, **fact.data)

    # -- call scripts --

    def script_for(self, queue: str | None, campaign_script: str | None = None) -> str:
        """The call script of a call: its campaign's own (validated with the campaign), else its queue's."""
        return campaign_script or self.script_map.for_queue(queue)

    def check_script_map(self, queues: set[str]) -> None:
        """At start, with the queues of the database: a mapped name that is no queue stops the start.
        An empty database (not seeded yet) has nothing to check against."""
        problems = self.script_map.unknown_queues(queues) if queues else []
        if problems:
            raise TriageDataError(problems)

    async def script(self, call_type: str, *, call: dict[str, Any], agent: dict[str, Any],
                     patient_id: int | None = None, actor_user_id: int | None = None,
                     actor_agent_id: int | None = None, time_zone: str = "UTC") -> list[ScriptStep]:
        """The steps of a call type's script with the patient's fields merged in. Until the agent confirmed
        who is calling (the desk's `identity_confirmed` event), the script gets the identity fields the pop
        already shows, nothing of the record: the phone may still be ringing. Reading the patient's fields
        is a view of the record, so it is audited (no audit row when there is no patient). Times are said in
        the hospital's `time_zone`."""
        patient = (await self.db.run(_audited_patient_fields, call.get("id"), patient_id, ZoneInfo(time_zone),
                                     call_type, AuditActor(actor_user_id, actor_agent_id))
                   if self.db else None)
        return self.guide.render(call_type, patient=patient, call=call, agent=agent)


def _audited_patient_fields(session: Any, call_id: str | None, candidate_id: int | None, zone: ZoneInfo,
                            call_type: str, actor: AuditActor) -> dict[str, Any] | None:
    """The script's patient fields, audited in the transaction that reads them."""
    patient = _patient_fields(session, call_id, candidate_id, zone)
    if patient is not None:
        add_audit_event(session, "script_patient_fields", actor=actor, patient_id=patient["id"],
                        call_id=call_id, detail={"call_type": call_type, "confirmed": patient["confirmed"]})
    return patient


def _patient_fields(session: Any, call_id: str | None, candidate_id: int | None,
                    zone: ZoneInfo) -> dict[str, Any] | None:
    """The confirmed patient's fields, else the candidate's identity fields (names and MRN), else None."""
    confirmed = confirmed_patient(session, call_id) if call_id else None
    patient = session.get(Patient, confirmed or candidate_id) if (confirmed or candidate_id) else None
    if patient is None:
        return None
    identity = {"id": patient.id, "confirmed": confirmed is not None, "first_name": patient.given_name,
                "last_name": patient.family_name}
    if confirmed is None:
        return identity
    primary = next((p.e164 for p in patient.phones if p.is_primary), None)
    now = utcnow()
    upcoming = next((a for a in patient.appointments if a.status == "booked" and a.starts_at >= now), None)
    return identity | {
        "mrn": patient.mrn, "date_of_birth": patient.date_of_birth.isoformat(), "language": patient.language,
        "phone": primary,
        "next_appointment": _said(upcoming.starts_at, zone) if upcoming else None,
    }


def _audited_age(session: Any, call_id: str, today: date, actor: AuditActor) -> int | None:
    """The confirmed patient's age in months, audited in the transaction that reads the date of birth."""
    confirmed = confirmed_patient(session, call_id)
    patient = session.get(Patient, confirmed) if confirmed else None
    if patient is None or patient.date_of_birth is None:
        return None
    add_audit_event(session, "triage_patient_age", actor=actor, patient_id=patient.id, call_id=call_id,
                    detail={"field": "date_of_birth"})
    return age_in_months(patient.date_of_birth, today)


def _said(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%d %b %Y %H:%M")


def confirmed_patient(session: Any, call_id: str) -> int | None:
    """Whom the agent confirmed on this call, latest first (desk/services.py writes the event)."""
    data = session.scalar(select(CallEvent.data).where(CallEvent.call_id == call_id,
                                                       CallEvent.type == "identity_confirmed")
                          .order_by(CallEvent.id.desc()).limit(1))
    return data.get("patient_id") if data else None

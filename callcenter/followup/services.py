"""Follow-up use cases: store the question bank and questionnaire versions, record answers, export by study.

Versions: a questionnaire is stored once per version its file names, with its definition resolved from the
bank (`Questionnaire.definition`), and never changed after. A response is given in the version current when
it started, and each answer row names that version, so a new version never changes how an old answer reads.
Loading a changed file that kept its version is refused (`VersionUnchanged`).

Answers: `record_answer` checks the answer against its question's type (answers.py), that the question is
shown given the answers so far (skip logic), and who gave it; it stores the normalised value with channel,
time, who (an agent's user id, or the automated call) and the call id, and returns the red flags it raised
(data only here: delivery by phone or console escalates them as triage does).

Logs name questionnaires, versions and responses by id, never answers or patients.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import (
    FOLLOWUP_ANSWERED_BY,
    FOLLOWUP_CHANNELS,
    CarePlan,
    CarePlanFollowUp,
    FollowUpAnswer,
    FollowUpQuestion,
    FollowUpQuestionnaire,
    FollowUpQuestionnaireVersion,
    FollowUpResponse,
    Patient,
)
from ..db.queries import AuditActor, add_audit_event
from ..db.types import utcnow
from ..web.csvfile import csv_text
from . import answers
from .designer import Design, DraftInvalid, Problem, check
from .exceptions import (
    AlreadyAnswered,
    AlreadyStarted,
    FollowUpError,
    NotAsked,
    QuestionChanged,
    UnknownQuestionnaire,
    UnknownResponse,
    VersionUnchanged,
)
from .schema import RECORDED, REQUIRED_LANGUAGE, REVIEW_STATUSES, Bank, Item, Question, Questionnaire, RedFlag

log = logging.getLogger(__name__)

__all__ = ["AnswerGiven", "LoadReport", "QuestionnaireService", "RecordedAnswer", "pseudonym",
           "red_flag_fact"]

CHANNELS = FOLLOWUP_CHANNELS
EXAMPLE_CONTENT = REVIEW_STATUSES[0]
AGENT, AUTOMATED = FOLLOWUP_ANSWERED_BY


@dataclass(frozen=True)
class LoadReport:
    stored: tuple[str, ...]  # "id version" of each new version
    unchanged: tuple[str, ...]
    questions: int  # bank questions stored or updated


@dataclass(frozen=True)
class AnswerGiven:
    response_id: int
    question_code: str
    value: Any
    channel: str  # phone, console or paper
    answered_by: str  # agent or automated
    agent_user_id: int | None = None  # the agent's user id; none for the automated call
    call_id: str | None = None


@dataclass(frozen=True)
class RecordedAnswer:
    answer_id: int
    question_code: str
    value: Any  # normalised
    questionnaire_version: str
    red_flags: tuple[RedFlag, ...]
    next_question: str | None  # the next question shown given the answers so far; None when done


EXPORT_FIELDS = ("response_id", "patient", "questionnaire", "version", "question_code", "question_type",
                 "value", "unit", "answered_at", "channel", "answered_by", "agent_user_id", "call_id",
                 "red_flag_disposition", "red_flag_escalation")
# Left out of a pseudonymised export: each leads back to the patient through the call record.
IDENTIFYING_FIELDS = ("agent_user_id", "call_id")


class QuestionnaireService:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow):
        self.db, self.clock = db, clock
        self._definitions: dict[int, Questionnaire] = {}  # version id -> parsed (versions never change)

    # ---- the bank and the questionnaires ----

    async def load(self, bank: Bank, questionnaires: Iterable[tuple[Questionnaire, str]],
                   user_id: int | None = None) -> LoadReport:
        """Store the bank and each (questionnaire, file text) in one transaction: all or nothing."""
        report = await self.db.run(self._load, bank, list(questionnaires), user_id)
        log.info("questionnaires loaded: %d new versions, %d unchanged", len(report.stored),
                 len(report.unchanged))
        return report

    def _load(self, session: Session, bank: Bank, items: list[tuple[Questionnaire, str]],
              user_id: int | None) -> LoadReport:
        # The whole bank, not only the questions these questionnaires ask: a code that would change its type
        # is refused before any questionnaire uses it.
        questions = sum(self._store_question(session, bank, code) for code in sorted(bank.questions))
        stored, unchanged = [], []
        for questionnaire, text in items:
            new = self._store_version(session, questionnaire, text, user_id)
            (stored if new else unchanged).append(f"{questionnaire.id} {questionnaire.version}")
        if stored:
            add_audit_event(session, "followup_questionnaires_loaded", actor_user_id=user_id,
                            detail={"versions": stored})
        return LoadReport(tuple(stored), tuple(unchanged), questions)

    def _store_question(self, session: Session, bank: Bank, code: str) -> bool:
        question = bank.questions[code]
        row = session.scalar(select(FollowUpQuestion).where(FollowUpQuestion.code == code))
        if row is None:
            row = FollowUpQuestion(code=code, type=question.type, unit=question.unit)
            session.add(row)
        elif (row.type, row.unit) != (question.type, question.unit):
            raise QuestionChanged(
                f"{bank.path}: question '{code}' was a {row.type} ({row.unit or 'no unit'}), now a "
                f"{question.type} ({question.unit or 'no unit'}): answers under one code must stay "
                "comparable; give the new question a new code")
        definition = _json(question.to_json())
        changed = row.definition != definition
        row.definition, row.bank_version, row.updated_at = definition, str(bank.version), self.clock()
        return changed

    def _store_version(self, session: Session, questionnaire: Questionnaire, text: str,
                       user_id: int | None) -> bool:
        """Store a new version and make it current; an unchanged version stored before changes nothing (a
        stale copy of an old file does not take the questionnaire back: that is a new version too)."""
        row = session.scalar(select(FollowUpQuestionnaire)
                             .where(FollowUpQuestionnaire.code == questionnaire.id))
        definition = _json(questionnaire.definition())
        stored = row and session.scalar(select(FollowUpQuestionnaireVersion).where(
            FollowUpQuestionnaireVersion.questionnaire_id == row.id,
            FollowUpQuestionnaireVersion.version == questionnaire.version))
        if stored and stored.definition != definition:
            raise VersionUnchanged(
                f"{questionnaire.path}: '{questionnaire.id}' changed but still says version "
                f"{questionnaire.version}: a changed questionnaire needs a new version (answers given in the "
                "stored one keep it)")
        if stored:
            return False
        if row is None:
            row = FollowUpQuestionnaire(code=questionnaire.id)
            session.add(row)
        row.title, row.kind = questionnaire.title[REQUIRED_LANGUAGE], questionnaire.kind
        row.current_version, row.updated_at = questionnaire.version, self.clock()
        session.flush()
        session.add(FollowUpQuestionnaireVersion(
            questionnaire_id=row.id, version=questionnaire.version, source_yaml=text, definition=definition,
            review_status=questionnaire.review_status, loaded_from=questionnaire.path or None,
            loaded_at=self.clock(), loaded_by_user_id=user_id))
        return True

    async def current(self, code: str) -> tuple[int, Questionnaire]:
        """The version new responses are given in: (version row id, questionnaire)."""
        version_id = await self.db.run(_current_version_id, code)
        return version_id, await self.version(version_id)

    async def version(self, version_id: int) -> Questionnaire:
        if version_id not in self._definitions:
            definition = await self.db.run(_definition, version_id)
            self._definitions[version_id] = Questionnaire.from_definition(definition)
        return self._definitions[version_id]

    # ---- responses and answers ----

    async def start_response(self, code: str, *, channel: str, patient_id: int | None = None,
                             study: str | None = None, call_id: str | None = None) -> int:
        """A new filling of the questionnaire's current version; `study` defaults to the questionnaire's."""
        _check_channel(channel)
        version_id, questionnaire = await self.current(code)
        response_id = await self.db.run(self._new_response, version_id, patient_id,
                                        study or questionnaire.study, channel, call_id)
        log.info("follow-up response %d started (questionnaire %s version %s)", response_id, code,
                 questionnaire.version)
        return response_id

    def _new_response(self, session: Session, version_id: int, patient_id: int | None, study: str | None,
                      channel: str, call_id: str | None) -> int:
        row = FollowUpResponse(questionnaire_version_id=version_id, patient_id=patient_id, study=study,
                               channel=channel, call_id=call_id, started_at=self.clock())
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # the call's console form started at once from two requests: the first stands
            raise AlreadyStarted("a questionnaire is already being filled on this call") from None
        return row.id

    async def record_answer(self, given: AnswerGiven) -> RecordedAnswer:
        _check_giver(given)
        version_id = await self.db.run(_response_version, given.response_id)
        questionnaire = await self.version(version_id)
        item = questionnaire.item(given.question_code)
        if item is None:
            raise NotAsked(f"'{given.question_code}' is not a question of {questionnaire.id} version "
                           f"{questionnaire.version}")
        value = answers.normalise(item.question, given.value)
        flags = tuple(answers.red_flags(item, value))
        answer_id, so_far = await self.db.run(self._store_answer, given, questionnaire, version_id, value,
                                              flags)
        following = answers.next_item(questionnaire, so_far)
        return RecordedAnswer(answer_id, item.code, value, questionnaire.version, flags,
                              following.code if following else None)

    def _store_answer(self, session: Session, given: AnswerGiven, questionnaire: Questionnaire,
                      version_id: int, value: Any, flags: tuple[RedFlag, ...]) -> tuple[int, dict[str, Any]]:
        so_far = _answers_so_far(session, given.response_id)
        if given.question_code in so_far:
            raise AlreadyAnswered(f"'{given.question_code}' is already answered in response "
                                  f"{given.response_id}")
        item = questionnaire.item(given.question_code)
        if item not in answers.shown_items(questionnaire, so_far):
            raise NotAsked(f"'{given.question_code}' is not asked given the answers so far (its skip logic)")
        row = FollowUpAnswer(
            response_id=given.response_id, questionnaire_version_id=version_id,
            question_code=given.question_code, value={"value": value}, answered_at=self.clock(),
            channel=given.channel, answered_by=given.answered_by,
            agent_user_id=given.agent_user_id, call_id=given.call_id,
            red_flag_disposition=flags[0].disposition if flags else None,
            red_flag_escalation=flags[0].escalation if flags else None)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # the same question answered at once from two places: the first one stands
            raise AlreadyAnswered(f"'{given.question_code}' is already answered in response "
                                  f"{given.response_id}") from None
        return row.id, so_far | {given.question_code: value}

    # ---- delivery on the console and on paper ----

    async def catalogue(self) -> list[dict[str, Any]]:
        """The questionnaires new responses can be given in: id, title, current version, kind."""
        return await self.db.run(_catalogue)

    async def suggested_for_call(self, call_id: str) -> str | None:
        """The questionnaire a call is placed for: the care plan's, when the follow-up desk dialed the call
        for one of its follow-ups (care_plan_followups.last_call_id); None otherwise."""
        return await self.db.run(_plan_questionnaire, call_id)

    async def response_of_call(self, call_id: str, channel: str = "console") -> int | None:
        """The newest response of this channel started on the call (a reload finds the form again)."""
        return await self.db.run(_response_of_call, call_id, channel)

    async def response_view(self, response_id: int, language: str = REQUIRED_LANGUAGE) -> dict[str, Any]:
        """A response as a form shows it (see `form_view`), with the answers given so far."""
        row, so_far, flags = await self.db.run(_response_and_answers, response_id)
        questionnaire = await self.version(row.questionnaire_version_id)
        return {"response_id": row.id, "channel": row.channel, "call_id": row.call_id,
                "patient_id": row.patient_id} | form_view(questionnaire, so_far, flags, language)

    async def questionnaire_of(self, response_id: int) -> Questionnaire:
        """The questionnaire version the response is given in."""
        return await self.version(await self.db.run(_response_version, response_id))

    async def patient_header(self, response_id: int, actor: AuditActor) -> dict[str, Any] | None:
        """Name, MRN and date of birth of the response's patient for its paper sheet: a read of the record,
        audited in the same transaction. None when the response names no patient."""
        return await self.db.run(_audited_header, response_id, actor)

    # ---- the console's designer ----

    async def designer_bank(self, bank: Bank) -> Bank:
        """`bank` (the file's) with the questions the designer added before (stored, not in the file)."""
        return await self.db.run(_with_stored_questions, bank)

    async def save_design(self, draft: dict[str, Any], bank: Bank, *, user_id: int | None,
                          ladder: Any = None) -> Design:
        """Check a designer's draft with the files' validator and store it as a NEW version (a version
        stored before, in use or not, is never changed). What the designer saves is example content needing
        clinical review, as the shipped files are, whatever the draft says: approval is a reviewed commit."""
        draft = {**draft, "review_status": EXAMPLE_CONTENT}
        design = check(draft, await self.designer_bank(bank), ladder)
        questionnaire = design.questionnaire
        if await self.db.run(_version_stored, questionnaire.id, questionnaire.version):
            raise DraftInvalid([Problem("version", f"version: {questionnaire.version} of "
                                        f"'{questionnaire.id}' is stored already: a changed questionnaire "
                                        "needs a new version")])
        await self.load(design.bank, [(questionnaire, design.text)], user_id)
        return design

    # ---- export ----

    async def export(self, study: str, *, actor_user_id: int | None,
                     pseudonym_key: bytes | None = None) -> list[dict[str, Any]]:
        """One row per answer given in `study`, oldest first (EXPORT_FIELDS). With `pseudonym_key` the patient
        is a keyed pseudonym (the same patient, the same pseudonym within the study, a different one in
        another study) and the identifying fields are left out. Audited in the same transaction."""
        return await self.db.run(_export, study, actor_user_id, pseudonym_key)


def pseudonym(key: bytes, study: str, patient_id: int) -> str:
    """HMAC-SHA256 of study and patient id: without the key, no one can turn it back into the patient."""
    return hmac.new(key, f"{study}:{patient_id}".encode(), hashlib.sha256).hexdigest()[:20]


def red_flag_fact(ladder: Any, questionnaire: Questionnaire, code: str, flag: RedFlag) -> dict[str, Any]:
    """The data of the `triage_disposition` call event a red-flag answer writes on its call: the same fact a
    triage protocol's red flag writes (triage/services.py), so the triage panel shows its escalation, the
    wrap-up rule holds the call until it is performed, and the KPIs count it. The protocol is named
    `followup:<questionnaire id>` and the deciding question by its code."""
    rung = ladder[flag.disposition]
    return {"protocol": f"followup:{questionnaire.id}", "version": questionnaire.version,
            "disposition": flag.disposition, "decided_by": code, "action": rung.action,
            "escalation_required": rung.escalation_required, "rank": rung.rank,
            "satisfied_by": list(rung.satisfied_by), "escalation": flag.escalation}


def form_view(questionnaire: Questionnaire, so_far: dict[str, Any], flags: dict[str, dict],
              language: str = REQUIRED_LANGUAGE) -> dict[str, Any]:
    """What a form (console or paper) shows: every question with its limits, whether the skip logic shows
    it given the answers so far, its answer and the red flag it raised; the next question; done (every shown
    question answered but spoken ones; an optional question may stay unanswered, the agent moves past it)."""
    shown_items = answers.shown_items(questionnaire, so_far)
    shown = {i.code for i in shown_items}
    # A spoken answer is recorded by phone only: a form goes past it.
    following = next((i for i in shown_items if i.code not in so_far and i.question.type != RECORDED), None)
    return {"questionnaire": {"id": questionnaire.id, "version": questionnaire.version,
                              "title": _said(questionnaire.title, language), "kind": questionnaire.kind,
                              "review_status": questionnaire.review_status},
            "items": [_item_view(i, language, i.code in shown, so_far, flags) for i in questionnaire.items],
            "next": following.code if following else None, "done": following is None}


def _item_view(item: Item, language: str, shown: bool, so_far: dict[str, Any],
               flags: dict[str, dict]) -> dict[str, Any]:
    q = item.question
    return {"code": q.code, "type": q.type, "text": _said(q.text, language), "required": item.required,
            "choices": [{"key": c.key, "text": _said(c.text, language)} for c in q.choices],
            "min": q.min, "max": q.max, "unit": q.unit, "decimals": q.decimals, "max_length": q.max_length,
            "show_if": [{"question": c.question, "op": c.op, "value": c.value} for c in item.show_if],
            "shown": shown, "answered": q.code in so_far, "answer": so_far.get(q.code),
            "red_flag": flags.get(q.code)}


def _said(texts: Any, language: str) -> str:
    return texts.get(language) or texts[REQUIRED_LANGUAGE]


def _catalogue(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(FollowUpQuestionnaire).order_by(FollowUpQuestionnaire.title))
    return [{"id": r.code, "title": r.title, "version": r.current_version, "kind": r.kind} for r in rows]


def _plan_questionnaire(session: Session, call_id: str) -> str | None:
    return session.scalar(select(CarePlan.questionnaire_code)
                          .join(CarePlanFollowUp, CarePlanFollowUp.plan_id == CarePlan.id)
                          .where(CarePlanFollowUp.last_call_id == call_id).limit(1))


def _response_of_call(session: Session, call_id: str, channel: str) -> int | None:
    return session.scalar(select(FollowUpResponse.id).where(
        FollowUpResponse.call_id == call_id, FollowUpResponse.channel == channel)
        .order_by(FollowUpResponse.id.desc()).limit(1))


def _response_and_answers(session: Session, response_id: int):
    row = session.get(FollowUpResponse, response_id)
    if row is None:
        raise UnknownResponse(f"no follow-up response {response_id}")
    answers_ = session.scalars(select(FollowUpAnswer).where(FollowUpAnswer.response_id == response_id))
    so_far, flags = {}, {}
    for answer in answers_:
        so_far[answer.question_code] = answer.value["value"]
        if answer.red_flag_disposition:
            flags[answer.question_code] = {"disposition": answer.red_flag_disposition,
                                           "escalation": answer.red_flag_escalation}
    session.expunge(row)
    return row, so_far, flags


def _audited_header(session: Session, response_id: int, actor: AuditActor) -> dict[str, Any] | None:
    row = session.get(FollowUpResponse, response_id)
    if row is None:
        raise UnknownResponse(f"no follow-up response {response_id}")
    patient = session.get(Patient, row.patient_id) if row.patient_id is not None else None
    if patient is None:
        return None
    add_audit_event(session, "followup_paper_sheet", actor=actor, patient_id=patient.id,
                    detail={"response_id": response_id})
    return {"name": f"{patient.given_name} {patient.family_name}", "mrn": patient.mrn,
            "date_of_birth": patient.date_of_birth.isoformat()}


def _with_stored_questions(session: Session, bank: Bank) -> Bank:
    rows = session.scalars(select(FollowUpQuestion))
    stored = {row.code: Question.from_json(row.definition) for row in rows
              if row.code not in bank.questions and row.definition}
    return dataclasses.replace(bank, questions={**bank.questions, **stored}) if stored else bank


def _version_stored(session: Session, code: str, version: str) -> bool:
    return session.scalar(select(FollowUpQuestionnaireVersion.id).join(FollowUpQuestionnaire).where(
        FollowUpQuestionnaire.code == code, FollowUpQuestionnaireVersion.version == version)) is not None


def _export(session: Session, study: str, actor_user_id: int | None,
            pseudonym_key: bytes | None) -> list[dict[str, Any]]:
    query = (select(FollowUpAnswer, FollowUpResponse, FollowUpQuestionnaireVersion.version,
                    FollowUpQuestionnaire.code, FollowUpQuestion.type, FollowUpQuestion.unit)
             .join(FollowUpResponse, FollowUpAnswer.response_id == FollowUpResponse.id)
             .join(FollowUpQuestionnaireVersion,
                   FollowUpAnswer.questionnaire_version_id == FollowUpQuestionnaireVersion.id)
             .join(FollowUpQuestionnaire,
                   FollowUpQuestionnaireVersion.questionnaire_id == FollowUpQuestionnaire.id)
             .join(FollowUpQuestion, FollowUpQuestion.code == FollowUpAnswer.question_code)
             .where(FollowUpResponse.study == study).order_by(FollowUpAnswer.id))
    rows = [_export_row(*found) for found in session.execute(query)]
    if pseudonym_key is not None:
        rows = [_pseudonymised(row, pseudonym_key, study) for row in rows]
    add_audit_event(session, "followup_export", actor_user_id=actor_user_id,
                    detail={"study": study, "rows": len(rows), "pseudonymised": pseudonym_key is not None})
    return rows


def _export_row(answer: FollowUpAnswer, response: FollowUpResponse, version: str, questionnaire: str,
                kind: str, unit: str | None) -> dict[str, Any]:
    return {"response_id": response.id, "patient": response.patient_id, "questionnaire": questionnaire,
            "version": version, "question_code": answer.question_code, "question_type": kind,
            "value": answer.value["value"], "unit": unit, "answered_at": answer.answered_at.isoformat(),
            "channel": answer.channel, "answered_by": answer.answered_by,
            "agent_user_id": answer.agent_user_id,
            "call_id": answer.call_id, "red_flag_disposition": answer.red_flag_disposition,
            "red_flag_escalation": answer.red_flag_escalation}


def _pseudonymised(row: dict[str, Any], key: bytes, study: str) -> dict[str, Any]:
    patient = row["patient"]
    row = {k: v for k, v in row.items() if k not in IDENTIFYING_FIELDS}
    return row | {"patient": pseudonym(key, study, patient) if patient is not None else None}


def export_fields(pseudonymised: bool) -> tuple[str, ...]:
    return tuple(f for f in EXPORT_FIELDS if not (pseudonymised and f in IDENTIFYING_FIELDS))


def export_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps({"answers": rows}, ensure_ascii=False, indent=1)


def export_csv(rows: list[dict[str, Any]], pseudonymised: bool) -> str:
    """Through the product's one CSV writer (its formula guard quotes a free text such as "=1+1")."""
    fields = export_fields(pseudonymised)
    return csv_text(fields, ([_csv_value(row[f]) if f == "value" else row[f] for f in fields]
                             for row in rows))


def _csv_value(value: Any) -> Any:
    """Yes/no as the words, a multiple choice as its keys joined by ';' (a cell holds one text)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return ";".join(value) if isinstance(value, list) else value


# ---- session-level reads ----

def _current_version_id(session: Session, code: str) -> int:
    found = session.scalar(
        select(FollowUpQuestionnaireVersion.id).join(FollowUpQuestionnaire)
        .where(FollowUpQuestionnaire.code == code,
               FollowUpQuestionnaireVersion.version == FollowUpQuestionnaire.current_version))
    if found is None:
        raise UnknownQuestionnaire(f"no questionnaire '{code}' is loaded")
    return found


def _definition(session: Session, version_id: int) -> dict:
    return session.get(FollowUpQuestionnaireVersion, version_id).definition


def _response_version(session: Session, response_id: int) -> int:
    response = session.get(FollowUpResponse, response_id)
    if response is None:
        raise UnknownResponse(f"no follow-up response {response_id}")
    return response.questionnaire_version_id


def _answers_so_far(session: Session, response_id: int) -> dict[str, Any]:
    rows = session.execute(select(FollowUpAnswer.question_code, FollowUpAnswer.value)
                           .where(FollowUpAnswer.response_id == response_id))
    return {code: value["value"] for code, value in rows}


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise FollowUpError(f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})")


def _check_giver(given: AnswerGiven) -> None:
    """The automated call answers only by phone and has no user; an agent's answer names the agent."""
    _check_channel(given.channel)
    if given.answered_by == AUTOMATED and (given.channel != "phone" or given.agent_user_id is not None):
        raise FollowUpError("an automated answer is given by phone and names no agent")
    if given.answered_by == AGENT and given.agent_user_id is None:
        raise FollowUpError("an agent's answer names the agent (agent_user_id)")
    if given.answered_by not in (AGENT, AUTOMATED):
        raise FollowUpError(f"answered_by is '{AGENT}' or '{AUTOMATED}'")


def _json(value: Any) -> Any:
    """As the JSON column gives it back (tuples as lists), so stored and new definitions compare equal."""
    return json.loads(json.dumps(value))

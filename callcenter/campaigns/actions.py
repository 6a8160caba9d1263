"""What an automated campaign call does to the record when the patient presses a key: the `action` nodes of
the campaign flows (ivr_flows/appointment-reminder.yaml, ...), by name.

| action                | args                                   | results (wired in the flow's `outcomes`) |
| --------------------- | -------------------------------------- | ---------------------------------------- |
| `appointment.confirm` |                                        | confirmed, not_possible                  |
| `appointment.cancel`  |                                        | cancelled, not_possible                  |
| `opt_out`             | scope: kind (default) or all           | (next)                                   |
| `survey.record`       | question (default overall); the score  | invalid                                  |
|                       | is the context's `survey.score` (1-5)  |                                          |
| `callback.urgent`     | queue (default nurse), reason (a code) | (next)                                   |
| `outcome`             | outcome: completed, red_flag, ...      | (next)                                   |

Cancelling frees the slot: there is no slot table in this product, an appointment's slot is occupied exactly
while the appointment is booked or confirmed, so the status 'cancelled' is what gives the time back to
scheduling (the scheduling desk sees the slot free and may book it again). The row is kept (who cancelled,
when and how is in the audit log and the call's events), never deleted.

Every action writes a `campaign_outcome` call event {campaign, outcome, score?} that the KPIs read (issue 7),
once per outcome and call; `BoundActions.outcome` is the attempt's outcome for `CampaignService.finish`.
A confirm/cancel that is not possible writes outcome `not_possible`, an invalid survey key `invalid` (with
the action's name): the flow goes on, and a later outcome of the call replaces them as the attempt's.
No patient data is logged: ids only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ..callbacks.services import CallbackService, NewCallback
from ..db.database import Database
from ..db.models import DoNotCall, SurveyResponse
from ..eventlog import EventLog, utcnow
from ..followup.exceptions import UnknownQuestionnaire
from ..followup.phone import PhoneFollowUp
from ..followup.schema import load_questionnaires
from ..followup.services import QuestionnaireService
from ..ivr.catalog import PromptCatalog
from ..ivr.flow import Flow, FollowUpNode, QuestionnaireNode, Registry, load_flow
from ..patients.appointments import ACTIVE_STATUSES, change_by_patient
from ..triage.schema import Ladder, load_ladder, load_protocols
from ..triage.services import TriageSession

log = logging.getLogger(__name__)

# name -> the results a flow must wire; any other result goes to the node's `next`.
ACTIONS: dict[str, tuple[str, ...]] = {
    "appointment.confirm": ("confirmed", "not_possible"),
    "appointment.cancel": ("cancelled", "not_possible"),
    "opt_out": (),
    "survey.record": ("invalid",),
    "callback.urgent": (),
    "outcome": (),
}
OUTCOMES = ("completed", "confirmed", "cancelled", "opted_out", "survey_done", "red_flag", "message_left",
            "no_answer_to_questions")
# Written by the actions themselves when a key could not be served; the flow goes on (retries, a person).
TENTATIVE_OUTCOMES = ("not_possible", "invalid")
CANCELLABLE = ACTIVE_STATUSES


class Job(Protocol):
    """What an action needs of the dial job (campaigns.services.DialJob)."""
    attempt_id: int
    target_id: int
    campaign: Any  # CampaignDef: name, kind, queue
    patient_id: int
    phone_e164: str
    subject_kind: str
    subject_id: int


def registry(protocols: Any = None, ladder: Any = None, followups: Any = None) -> Registry:
    """What campaign flows may name: these actions, the triage protocols for questionnaires, and the
    follow-up questionnaires (followup/questionnaires/) for `followup` nodes."""
    if protocols is None:
        ladder = load_ladder()
        protocols = load_protocols(ladder=ladder)
    if followups is None:
        followups = load_questionnaires(ladder=ladder)
    return Registry(actions=ACTIONS, protocols=protocols, ladder=ladder, questionnaire=TriageSession.start,
                    followups=followups)


class CampaignActions:
    """Shared by every campaign call (wired once); `bind` gives one call its runner."""

    def __init__(self, db: Database, events: EventLog, *, clock: Callable[[], datetime] = utcnow,
                 callbacks: CallbackService | None = None,
                 questionnaires: QuestionnaireService | None = None, ladder: Ladder | None = None):
        self.db, self.events, self.clock = db, events, clock
        self.callbacks = callbacks or CallbackService(db, clock=clock)
        self.questionnaires = questionnaires or QuestionnaireService(db, clock=clock)
        self.ladder = ladder or load_ladder()  # a follow-up red flag's rung, as triage's

    def bind(self, call_id: str, job: Job) -> "BoundActions":
        return BoundActions(self, call_id, job)


class BoundActions:
    """The actions of one campaign call: `await run(name, args, context) -> result` (calls/ivr.py)."""

    def __init__(self, actions: CampaignActions, call_id: str, job: Job):
        self.actions, self.call_id, self.job = actions, call_id, job
        self.outcome: str | None = None
        self._written: set[str] = set()

    async def run(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str:
        handler = _HANDLERS.get(name)
        if handler is None:  # the flow loader refuses unknown names; this is a flow loaded without them
            raise ValueError(f"unknown campaign action {name!r}")
        return await handler(self, args, context)

    async def followup(self, questionnaire: str) -> PhoneFollowUp | None:
        """A `followup` node's response, for the patient this call dialed (None: the questionnaire is not
        loaded into the database, so the flow takes the node's on_failure)."""
        try:
            return await PhoneFollowUp.start(self.actions.questionnaires, questionnaire, call_id=self.call_id,
                                             patient_id=self.job.patient_id, ladder=self.actions.ladder)
        except UnknownQuestionnaire:
            log.error("call %s: follow-up questionnaire %s is not loaded", self.call_id, questionnaire)
            return None

    # -- the actions --

    async def confirm(self, args: dict, context: dict) -> str:
        return await self._change("appointment.confirm", "confirmed", ("booked", "confirmed"))

    async def cancel(self, args: dict, context: dict) -> str:
        return await self._change("appointment.cancel", "cancelled", CANCELLABLE)

    async def _change(self, action: str, status: str, allowed: tuple[str, ...]) -> str:
        """confirm/cancel: the new status, or 'not_possible' (an outcome event too: reports and KPIs see
        the patients whose key could not be served)."""
        if await self._appointment(status, allowed):
            self._outcome(status)
            return status
        self._outcome("not_possible", action=action)
        return "not_possible"

    async def opt_out(self, args: dict, context: dict) -> str:
        job, now = self.job, self.actions.clock()
        kind = None if args.get("scope") == "all" else job.campaign.kind
        row = dict(patient_id=job.patient_id, campaign_kind=kind, source="ivr_key", call_id=self.call_id,
                   reason=f"opt-out key in campaign {job.campaign.name}", created_at=now)
        await self.actions.db.run(lambda s: s.add(DoNotCall(**row)))
        self._outcome("opted_out", scope="all" if kind is None else "kind")
        return "done"

    async def survey(self, args: dict, context: dict) -> str:
        score = survey_score(context.get("survey.score"))
        if score is None:
            self._outcome("invalid", action="survey.record")
            return "invalid"
        job = self.job
        row = dict(campaign_name=job.campaign.name, target_id=job.target_id, call_id=self.call_id,
                   patient_id=job.patient_id, question=str(args.get("question", "overall"))[:64], score=score,
                   created_at=self.actions.clock())
        await self.actions.db.run(lambda s: s.add(SurveyResponse(**row)))
        self._outcome("survey_done", event_outcome="survey_score", score=score)
        return "done"

    async def urgent_callback(self, args: dict, context: dict) -> str:
        """A red flag and no nurse free: a nurse calls back at once. The reason is codes only (campaign,
        protocol disposition): clinical detail stays in the call's triage events."""
        job, now = self.job, self.actions.clock()
        disposition = context.get("triage.disposition") or "unknown"
        code = args.get("reason", "red_flag")
        reason = f"{code}: automated call {job.campaign.name}, disposition {disposition}"
        new = NewCallback(patient_id=job.patient_id, phone_e164=job.phone_e164,
                          queue_name=args.get("queue", "nurse"), due_at=now, reason=reason,
                          origin_call_id=self.call_id, urgent=True)
        await self.actions.events.flush()  # the call's own row first: the callback points at it
        callback_id = await self.actions.callbacks.create(new)
        self.actions.events.event(self.call_id, "campaign_callback_created", callback_id=callback_id,
                                  campaign=job.campaign.name, urgent=True, queue_name=new.queue_name)
        self._outcome("red_flag", disposition=disposition, callback=True)
        return "done"

    async def set_outcome(self, args: dict, context: dict) -> str:
        outcome = args.get("outcome", "completed")
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown campaign outcome {outcome!r}")
        extra = {"disposition": context["triage.disposition"]} if "triage.disposition" in context else {}
        self._outcome(outcome, **extra)
        return "done"

    # -- helpers --

    async def _appointment(self, status: str, allowed: tuple[str, ...]) -> bool:
        job = self.job
        if job.subject_kind != "appointment":
            return False
        changed = await self.actions.db.run(_audited_appointment, job.subject_id, job.patient_id, status,
                                            allowed, self.actions.clock(), self.call_id, job.campaign.name)
        log.info("call %s: appointment %s %s: %s", self.call_id, job.subject_id, status,
                 "done" if changed else "not possible")
        return changed

    def _outcome(self, outcome: str, *, event_outcome: str | None = None, **data: Any) -> None:
        """The attempt's outcome, and its campaign_outcome event (once per outcome and call). A tentative
        outcome (not_possible, invalid: the flow goes on) does not replace one the call already has."""
        if outcome not in TENTATIVE_OUTCOMES or not self.outcome:
            self.outcome = outcome
        shown = event_outcome or outcome
        if shown in self._written:
            return
        self._written.add(shown)
        self.actions.events.event(self.call_id, "campaign_outcome", campaign=self.job.campaign.name,
                                  outcome=shown, target_id=self.job.target_id, attempt_id=self.job.attempt_id,
                                  **data)


def survey_score(value: Any) -> int | None:
    """A satisfaction score as the flow's menu set it ("4", 4): 1 to 5, else None. The one reading of it,
    for the campaign's survey and the survey after an inbound call (selfservice/survey.py)."""
    try:
        score = int(value)
    except (TypeError, ValueError):
        return None
    return score if 1 <= score <= 5 else None


def _audited_appointment(session: Session, appointment_id: int, patient_id: int, status: str,
                         allowed: tuple[str, ...], now: datetime, call_id: str, campaign: str) -> bool:
    """The patient's own change (an IVR key), audited in the transaction that makes it."""
    return change_by_patient(session, appointment_id, patient_id, status, allowed, now, call_id=call_id,
                             detail={"campaign": campaign, "via": "ivr_key"})


_HANDLERS = {
    "appointment.confirm": BoundActions.confirm, "appointment.cancel": BoundActions.cancel,
    "opt_out": BoundActions.opt_out, "survey.record": BoundActions.survey,
    "callback.urgent": BoundActions.urgent_callback, "outcome": BoundActions.set_outcome,
}
assert set(_HANDLERS) == set(ACTIONS)


def load_campaign_flow(path: str | Path, *, catalog: PromptCatalog | None = None,
                       known: Registry | None = None, protocol: str | None = None,
                       questionnaire: str | None = None) -> Flow:
    """An automated campaign flow (ivr_flows/<flow>.yaml), validated with the campaign actions and triage
    protocols (and, given a catalog, every prompt including the protocol questions).

    `protocol` (the campaign's `protocol:`) replaces the protocol of the flow's questionnaire: one follow-up
    flow serves a cardiology campaign (chest_pain) and a surgical one (surgical_wound). The flow is
    validated with its own protocol first; the campaign's must exist, cover the flow's languages, and
    the flow must have a questionnaire to ask it. `questionnaire` (the campaign's `questionnaire:`) likewise
    replaces the follow-up questionnaire of the flow's `followup` nodes."""
    known = known or registry()
    if catalog is not None:
        catalog = catalog.with_protocols(known.protocols.values())
        catalog = catalog.with_questionnaires(known.followups.values())
    flow = load_flow(path, catalog=catalog, registry=known)
    if questionnaire is not None:
        flow = with_questionnaire(flow, questionnaire, known, shown_as=str(path))
    return flow if protocol is None else with_protocol(flow, protocol, known, shown_as=str(path))


def with_questionnaire(flow: Flow, questionnaire_id: str, known: Registry, *, shown_as: str) -> Flow:
    """`flow` with every `followup` node asking `questionnaire_id`; CampaignError when that cannot be."""
    from .exceptions import CampaignError
    questionnaire = known.followups.get(questionnaire_id)
    if questionnaire is None:
        raise CampaignError([f"{shown_as}: unknown follow-up questionnaire {questionnaire_id!r}"])
    missing = [lang for lang in flow.languages
               if any(lang not in item.question.text for item in questionnaire.items)]
    if missing:
        raise CampaignError([f"{shown_as}: questionnaire '{questionnaire_id}' has no text in "
                             f"{', '.join(missing)}"])
    if not any(isinstance(node, FollowUpNode) for node in flow.nodes.values()):
        raise CampaignError([f"{shown_as}: the flow has no followup node, so the campaign's questionnaire "
                             f"'{questionnaire_id}' would never be asked"])
    nodes = {node_id: replace(node, questionnaire=questionnaire) if isinstance(node, FollowUpNode) else node
             for node_id, node in flow.nodes.items()}
    return replace(flow, nodes=MappingProxyType(nodes))


def with_protocol(flow: Flow, protocol_id: str, known: Registry, *, shown_as: str) -> Flow:
    """`flow` with every questionnaire asking `protocol_id`; CampaignError when that cannot be."""
    from .exceptions import CampaignError
    protocol = known.protocols.get(protocol_id)
    if protocol is None:
        raise CampaignError([f"{shown_as}: unknown triage protocol {protocol_id!r}"])
    missing = [lang for lang in flow.languages if lang not in protocol.languages]
    if missing:
        raise CampaignError([f"{shown_as}: protocol '{protocol_id}' has no text in {', '.join(missing)}"])
    if not any(isinstance(node, QuestionnaireNode) for node in flow.nodes.values()):
        raise CampaignError([f"{shown_as}: the flow asks no questionnaire, so the campaign's protocol "
                             f"'{protocol_id}' would never be asked"])
    nodes = {node_id: replace(node, protocol=protocol) if isinstance(node, QuestionnaireNode) else node
             for node_id, node in flow.nodes.items()}
    return replace(flow, nodes=MappingProxyType(nodes))

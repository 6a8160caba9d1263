"""Follow-up errors; each carries the HTTP status a view answers with."""
from __future__ import annotations

from ..errors import ServiceError
from ..yamlsource import SourceError


class QuestionnaireDataError(SourceError):
    """The question bank or a questionnaire file is broken: one `file:line: ...` each."""


class FollowUpError(ServiceError):
    status = 400


class InvalidAnswer(FollowUpError):
    """An answer that does not fit its question's type (out of range, not a choice, ...). The message names
    the question and the rule, never a typed text (it may name the patient)."""


class UnknownQuestionnaire(FollowUpError):
    status = 404


class UnknownResponse(FollowUpError):
    status = 404


class NotAsked(FollowUpError):
    """An answer to a question that is not in the response's questionnaire version, or that its skip logic
    hides given the answers so far."""
    status = 409


class AlreadyAnswered(FollowUpError):
    status = 409


class AlreadyStarted(FollowUpError):
    """A second console response on a call that has one (two "Start" requests at once: the first stands)."""
    status = 409


class VersionUnchanged(FollowUpError):
    """A stored questionnaire's content changed but its file kept the version: a new text needs a new
    version, or old answers would seem given to it."""
    status = 409


class QuestionChanged(FollowUpError):
    """A bank question's code was given another type or unit: answers under one code must stay comparable."""
    status = 409

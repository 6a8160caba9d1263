"""Triage errors; each carries the HTTP status a view answers with (the panel's API maps them one to one)."""
from __future__ import annotations

from ..errors import ServiceError
from ..yamlsource import SourceError


class TriageDataError(SourceError):
    """A protocol, the disposition ladder or the suggestion map is broken: one `file:line: ...` each."""


class TriageError(ServiceError):
    status = 400


class UnknownProtocol(TriageError):
    status = 404


class NoSession(TriageError):
    status = 404


class UnknownLanguage(TriageError):
    status = 400


class OutOfOrder(TriageError):
    """An answer to a question that is not the one on screen: questions are answered in acuity order."""
    status = 409


class TriageFinished(TriageError):
    """The first 'yes' (or 'no' to all) ended the questioning; the disposition stands."""
    status = 409


class SessionExists(TriageError):
    status = 409


class UnknownScript(TriageError):
    status = 404


class InvalidAge(TriageError):
    """An age that is not a whole number of days, weeks, months or years from 0."""
    status = 400

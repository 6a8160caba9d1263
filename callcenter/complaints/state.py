"""The ticket's state machine: which step applies in which status and where it leads.

received -> assigned -> in_progress <-> waiting_patient -> resolved -> closed; resolving is allowed from any
open status (a praise is often answered at once); a resolved or closed ticket can be reopened. A step that
does not apply raises TransitionNotAllowed, so a double click or a stale page is loud, never a silent jump.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..db.models import OPEN_COMPLAINT_STATUSES
from .exceptions import TransitionNotAllowed

# Statuses in which the due time runs (a ticket waiting for the patient is paused, not overdue).
RUNNING = ("received", "assigned", "in_progress")


@dataclass(frozen=True)
class Step:
    name: str
    allowed_from: tuple[str, ...]
    to: str
    by_handler: bool = True  # a handler's answer: the first one sets the time to first response


STEPS = {step.name: step for step in (
    Step("assign", ("received", "assigned", "in_progress", "waiting_patient"), "assigned"),
    Step("start", ("received", "assigned", "waiting_patient"), "in_progress"),
    Step("wait_patient", ("assigned", "in_progress"), "waiting_patient"),
    Step("resolve", OPEN_COMPLAINT_STATUSES, "resolved"),
    Step("close", ("resolved",), "closed"),
    Step("reopen", ("resolved", "closed"), "in_progress"),
)}


def next_status(step_name: str, status: str) -> str:
    step = STEPS.get(step_name)
    if step is None:
        raise TransitionNotAllowed(f"unknown step {step_name!r}")
    if status not in step.allowed_from:
        what, step_said = status.replace("_", " "), step_name.replace("_", " ")
        raise TransitionNotAllowed(f"a ticket that is {what} cannot {step_said}")
    return step.to


def steps_from(status: str) -> list[str]:
    """The steps the console offers for a ticket in `status`."""
    return [name for name, step in STEPS.items() if status in step.allowed_from]

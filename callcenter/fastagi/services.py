"""What the FastAGI scripts answer, without the AGI around them (server.py speaks it).

- `identify`: what a hospital's dialplan may know about the caller before it routes: how many patients have
  the caller's number, and, when exactly one does, their preferred language, VIP and chronic-care flags and
  whether they have an open complaint. With several candidates (a family landline) nobody is identified yet,
  so only the count is told. Each patient whose record was read is audited in the same transaction.
- `route`: the Stasis arguments that hand the call to the hotline with the menu choices the dialplan already
  made (ivr/presets.py), checked against the flow first so that a wrong choice fails in the dialplan, where
  the operator can see it, and not as a caller silently asked again.

Both run in the FastAGI connection's thread (never on the event loop), with a synchronous session each.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..db.database import Database
from ..db.queries import add_audit_event, has_open_complaint
from ..ivr.flow import Flow
from ..ivr.presets import checked, stasis_args
from ..phones import normalize
from ..screenpop.services import candidates

# The channel variables identify sets (README, "FastAGI"); every one is set on every answer, so a dialplan
# never reads a value left by an earlier script.
PATIENTS, LANGUAGE, VIP, CHRONIC, OPEN_COMPLAINT, CALLER_STATUS = (
    "CALLCENTER_PATIENTS", "CALLCENTER_LANGUAGE", "CALLCENTER_VIP", "CALLCENTER_CHRONIC",
    "CALLCENTER_OPEN_COMPLAINT", "CALLCENTER_CALLER_STATUS")
HOTLINE_FLOW = "hotline"


class ScriptError(Exception):
    """A request the script cannot answer; the message is for the operator (no patient data in it)."""


@dataclass(frozen=True)
class CallerFacts:
    caller_status: str
    patients: int = 0
    language: str = ""
    vip: bool = False
    chronic: bool = False
    open_complaint: bool = False

    def variables(self) -> dict[str, str]:
        return {CALLER_STATUS: self.caller_status, PATIENTS: str(self.patients), LANGUAGE: self.language,
                VIP: _flag(self.vip), CHRONIC: _flag(self.chronic),
                OPEN_COMPLAINT: _flag(self.open_complaint)}


class FastAgiScripts:
    def __init__(self, db: Database, default_region: str, flows: Mapping[str, Flow], app: str):
        self._db = db
        self._region = default_region
        self._flows = flows
        self._app = app

    def identify(self, caller_id: str, channel_id: str) -> CallerFacts:
        caller = normalize(caller_id, self._region)
        if caller.e164 is None:
            return CallerFacts(caller.status)
        with self._db.session() as session:
            found = candidates(session, caller.e164)
            facts = _facts(session, caller.status, found)
            for patient in found:
                add_audit_event(session, "fastagi_identify", patient_id=patient["id"],
                                detail={"channel": channel_id, "candidates": len(found)})
        return facts

    def route(self, args: list[str]) -> str:
        """The Stasis() argument string for the hotline with these choices (`MENU=KEY` each)."""
        flow = self._flows[HOTLINE_FLOW]
        choices, problems = checked(flow, args)
        if problems:
            raise ScriptError("; ".join(problems))
        return ",".join([self._app, "inbound", HOTLINE_FLOW, *stasis_args(choices)])


def _facts(session, caller_status: str, found: list[dict]) -> CallerFacts:
    if len(found) != 1:
        return CallerFacts(caller_status, len(found))
    patient = found[0]
    return CallerFacts(caller_status, 1, patient["language"] or "", "vip" in patient["flags"],
                       "chronic" in patient["flags"], has_open_complaint(session, patient["id"]))


def _flag(value: bool) -> str:
    return "1" if value else "0"

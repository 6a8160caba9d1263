"""The screen pop: who is calling, shown to the agent before they answer.

The patient lookup runs when the call arrives (during the IVR), so offering the call only sends what is
already known. Every pop is a view of patient records and writes one audit row per patient shown and person
shown it (each open console's viewer: the desk's user, or a supervisor watching the desk), in one transaction
before the pop is sent. Rows that cannot be written withhold the patients: the pop still rings the agent (the
caller must reach someone), as an unknown caller with `withheld` set, and the agent can search (audited).

PHI minimisation: the pop reaches the agent's console before anyone knows who is really on the line, so it
carries only what the identity check needs (per candidate: id, name, date of birth, MRN, language and the
flag codes such as vip / chronic, without their notes) plus the call's queue and IVR path. The clinical
record (allergies, conditions, visits, appointments, previous calls) is only sent once the agent confirmed
the identity, through the desk's audited record view (desk/services.py).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..db.database import Database
from ..db.models import Call as CallRow
from ..db.models import Patient, PatientFlag, PatientPhone
from ..db.queries import AuditActor, add_audit_event
from ..eventlog import utcnow
from ..phones import CallerNumber
from ..vocabulary import AGENT_ON_CALL, ENDED
from .notifier import AgentNotifier

log = logging.getLogger(__name__)

MAX_CANDIDATES = 10
# Told of each pop offered (not of a replay after a console reload) inside the transaction of its audit rows:
# (session, call id, agent id, candidate patient ids). The webhook outbox (webhooks/outbox.py), wired in main.
PopListener = Callable[[Session, str, int, list[int]], None]


class ScreenPopService:
    def __init__(self, db: Database, notifier: AgentNotifier, *, on_pop: PopListener | None = None):
        self._db = db
        self._notifier = notifier
        self._on_pop = on_pop

    async def lookup(self, caller: CallerNumber) -> list[dict]:
        if caller.e164 is None:
            return []
        return await self._db.run(candidates, caller.e164)

    async def offer(self, call, agent, audit_detail: dict | None = None) -> dict:
        """Send the pop to the desk's open consoles once its audit rows are written; what was sent."""
        consoles = self._notifier.consoles(agent.number)
        viewers = set(consoles.values()) or {AuditActor()}  # no console: still audited, for the desk
        message = await self._audited(self.build(call, agent), call, agent, viewers, audit_detail or {},
                                      self._on_pop)
        await self._notifier.send(agent.number, message, only=consoles)
        return message

    async def replay(self, call, agent, viewer: AuditActor) -> list[dict]:
        """What a console (re)opened during a call must be shown: the pop again (a console reloaded while the
        phone rings would otherwise lose who is calling) and, once answered, where the call is. Audited like
        the first pop, for the one who opened the console: it shows the same candidates again."""
        if call is None or call.agent is not agent or call.ended.is_set():
            return []
        pop = self.build(call, agent) | {"replayed": True}
        messages = [await self._audited(pop, call, agent, {viewer}, {"replayed": True})]
        if call.state.name in AGENT_ON_CALL:  # the states the agent's console has buttons for
            messages.append({"type": "call_state", "call_id": call.id, "state": call.state.name,
                             "direction": call.direction})
        return messages

    async def replay_ended(self, call_id: str, agent, viewer: AuditActor) -> list[dict]:
        """What a console (re)opened in wrap-up must be shown: the call that just ended, from its row (the
        live call is gone), so the agent writes its disposition with the call in view. Audited as a replay,
        in the transaction that reads the candidates; nothing for a call that was not this desk's."""
        pop = await self._db.run(_ended_pop, call_id, agent.id, agent.number, viewer)
        if pop is None:
            return []
        ended = {"type": "call_state", "call_id": call_id, "state": ENDED, "direction": pop["direction"]}
        return [pop, ended]

    async def _audited(self, message: dict, call, agent, viewers: set[AuditActor], detail: dict,
                       on_pop: PopListener | None = None) -> dict:
        """The message once its audit rows are in the database; without its patients if they cannot be."""
        rows = [(viewer, patient["id"] if patient else None) for viewer in sorted(viewers, key=_order)
                for patient in call.patients or [None]]
        detail = {"candidates": len(call.patients)} | detail
        try:
            await self._db.run(_audit_pop, call.id, agent.id, rows, detail, on_pop)
        except Exception:
            log.exception("call %s: the screen pop's audit rows failed: pop sent without patients", call.id)
            return message | {"known": False, "patients": [], "withheld": True}
        return message

    def build(self, call, agent) -> dict:
        return {
            "type": "screen_pop",
            "call_id": call.id,
            "sent_at": utcnow().isoformat(),
            "queue": call.queue_name,
            "language": call.language,
            "caller": {"number": call.caller.e164, "status": call.caller.status},
            "known": bool(call.patients),
            "patients": call.patients,
            "ivr_path": call.ivr.path,
            "agent": agent.number,
        } | call.flavour.pop_extras(call)


def _order(viewer: AuditActor) -> tuple:
    return (viewer.user_id or 0, viewer.api_client or "")


def _audit_pop(session: Session, call_id: str, agent_id: int, rows: list[tuple[AuditActor, int | None]],
               detail: dict, on_pop: PopListener | None) -> None:
    """One audit row per patient shown and viewer, and (one per pop) the listener's rows, together."""
    for viewer, patient_id in rows:
        add_audit_event(session, "screen_pop", actor=viewer, actor_agent_id=agent_id, call_id=call_id,
                        patient_id=patient_id, detail=detail)
    if on_pop is not None:
        on_pop(session, call_id, agent_id, sorted({p for _, p in rows if p is not None}))


def _ended_pop(session: Session, call_id: str, agent_id: int, agent_number: str,
               viewer: AuditActor) -> dict | None:
    row = session.get(CallRow, call_id)
    if row is None or row.agent_id != agent_id:
        return None
    # Whom the pop offered; once the agent confirmed one (the row's patient), that one.
    ids = [row.patient_id] if row.patient_id is not None else list(row.candidate_patient_ids or [])
    patients = [identity_candidate(p) for p in session.scalars(select(Patient).where(Patient.id.in_(ids)))]
    _audit_pop(session, call_id, agent_id, [(viewer, p["id"]) for p in patients] or [(viewer, None)],
               {"candidates": len(patients), "replayed": True, "ended": True}, None)
    return {"type": "screen_pop", "call_id": call_id, "sent_at": utcnow().isoformat(),
            "queue": row.queue_name, "language": row.language,
            "caller": {"number": row.caller_e164, "status": row.caller_status}, "known": bool(patients),
            "patients": patients, "ivr_path": list(row.ivr_path or []), "agent": agent_number,
            "direction": row.direction, "replayed": True, "ended": True}


def candidates(session: Session, e164: str) -> list[dict]:
    """The patients a caller with this number may be (identity candidates, at most MAX_CANDIDATES): the one
    lookup of the pop, the IVR and FastAGI's identify. Every caller's call runs it, so it reads plain rows
    with two prebuilt statements (the patients, then their flags) instead of ORM objects whose flags load
    one patient at a time; the candidates are those of `find_patients_by_phone`, in its order."""
    connection = session.connection()
    people = connection.execute(_CANDIDATES, {"e164": e164}).all()
    if not people:
        return []
    flags: dict[int, list[str]] = {}
    for patient_id, flag in connection.execute(_FLAGS, {"ids": [p.id for p in people]}):
        flags.setdefault(patient_id, []).append(flag)
    return [_candidate(p.id, f"{p.given_name} {p.family_name}", p.date_of_birth, p.mrn, p.language,
                       flags.get(p.id, [])) for p in people]


def identity_candidate(patient: Patient) -> dict:
    """One candidate of a pop: enough to ask "are you ...?" and to route (the IVR reads the language),
    nothing clinical. Flag notes are free text that may be clinical ("Dialysis Tuesdays"): codes only."""
    return _candidate(patient.id, patient.full_name, patient.date_of_birth, patient.mrn, patient.language,
                      [f.flag for f in patient.flags])


def _candidate(patient_id: int, name: str, date_of_birth: date, mrn: str, language: str,
               flags: list[str]) -> dict:
    return {"id": patient_id, "name": name, "date_of_birth": date_of_birth.isoformat(), "mrn": mrn,
            "language": language, "flags": sorted(flags)}


_PATIENTS, _PHONES, _FLAG_ROWS = Patient.__table__.c, PatientPhone.__table__.c, PatientFlag.__table__.c
_CANDIDATES = (select(_PATIENTS.id, _PATIENTS.given_name, _PATIENTS.family_name, _PATIENTS.date_of_birth,
                      _PATIENTS.mrn, _PATIENTS.language)
               .where(_PATIENTS.id.in_(select(_PHONES.patient_id).where(_PHONES.e164 == bindparam("e164"))))
               .order_by(_PATIENTS.family_name, _PATIENTS.given_name, _PATIENTS.id).limit(MAX_CANDIDATES))
_FLAGS = select(_FLAG_ROWS.patient_id, _FLAG_ROWS.flag).where(
    _FLAG_ROWS.patient_id.in_(bindparam("ids", expanding=True)))

"""ScreenPopService: who is calling, what the agent's console receives, and the audit trail of each pop."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import select

from callcenter.calls.flavour import Inbound
from callcenter.db.models import Allergy, AuditEvent, Condition, Patient, PatientFlag, PatientPhone
from callcenter.phones import CallerNumber, normalize
from callcenter.screenpop.notifier import AgentNotifier
from callcenter.screenpop.services import ScreenPopService

LANDLINE = "+14155550150"


@dataclass
class FakeAgent:
    id: int = 7
    number: str = "1001"


@dataclass
class FakeCall:
    caller: CallerNumber
    patients: list[dict]
    id: str = "f" * 32
    queue_name: str = "general"
    language: str = "es"
    ivr_path: list[dict] = field(default_factory=lambda: [{"node": "main", "key": "1"}])
    flavour: Inbound = field(default_factory=Inbound)


class FakeSocket:
    """What AgentNotifier needs from a console websocket."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send_json(self, message: dict) -> None:
        self.sent.append(message)


@pytest.fixture
def household(seeded_db) -> dict[str, int]:
    """Two patients sharing a landline, and one with a mobile of her own."""
    people = {"MRN1": ("Ana", "Garcia", [LANDLINE]), "MRN2": ("Luis", "Garcia", [LANDLINE]),
              "MRN3": ("Emily", "Johnson", ["+14155550101"])}
    with seeded_db.session() as session:
        for mrn, (given, family, phones) in people.items():
            session.add(Patient(mrn=mrn, given_name=given, family_name=family, date_of_birth=date(1970, 1, 1),
                                phones=[PatientPhone(e164=e164) for e164 in phones]))
    with seeded_db.session() as session:
        return {p.mrn: p.id for p in session.scalars(select(Patient))}


@pytest.fixture
def console() -> FakeSocket:
    return FakeSocket()


@pytest.fixture
def pops(seeded_db, events, console) -> ScreenPopService:
    notifier = AgentNotifier()
    notifier.attach("1001", console)
    return ScreenPopService(seeded_db, events, notifier)


async def audit_rows(db, events) -> list[AuditEvent]:
    await events.flush()
    return await db.run(lambda s: s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all())


async def test_given_number_shared_by_two_patients_when_looked_up_then_both_are_candidates(pops, household):
    patients = await pops.lookup(normalize("(415) 555-0150", "US"))

    assert sorted(p["id"] for p in patients) == sorted([household["MRN1"], household["MRN2"]])
    assert {p["mrn"] for p in patients} == {"MRN1", "MRN2"}


async def test_given_shared_number_when_offered_then_pop_lists_all_and_one_audit_row_per_patient(
        pops, household, console, seeded_db, events):
    caller = normalize(LANDLINE, "US")
    call = FakeCall(caller, await pops.lookup(caller))

    message = await pops.offer(call, FakeAgent())

    assert console.sent == [message]
    assert message["type"] == "screen_pop" and message["known"] is True
    assert {p["mrn"] for p in message["patients"]} == {"MRN1", "MRN2"}
    assert message["caller"] == {"number": LANDLINE, "status": "valid"}
    assert (message["call_id"], message["agent"], message["queue"], message["language"]) == (
        call.id, "1001", "general", "es")
    assert message["ivr_path"] == [{"node": "main", "key": "1"}]
    rows = await audit_rows(seeded_db, events)
    assert sorted(r.patient_id for r in rows) == sorted([household["MRN1"], household["MRN2"]])
    assert {(r.action, r.call_id, r.actor_agent_id) for r in rows} == {("screen_pop", call.id, 7)}
    assert [r.detail for r in rows] == [{"candidates": 2}, {"candidates": 2}]


async def test_given_one_patients_number_when_offered_then_known_with_one_audit_row(
        pops, household, console, seeded_db, events):
    caller = normalize("415-555-0101", "US")
    call = FakeCall(caller, await pops.lookup(caller))

    message = await pops.offer(call, FakeAgent())

    assert [p["id"] for p in message["patients"]] == [household["MRN3"]]
    assert [r.patient_id for r in await audit_rows(seeded_db, events)] == [household["MRN3"]]


@pytest.mark.parametrize(("raw", "status"), [("+14155550199", "valid"), ("anonymous", "anonymous"),
                                             ("", "anonymous"), ("12", "malformed"), ("call me", "malformed")])
async def test_given_unknown_anonymous_or_malformed_caller_when_offered_then_unknown_pop_audited_without_patient(
        pops, household, console, seeded_db, events, raw, status):
    caller = normalize(raw, "US")
    assert caller.status == status
    call = FakeCall(caller, await pops.lookup(caller))

    message = await pops.offer(call, FakeAgent())

    assert message["known"] is False and message["patients"] == []
    assert message["caller"]["status"] == status
    assert console.sent == [message]
    rows = await audit_rows(seeded_db, events)
    assert [(r.action, r.patient_id, r.call_id, r.detail) for r in rows] == [
        ("screen_pop", None, call.id, {"candidates": 0})]


async def test_given_patient_with_clinical_record_when_offered_then_pop_carries_identity_and_flag_codes_only(
        pops, console, seeded_db, events):
    with seeded_db.session() as session:
        patient = Patient(mrn="MRN9", given_name="Rosa", family_name="Diaz", date_of_birth=date(1948, 3, 2),
                          language="es", phones=[PatientPhone(e164="+14155550109")],
                          flags=[PatientFlag(flag="vip", note="Board member"),
                                 PatientFlag(flag="chronic", note="Dialysis Tuesdays and Thursdays")])
        session.add(patient)
        session.flush()
        session.add(Allergy(patient_id=patient.id, substance="Penicillin", reaction="rash"))
        session.add(Condition(patient_id=patient.id, name="Chronic kidney disease", chronic=True))
        patient_id = patient.id
    caller = normalize("+14155550109", "US")
    call = FakeCall(caller, await pops.lookup(caller))

    message = await pops.offer(call, FakeAgent())

    assert message["patients"] == [{"id": patient_id, "name": "Rosa Diaz", "date_of_birth": "1948-03-02",
                                    "mrn": "MRN9", "language": "es", "flags": ["chronic", "vip"]}]
    sent = str(console.sent)
    for clinical in ("Penicillin", "kidney", "Dialysis", "Board member"):
        assert clinical not in sent, f"{clinical!r} must not reach the console before the identity check"
    rows = await audit_rows(seeded_db, events)
    assert [(r.action, r.patient_id, r.call_id) for r in rows] == [("screen_pop", patient_id, call.id)]


async def test_given_agent_console_closed_when_offered_then_pop_still_audited(seeded_db, events, household):
    pops = ScreenPopService(seeded_db, events, AgentNotifier())
    caller = normalize(LANDLINE, "US")
    call = FakeCall(caller, await pops.lookup(caller))

    await pops.offer(call, FakeAgent())

    assert len(await audit_rows(seeded_db, events)) == 2


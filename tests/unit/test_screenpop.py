"""ScreenPopService: who is calling, what the agent's console receives, and the audit trail of each pop."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from callcenter.calls.flavour import Inbound
from callcenter.calls.services import CallIvr
from callcenter.db.models import Allergy, AuditEvent, Condition, Patient, PatientFlag, PatientPhone
from callcenter.db.queries import AuditActor, find_patients_by_phone
from callcenter.phones import CallerNumber, normalize
from callcenter.screenpop.notifier import AgentNotifier
from callcenter.screenpop.services import MAX_CANDIDATES, ScreenPopService

from ..audit_faults import audit_rows_refused

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
    ivr: CallIvr = field(default_factory=lambda: CallIvr(path=[{"node": "main", "key": "1"}]))
    flavour: Inbound = field(default_factory=Inbound)
    agent: FakeAgent | None = None
    state: object = field(default_factory=lambda: SimpleNamespace(name="offering"))
    ended: asyncio.Event = field(default_factory=asyncio.Event)


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
def notifier(console) -> AgentNotifier:
    notifier = AgentNotifier()
    notifier.attach("1001", console)
    return notifier


@pytest.fixture
def pops(seeded_db, notifier) -> ScreenPopService:
    return ScreenPopService(seeded_db, notifier)


async def audit_rows(db, events=None) -> list[AuditEvent]:
    """The audit rows as they are now: a pop's rows are written before it is sent, never queued."""
    return await db.run(lambda s: s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all())


async def test_given_number_shared_by_two_patients_when_looked_up_then_both_are_candidates(pops, household):
    patients = await pops.lookup(normalize("(415) 555-0150", "US"))

    assert sorted(p["id"] for p in patients) == sorted([household["MRN1"], household["MRN2"]])
    assert {p["mrn"] for p in patients} == {"MRN1", "MRN2"}


async def test_given_more_patients_on_a_number_than_a_pop_shows_when_looked_up_then_the_first_by_name_with_their_flags(  # noqa: E501
        pops, seeded_db):
    with seeded_db.session() as session:
        for n in range(MAX_CANDIDATES + 2):  # a care home's switchboard, say
            flags = [PatientFlag(flag="vip"), PatientFlag(flag="chronic")] if n == 3 else []
            session.add(Patient(mrn=f"CH{n}", given_name=f"Resident{n:02d}", family_name="Home",
                                date_of_birth=date(1930, 1, 1 + n), phones=[PatientPhone(e164=LANDLINE)],
                                flags=flags))
    with seeded_db.session() as session:
        expected = [p.id for p in find_patients_by_phone(session, LANDLINE)][:MAX_CANDIDATES]

    patients = await pops.lookup(normalize(LANDLINE, "US"))

    assert [p["id"] for p in patients] == expected
    assert [p["name"] for p in patients][:2] == ["Resident00 Home", "Resident01 Home"]
    assert [p["flags"] for p in patients][2:5] == [[], ["chronic", "vip"], []]
    assert patients[0]["date_of_birth"] == "1930-01-01"


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
                                             ("", "anonymous"), ("12", "malformed"),
                                             ("call me", "malformed")])
async def test_given_unknown_anonymous_or_malformed_caller_when_offered_then_unknown_pop_audited_sans_patient(
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
    pops = ScreenPopService(seeded_db, AgentNotifier())
    caller = normalize(LANDLINE, "US")
    call = FakeCall(caller, await pops.lookup(caller))

    await pops.offer(call, FakeAgent())

    assert len(await audit_rows(seeded_db, events)) == 2



async def test_given_agent_and_supervisor_consoles_on_desk_when_offered_then_each_viewer_audited_before_send(
        seeded_db, household):
    agent_console, supervisor_console = FakeSocket(), FakeSocket()
    notifier = AgentNotifier()
    notifier.attach("1001", agent_console, AuditActor(user_id=41))
    notifier.attach("1001", supervisor_console, AuditActor(user_id=42))
    pops = ScreenPopService(seeded_db, notifier)
    caller = normalize("+14155550101", "US")
    call = FakeCall(caller, await pops.lookup(caller))

    message = await pops.offer(call, FakeAgent())

    assert agent_console.sent == supervisor_console.sent == [message]
    rows = await audit_rows(seeded_db)
    assert sorted((r.actor_user_id, r.actor_agent_id, r.patient_id) for r in rows) == [
        (41, 7, household["MRN3"]), (42, 7, household["MRN3"])]


async def test_given_api_client_watching_desk_when_offered_then_audit_row_names_the_client(
        seeded_db, household):
    notifier = AgentNotifier()
    notifier.attach("1001", FakeSocket(), AuditActor(api_client="wallboard-kiosk"))
    pops = ScreenPopService(seeded_db, notifier)
    caller = normalize("+14155550101", "US")

    await pops.offer(FakeCall(caller, await pops.lookup(caller)), FakeAgent())

    [row] = await audit_rows(seeded_db)
    assert (row.actor_user_id, row.detail) == (
        None, {"candidates": 1, "via": "api", "api_client": "wallboard-kiosk"})


async def test_given_audit_rows_refused_when_offered_then_pop_rings_without_patients(
        pops, household, console, seeded_db):
    caller = normalize(LANDLINE, "US")
    call = FakeCall(caller, await pops.lookup(caller))

    with audit_rows_refused(seeded_db):
        message = await pops.offer(call, FakeAgent())

    assert console.sent == [message]
    shown = (message["type"], message["call_id"], message["known"], message["patients"], message["withheld"])
    assert shown == ("screen_pop", call.id, False, [], True)
    assert "Garcia" not in str(console.sent) and "MRN1" not in str(console.sent)
    assert await audit_rows(seeded_db) == []


async def test_given_console_reopened_while_ringing_when_replayed_then_audited_for_who_opened_it(
        pops, household, seeded_db):
    agent = FakeAgent()
    caller = normalize("+14155550101", "US")
    call = FakeCall(caller, await pops.lookup(caller), agent=agent)

    [pop] = await pops.replay(call, agent, AuditActor(user_id=42))

    assert pop["replayed"] is True and [p["id"] for p in pop["patients"]] == [household["MRN3"]]
    [row] = await audit_rows(seeded_db)
    assert (row.action, row.actor_user_id, row.actor_agent_id, row.patient_id, row.detail) == (
        "screen_pop", 42, 7, household["MRN3"], {"candidates": 1, "replayed": True})


async def test_given_audit_rows_refused_when_replayed_then_pop_without_patients(pops, household, seeded_db):
    agent = FakeAgent()
    caller = normalize("+14155550101", "US")
    call = FakeCall(caller, await pops.lookup(caller), agent=agent)

    with audit_rows_refused(seeded_db):
        [pop] = await pops.replay(call, agent, AuditActor(user_id=42))

    assert (pop["known"], pop["patients"], pop["withheld"]) == (False, [], True)
    assert await audit_rows(seeded_db) == []

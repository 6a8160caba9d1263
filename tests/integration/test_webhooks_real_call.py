"""A real call through the sandbox Asterisk produces its webhook deliveries (issue 15, events out): call
started, screen pop and call ended reach a real receiver, signed, with ids and no patient data. The delivery
machinery itself is tested on both databases in tests/webhooks; this proves the wiring from a live call."""
from __future__ import annotations

from datetime import date

import pytest

from callcenter.db.models import Patient, PatientPhone
from callcenter.webhooks.services import SubscriptionForm
from tests.webhooks.receiver import SECRET, Receiver, serve

from .harness import seeded_center

ENGLISH, RESULTS = "1", "2"


def _fast_worker(cfg) -> None:
    cfg.webhooks.poll_seconds = 0.1


@pytest.fixture
async def hooked(asterisk, sqlite_url, tmp_path):
    receiver = Receiver()
    runner = await serve(receiver)
    async with seeded_center(asterisk, sqlite_url, tmp_path, _fast_worker) as center:
        yield center, receiver
    await runner.cleanup()


async def add_patient(center, mrn: str, phone: str) -> int:
    def create(session):
        patient = Patient(mrn=mrn, given_name="Grace", family_name="Hopper", date_of_birth=date(1946, 12, 9),
                          sex="F", language="en")
        session.add(patient)
        session.flush()
        session.add(PatientPhone(patient_id=patient.id, e164=phone, kind="mobile", is_primary=True))
        return patient.id
    return await center.s.db.run(create)


async def test_given_a_subscription_when_a_known_patient_calls_then_start_pop_and_end_are_delivered(hooked):
    center, receiver = hooked
    events = ["call.started", "screen_pop", "call.ended"]
    await center.s.webhooks.create(SubscriptionForm(name="his", url=receiver.url, events=events,
                                                    secret=SECRET), None)
    patient_id = await add_patient(center, "MRN-WH1", "+14155550177")
    await center.set_agent("1005", "available")

    await center.call("4155550177", f"{ENGLISH},{RESULTS}", hangup_after=20)
    await center.call_row("connected", timeout=90)  # offered to the nurse: the pop was shown
    row = await center.call_row("ended", timeout=90)
    await receiver.wait_for(lambda r: {x.type for x in r.delivered()} == {"call.started", "screen_pop",
                                                                           "call.ended"}, timeout=30)

    got = {r.type: r.payload for r in receiver.delivered()}
    assert all(r.verifies() for r in receiver.delivered())
    assert {p["data"]["call_id"] for p in got.values()} == {row.id}
    assert got["screen_pop"]["data"]["patient_ids"] == [patient_id]
    assert got["call.ended"]["data"]["outcome"] == row.outcome
    bodies = b" ".join(r.body for r in receiver.received)
    assert b"Hopper" not in bodies and b"MRN-WH1" not in bodies and b"4155550177" not in bodies

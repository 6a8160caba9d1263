"""The HL7 v2 interface without the network: every message stored raw first, answered once, applied once;
each kind of bad input gets its NACK with an ERR naming the field. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callcenter.config import Hl7Config
from callcenter.db.models import CampaignTarget, Encounter, InboundMessage, Patient
from callcenter.hl7.services import Hl7Service
from callcenter.patients.services import IdentityRule, PatientFeed, find_patient

from .conftest import NOW, make_service, read_ack
from .messages import MORNING, adt, pv1


def rows(db) -> list[InboundMessage]:
    with db.session() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def patient(db, mrn: str) -> Patient:
    with db.session() as session:
        found = find_patient(session, mrn)
        session.expunge(found)
        return found


async def test_given_admission_when_received_then_acked_applied_and_logged_with_raw_bytes(db, service):
    message = adt("A01", "CTRL1", extra=("AL1|1|DA|^Penicillin|SV|Hives",))
    ack = read_ack(await service.receive(message, "10.0.0.5:4000"))
    assert (ack.code, ack.control_id) == ("AA", "CTRL1")
    [row] = rows(db)
    assert (row.raw, row.sender, row.control_id, row.outcome, row.ack_code, row.peer) == (
        message, "EPIC|GENHOSP", "CTRL1", "applied", "AA", "10.0.0.5:4000")
    stored = patient(db, "M1001")
    assert (stored.family_name, stored.language, stored.id) == ("Rivera", "es", row.patient_id)


async def test_given_applied_message_when_sent_again_then_acked_again_and_not_applied_twice(db, service):
    await service.receive(adt("A08", "SAME", family="First"))
    again = read_ack(await service.receive(adt("A08", "SAME", family="Second",
                                               when=MORNING + timedelta(hours=1))))
    assert again.code == "AA"
    assert [r.outcome for r in rows(db)] == ["applied", "duplicate"]
    assert patient(db, "M1001").family_name == "First"


async def test_given_newer_update_applied_when_older_update_arrives_then_stored_data_kept(db, service):
    await service.receive(adt("A08", "NEW", family="Newer", when=MORNING + timedelta(hours=2)))
    ack = read_ack(await service.receive(adt("A08", "OLD", family="Older", when=MORNING)))
    assert ack.code == "AA"
    assert patient(db, "M1001").family_name == "Newer"


async def test_given_cardiology_discharge_when_received_then_followup_target_at_once(db, service,
                                                                                   followup_campaign):
    admitted = MORNING - timedelta(days=1)
    await service.receive(adt("A01", "ADM", visit=pv1("M1001", admitted=admitted), when=admitted))
    left = pv1("M1001", admitted=admitted, discharged=MORNING, disposition="01")
    assert read_ack(await service.receive(adt("A03", "DIS", visit=left))).code == "AA"
    with db.session() as session:
        [target] = session.scalars(select(CampaignTarget)).all()
        encounter = session.get(Encounter, target.subject_id)
        assert (target.status, target.phone_e164, encounter.visit_number, encounter.disposition) == (
            "pending", "+14155550101", "VM1001", "01")
    await service.receive(adt("A13", "UNDO", visit=left, when=MORNING + timedelta(minutes=5)))
    with db.session() as session:
        assert session.scalars(select(CampaignTarget.status)).all() == ["expired"]


async def test_given_deceased_indicator_when_received_then_pending_followup_withdrawn(db, service,
                                                                                    followup_campaign):
    left = pv1("M1001", admitted=MORNING - timedelta(days=1), discharged=MORNING)
    await service.receive(adt("A03", "DIS", visit=left))
    later = MORNING + timedelta(hours=1)
    await service.receive(adt("A08", "DIED", died=later, when=later))
    assert patient(db, "M1001").deceased
    with db.session() as session:
        assert session.scalars(select(CampaignTarget.status)).all() == ["excluded"]


async def test_given_merge_when_received_then_old_mrn_finds_survivor(db, service):
    await service.receive(adt("A04", "R1", mrn="M0001", family="Old"))
    await service.receive(adt("A04", "R2", mrn="M0002", family="Kept"))
    merge = adt("A40", "MRG", mrn="M0002", family="Kept", msh9="ADT^A40^ADT_A39", visit=None,
                extra=("MRG|M0001^^^GENHOSP^MR",), when=MORNING + timedelta(hours=1))
    assert read_ack(await service.receive(merge)).code == "AA"
    assert patient(db, "M0001").mrn == "M0002"


def _without_pid(message: bytes) -> bytes:
    return b"\r".join(s for s in message.split(b"\r") if not s.startswith(b"PID"))


BAD_INPUT = {
    "missing PID": (_without_pid(adt("A01", "X1")), "AE", "100", "PID"),
    "bad MSH-9": (adt("A01", "X2", msh9="ADT"), "AR", "200", "MSH^1^9"),
    "not ADT": (adt("A01", "X3", msh9="ORU^R01"), "AR", "200", "MSH^1^9"),
    "unknown event": (adt("A01", "X4", msh9="ADT^A44^ADT_A43"), "AR", "201", "MSH^1^9"),
    "bad encoding characters": (adt("A01", "X5").replace(b"MSH|^~\\&|", b"MSH|^^\\&|"),
                                "AR", "102", "MSH^1^2"),
    "wrong version": (adt("A01", "X6", version="3.0"), "AR", "203", "MSH^1^12"),
    "bad date": (adt("A01", "X7", dob="19580231"), "AE", "102", "PID^1^7"),
    "non-UTF-8": (adt("A01", "X8").replace(b"Rivera", "Rivéra".encode("latin-1")), "AR", "102", "MSH^1^18"),
    "declared character set": (adt("A01", "X9").replace(b"|P|2.5.1", b"|P|2.5.1||||||UNICODE UTF-16"),
                               "AR", "102", "MSH^1^18"),
    "no control id": (adt("A01", ""), "AR", "101", "MSH^1^10"),
    "no MSH": (b"PID|1||M1^^^GENHOSP^MR\r", "AR", "100", "MSH"),
}


@pytest.mark.parametrize("kind", BAD_INPUT)
async def test_given_bad_input_when_received_then_nack_with_err_and_raw_kept(db, service, kind):
    message, code, error_code, where = BAD_INPUT[kind]
    ack = read_ack(await service.receive(message))
    assert (ack.code, ack.error_code, ack.error_where) == (code, error_code, where)
    assert "Rivera" not in ack.text and "1958" not in ack.text  # fields named, values never
    [row] = rows(db)
    assert (row.raw, row.outcome, row.ack_code) == (message, {"AR": "rejected", "AE": "failed"}[code], code)


async def test_given_oversized_message_when_received_then_rejected(db):
    service = make_service(db, max_bytes=500)
    ack = read_ack(await service.receive(adt("A01", "BIG", extra=("NTE|1||" + "x" * 600,))))
    assert (ack.code, ack.error_code) == ("AR", "207")


async def test_given_failed_message_when_configuration_fixed_and_reapplied_then_applied(db):
    wrong = make_service(db, mrn_system="OTHERHOSP")
    assert read_ack(await wrong.receive(adt("A01", "FIX"))).code == "AE"
    [row] = rows(db)
    assert (row.outcome, row.error) == ("failed", "PID: patient identifier: no MRN of system OTHERHOSP")
    outcome = await make_service(db).reapply(row.id)
    assert (outcome.outcome, outcome.ack_code) == ("applied", "AA")
    assert [r.outcome for r in rows(db)] == ["applied"]
    assert patient(db, "M1001").id == outcome.patient_ids[0]


async def test_given_the_readme_example_file_when_sent_then_both_messages_are_applied(db):
    """docs/examples/adt-admit-discharge.hl7, which the README and scripts/start offer to `hl7 send`, on the
    default configuration (the MRN is the identifier typed MR)."""
    service = make_service(db, mrn_system="")
    from pathlib import Path

    from callcenter.hl7.client import messages_in
    example = Path(__file__).parents[2] / "docs" / "examples" / "adt-admit-discharge.hl7"
    acks = [read_ack(await service.receive(message)) for message in messages_in(example)]
    assert [(a.code, a.control_id) for a in acks] == [("AA", "DEMO0001"), ("AA", "DEMO0002")]
    with db.session() as session:
        stay = session.scalar(select(Encounter).where(
            Encounter.patient_id == find_patient(session, "MRN900001").id))
        assert stay.discharged_at is not None


class BrokenFollowUp:
    """A campaign port that fails once the discharge is written: an apply failing mid-message."""

    def discharged(self, session, encounter_id, now):
        raise RuntimeError("campaign store unavailable")

    def withdraw_encounter(self, session, encounter_id, reason, now):
        return 0

    def withdraw_patient(self, session, patient_id, reason, now):
        return 0


async def test_given_apply_failing_mid_message_when_received_then_raw_kept_failed_nacked_none_half_applied(
        db, service):
    admitted = MORNING - timedelta(days=1)
    await service.receive(adt("A01", "ADM", visit=pv1("M1001", admitted=admitted), when=admitted))
    feed = PatientFeed(IdentityRule(mrn_system="GENHOSP"), BrokenFollowUp(), clock=lambda: NOW)
    broken = Hl7Service(db, feed, Hl7Config(mrn_system="GENHOSP"))
    discharge = adt("A03", "DIS", family="Changed", visit=pv1("M1001", admitted=admitted, discharged=MORNING))
    ack = read_ack(await broken.receive(discharge))
    assert (ack.code, ack.control_id, ack.error_code) == ("AE", "DIS", "207")
    assert [(r.outcome, r.raw, r.applied_key) for r in rows(db)][1] == ("failed", discharge, None)
    with db.session() as session:
        [encounter] = session.scalars(select(Encounter)).all()
        assert encounter.discharged_at is None  # the discharge written before the failure was rolled back
    assert patient(db, "M1001").family_name == "Rivera"
    assert (await service.reapply(rows(db)[1].id)).outcome == "applied"
    assert patient(db, "M1001").family_name == "Changed"


async def test_given_failed_message_applied_since_from_a_copy_when_reapplied_then_duplicate_not_applied_twice(
        db):
    wrong = make_service(db, mrn_system="OTHERHOSP")
    assert read_ack(await wrong.receive(adt("A08", "COPY", family="First"))).code == "AE"
    service = make_service(db)
    assert read_ack(await service.receive(adt("A08", "COPY", family="First"))).code == "AA"
    with db.session() as session:  # the patient changed since: a second apply would show
        find_patient(session, "M1001").family_name = "Since"
    outcome = await service.reapply(rows(db)[0].id)
    assert (outcome.outcome, outcome.ack_code) == ("duplicate", "AA")
    assert [r.outcome for r in rows(db)] == ["duplicate", "applied"]
    assert patient(db, "M1001").family_name == "Since"

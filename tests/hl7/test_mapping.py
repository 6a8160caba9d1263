"""Reading ADT messages into patient changes, without a database: the fields senders really fill in various
ways (phones as XTN components or text, identifiers in PID-2 of old versions, escapes, LF separators, a BOM),
and which header problems are found first."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from callcenter.hl7.mapping import changes
from callcenter.hl7.message import Hl7Error, read
from callcenter.patients.record import ChangeKind, Identifier

from .messages import adt, pv1, segment


def one(message: bytes):
    [change] = changes(read(message, 1 << 20))
    return change


def test_given_admission_when_read_then_pid_and_pv1_fields_are_mapped():
    change = one(adt("A01", "C1", visit=pv1("M1001", "CAR", admitted=datetime(2026, 11, 23, 8, tzinfo=UTC)),
                     extra=("AL1|1|DA|^Latex|MO|Rash", "DG1|1||I50^Heart failure^I10",
                            "NK1|1|Rivera^Luis|SON^Son||^PRN^CP^^1^415^5550160")))
    patient, visit = change.patient, change.visit
    assert change.kind is ChangeKind.ADMIT
    assert patient.identifiers == (Identifier("GENHOSP", "M1001", "MR"),
                                   Identifier("NHS", "9434761001", "NH"))
    assert (patient.family_name, patient.given_name, patient.birth_date, patient.sex, patient.language) == (
        "Rivera", "Ana", date(1958, 2, 14), "F", "es")
    assert [(p.number, p.use) for p in patient.phones] == [
        ("+14155550101", "home"), ("+14155550102", "mobile"), ("+14155550199", "work")]
    assert [(a.substance, a.severity, a.reaction) for a in patient.allergies] == [
        ("Latex", "moderate", "Rash")]
    assert [(d.name, d.code) for d in patient.diagnoses] == [("Heart failure", "I50")]
    assert [(c.name, c.relation, c.phone) for c in patient.contacts] == [
        ("Luis Rivera", "Son", "+14155550160")]
    assert (visit.visit_number, visit.patient_class, visit.department, visit.ward, visit.attending) == (
        "VM1001", "inpatient", "Cardiology", "CAR", "Henry Heart")
    assert visit.admitted_at == datetime(2026, 11, 23, 8, tzinfo=UTC)


def test_given_segments_not_sent_when_read_then_lists_are_left_alone():
    patient = one(adt("A08", "C2", phones="", visit=None)).patient
    assert (patient.allergies, patient.diagnoses, patient.contacts) == (None, None, None)
    assert [p.use for p in patient.phones] == ["work"]


def test_given_phone_as_text_and_email_when_read_then_text_kept_and_email_skipped():
    patient = one(adt("A08", "C3", phones="(415)555-0123~^NET^Internet^ana@example.org")).patient
    assert [(p.number, p.use) for p in patient.phones] == [
        ("(415)555-0123", "home"), ("+14155550199", "work")]


def test_given_death_indicator_when_read_then_deceased_with_time():
    patient = one(adt("A08", "C4", died=datetime(2026, 11, 24, 3, tzinfo=UTC))).patient
    assert (patient.deceased, patient.deceased_at) == (True, datetime(2026, 11, 24, 3, tzinfo=UTC))


def test_given_old_version_with_mrn_in_pid2_when_read_then_identifier_found():
    message = adt("A04", "C5", version="2.2").replace(b"PID|1||M1001^^^GENHOSP^MR~9434761001^^^NHS^NH|",
                                                        b"PID|1|M1001^^^GENHOSP^MR||")
    assert one(message).patient.identifiers == (Identifier("GENHOSP", "M1001", "MR"),)


def test_given_escaped_name_when_read_then_unescaped():
    assert one(adt("A08", "C6", family="O\\T\\Brien")).patient.family_name == "O&Brien"


def test_given_lf_separators_and_a_bom_when_read_then_same_as_cr():
    message = b"\xef\xbb\xbf" + adt("A08", "C7").replace(b"\r", b"\n")
    assert one(message).patient.family_name == "Rivera"


def test_given_merge_of_two_pairs_when_read_then_two_merges():
    message = adt("A40", "C8", mrn="M0002", msh9="ADT^A40^ADT_A39", visit=None, extra=(
        "MRG|M0001^^^GENHOSP^MR", segment("PID", {1: "2", 3: "M0004^^^GENHOSP^MR", 5: "Other^Olga"}),
        "MRG|M0003^^^GENHOSP^MR"))
    found = changes(read(message, 1 << 20))
    assert [(c.kind, c.patient.identifiers[0].value, c.merged_from[0].value) for c in found] == [
        (ChangeKind.MERGE, "M0002", "M0001"), (ChangeKind.MERGE, "M0004", "M0003")]


def test_given_empty_placeholder_pid_before_the_real_one_when_read_then_the_real_one_counts():
    message = adt("A08", "C9").replace(b"\rPID|1|", b"\rPID|\rPID|1|", 1)
    assert one(message).patient.family_name == "Rivera"


@pytest.mark.parametrize(("event", "kind"), [("A02", ChangeKind.TRANSFER), ("A03", ChangeKind.DISCHARGE),
                                             ("A05", ChangeKind.PERSON), ("A11", ChangeKind.CANCEL_ADMIT),
                                             ("A13", ChangeKind.CANCEL_DISCHARGE), ("A28", ChangeKind.PERSON),
                                             ("A31", ChangeKind.PERSON), ("A04", ChangeKind.VISIT)])
def test_given_each_event_when_read_then_its_kind(event, kind):
    assert one(adt(event, f"K{event}")).kind is kind


def test_given_event_time_in_evn_when_read_then_it_orders_the_change_not_msh7():
    message = adt("A08", "C10").replace(b"EVN|A08|20261124090000+0000", b"EVN|A08|20261120070000+0000")
    assert one(message).event_time == datetime(2026, 11, 20, 7, tzinfo=UTC)


def test_given_bad_message_when_read_then_the_first_problem_of_the_header_is_named():
    with pytest.raises(Hl7Error) as found:
        read(adt("A01", "", version="9.9"), 1 << 20)  # version checked before the control id
    assert (found.value.ack_code, found.value.where) == ("AR", "MSH-12")

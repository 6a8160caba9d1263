"""Texts on the patient's timeline (issue 17 item 7; both databases): what the patient wrote, for staff to
read, and what was texted back, newest first, in the record's own read."""
from __future__ import annotations

from callcenter.patients.timeline import timeline

from .test_services import MOBILE, patient


async def test_given_a_patients_free_text_when_the_record_is_read_then_the_text_and_the_answer_are_in_it(
        db, sms):
    patient_id = patient(db)
    await sms.receive(MOBILE, "Can I bring my own pillow?")

    with db.session() as session:
        entries = [e for e in timeline(session, patient_id) if e["kind"] == "sms"]

    answer, question = entries
    assert question["title"] == "From the patient · free text"
    assert question["detail"]["text"] == "Can I bring my own pillow?"
    assert answer["title"] == "To the patient · reply · queued"
    assert answer["detail"]["direction"] == "to the patient" and "staff will read" in answer["detail"]["text"]

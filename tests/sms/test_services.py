"""What texts do, without a gateway (the outbox and the incoming side against the database, both databases):
free text kept for staff and answered, X cancelling, answers bounded per hour, "we tried to call you" once
per target after an unanswered follow-up attempt, calling windows, a dead worker's claims taken over."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from callcenter.campaigns.services import CampaignService
from callcenter.db.models import (
    Appointment,
    AuditEvent,
    Callback,
    Encounter,
    Patient,
    PatientPhone,
    TextMessage,
)
from callcenter.eventlog import EventLog
from callcenter.sms import store
from callcenter.sms.services import REPLIES_PER_HOUR
from callcenter.sms.store import NewText

from .conftest import SERVICE_NOW as NOW

MOBILE = "+14155550123"


def patient(db, *, mobile: str = MOBILE, zone: str | None = None) -> int:
    with db.session() as session:
        row = Patient(mrn=f"M{mobile[-7:]}", given_name="Ann", family_name="Lee",
                      date_of_birth=datetime(1960, 1, 1).date(), time_zone=zone)
        row.phones.append(PatientPhone(e164=mobile, kind="mobile", is_primary=True))
        session.add(row)
        session.flush()
        return row.id


def texts(db, *where) -> list[TextMessage]:
    with db.session() as session:
        return list(session.scalars(select(TextMessage).where(*where).order_by(TextMessage.id)))


async def test_given_free_text_from_a_patient_when_received_then_kept_for_staff_and_answered(db, sms):
    patient_id = patient(db)

    received = await sms.receive("(415) 555-0123", "The parking machine took my card")

    [inbound] = texts(db, TextMessage.direction == "in")
    [answer] = texts(db, TextMessage.direction == "out")
    assert (inbound.keyword, inbound.patient_id, inbound.body) == ("free_text", patient_id,
                                                                   "The parking machine took my card")
    assert answer.reply_to_id == received.message_id == inbound.id and answer.e164 == MOBILE
    assert "our staff will read your message" in answer.body and answer.purpose == "reply"


async def test_given_a_complaint_word_and_no_ticket_desk_when_received_then_the_text_is_kept(db, sms):
    patient(db)

    await sms.receive(MOBILE, "COMPLAINT the food was cold")

    [inbound] = texts(db, TextMessage.direction == "in")
    assert inbound.keyword == "free_text" and inbound.body == "COMPLAINT the food was cold"


async def test_given_a_reminder_when_x_is_texted_then_the_appointment_is_cancelled_and_audited(db, sms):
    patient_id = patient(db)
    with db.session() as session:
        appointment = Appointment(patient_id=patient_id, department="Oncology", status="booked",
                                  starts_at=NOW + timedelta(days=1))
        session.add(appointment)
        session.flush()
        store.queue(session, NewText(e164=MOBILE, body="reminder", purpose="reminder", patient_id=patient_id,
                                     subject_kind="appointment", subject_id=appointment.id), NOW)

    await sms.receive(MOBILE, "x")

    with db.session() as session:
        assert session.get(Appointment, appointment.id).status == "cancelled"
        [audit] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "appointment_cancelled_by_patient"))
    answer = texts(db, TextMessage.purpose == "reply")[0]
    assert audit.patient_id == patient_id and audit.detail["via"] == "sms"
    assert "is cancelled" in answer.body and "11/25/2026" in answer.body and "Oncology" not in answer.body


async def test_given_no_reminder_waiting_when_c_is_texted_then_the_answer_says_it_was_not_possible(db, sms):
    patient(db)

    await sms.receive(MOBILE, "C")

    [answer] = texts(db, TextMessage.purpose == "reply")
    assert "could not change" in answer.body


async def test_given_a_robot_answering_every_text_when_it_writes_again_and_again_then_answers_stop(db, sms):
    for _ in range(REPLIES_PER_HOUR + 3):
        await sms.receive(MOBILE, "AUTOREPLY")

    assert len(texts(db, TextMessage.direction == "in")) == REPLIES_PER_HOUR + 3
    assert len(texts(db, TextMessage.purpose == "reply")) == REPLIES_PER_HOUR


async def test_given_a_sender_that_is_no_number_when_a_text_comes_then_kept_without_an_answer(db, sms):
    received = await sms.receive("CARRIER", "Your bundle renews tomorrow")

    assert received.reply_id is None and len(texts(db)) == 1


async def test_given_an_unanswered_follow_up_attempt_when_it_ends_then_one_we_tried_to_call_text(
        db, sms, cfg, clock, tmp_path):
    patient_id = patient(db)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "discharge-followup.yaml").write_text("name: x\n")
    events = EventLog(db)
    await events.start()
    campaigns = CampaignService(db, events, cfg, clock=clock, flows_dir=flows)
    campaigns.attempt_listeners.append(sms.attempt_ended)
    await campaigns.save_text("followup", "name: followup\nkind: discharge_followup\ntitle: F\nversion: 1\n"
                              "target: {rule: discharged, within_days: 2}\nmode: automated\n"
                              "flow: discharge-followup\n", None)
    with db.session() as session:
        session.add(Encounter(patient_id=patient_id, kind="admission", department="Cardiology",
                              started_at=NOW - timedelta(days=3), discharged_at=NOW - timedelta(hours=5)))
    await campaigns.plan("followup")
    try:
        for _ in range(2):
            [job] = await campaigns.claim("followup", "w", 1, now=clock.now)
            await campaigns.finish(job.attempt_id, "no_answer")
            clock.now += timedelta(hours=3)
    finally:
        await events.close()

    [tried] = texts(db, TextMessage.purpose == "tried_to_call")
    assert tried.patient_id == patient_id and tried.send_window == "08:00-21:00"
    assert "tried to call you" in tried.body and tried.campaign_kind == "discharge_followup"


async def test_given_a_text_outside_its_window_when_claimed_then_it_waits_for_the_window_to_open(db):
    patient(db, zone="America/Los_Angeles")  # 07:00 there
    with db.session() as session:
        pid = session.scalar(select(Patient.id))
        store.queue(session, NewText(e164=MOBILE, body="b", purpose="reminder", patient_id=pid,
                                     send_window="08:00-21:00"), NOW)

    claimed = await db.run(store.claim, "w", NOW, timedelta(seconds=60), 10, "America/New_York")

    [waiting] = texts(db)
    assert claimed == [] and waiting.status == "queued"
    assert waiting.next_attempt_at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles


async def test_given_a_worker_that_died_holding_a_text_when_its_lease_ends_then_another_sends_it(db):
    with db.session() as session:
        store.queue(session, NewText(e164=MOBILE, body="b", purpose="reply"), NOW)
    lease = timedelta(seconds=60)
    [first] = await db.run(store.claim, "dead-worker", NOW, lease, 10, "UTC")

    during = await db.run(store.claim, "other", NOW + timedelta(seconds=30), lease, 10, "UTC")
    after = await db.run(store.claim, "other", NOW + timedelta(seconds=61), lease, 10, "UTC")

    assert during == [] and [c.id for c in after] == [first.id]
    assert not await db.run(store.sent, "dead-worker", first.id, NOW)  # the old claim cannot settle it
    assert await db.run(store.sent, "other", first.id, NOW)


def sent_text(db, purpose: str, patient_id: int | None, **more) -> int:
    with db.session() as session:
        row = TextMessage(direction="out", e164=MOBILE, patient_id=patient_id, purpose=purpose, body="x",
                          status="sent", attempts=1, created_at=NOW, **more)
        session.add(row)
        session.flush()
        return row.id


def callbacks(db) -> list[Callback]:
    with db.session() as session:
        return list(session.scalars(select(Callback)))


async def test_given_we_tried_to_call_you_when_its_delivery_fails_then_one_callback_on_the_desks_list(
        db, sms):
    patient_id = patient(db)
    text_id = sent_text(db, "tried_to_call", patient_id, subject_kind="target", subject_id=7)

    assert await sms.delivery_report(text_id, 16, "NACK") is True
    assert await sms.delivery_report(text_id, 2), "a second failure report is kept, nothing owed twice"

    [callback] = callbacks(db)
    assert (callback.patient_id, callback.phone_e164, callback.queue_name, callback.status) == (
        patient_id, MOBILE, "nurse", "scheduled")
    assert callback.due_at == NOW and "did not arrive" in callback.reason and not callback.autodial
    [failed] = texts(db, TextMessage.id == text_id)
    assert failed.status == "failed"


async def test_given_a_delivered_text_when_a_late_failure_report_comes_then_nothing_follows(db, sms):
    text_id = sent_text(db, "tried_to_call", patient(db))

    await sms.delivery_report(text_id, 1)
    await sms.delivery_report(text_id, 2)

    assert texts(db, TextMessage.id == text_id)[0].status == "delivered" and callbacks(db) == []


async def test_given_a_reminder_when_its_delivery_fails_then_no_callback_as_the_reminder_call_still_goes(
        db, sms):
    text_id = sent_text(db, "reminder", patient(db), subject_kind="appointment", subject_id=3)

    await sms.delivery_report(text_id, 2)

    assert texts(db, TextMessage.id == text_id)[0].status == "failed" and callbacks(db) == []

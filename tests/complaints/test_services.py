"""The ticket service on a real database (SQLite and PostgreSQL): serials without gaps or duplicates under
concurrency, routing, the workflow's steps and refusals, escalation with a moved clock, the status by serial,
KPIs, the webhook events."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from callcenter.complaints import routing, serial
from callcenter.complaints.exceptions import InvalidTicket, TransitionNotAllowed
from callcenter.complaints.services import Actor, ComplaintService
from callcenter.db.models import AuditEvent, ComplaintEvent, Patient, User, WebhookOutbox
from callcenter.db.queries import AuditActor, has_open_complaint
from callcenter.vocabulary import WEBHOOK_EVENTS
from callcenter.webhooks import outbox

from ..kpi.test_compute import kpi_service

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
HANDLER = Actor(AuditActor(user_id=None, agent_id=None))


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return []


@pytest.fixture
def users(db):
    """Users 1, 3 and 7: handlers and a supervisor of the patient-relations team."""
    with db.session() as session:
        session.add_all([User(id=n, username=f"handler{n}", display_name=f"Handler {n}", role="supervisor")
                         for n in (1, 3, 7)])


@pytest.fixture
def service(db, clock, events, users):
    def listener(session, type_, complaint_id, serial_):
        events.append((type_, complaint_id, serial_))
    return ComplaintService(db, routing.load(), clock=clock, listener=listener)


async def new(service, **fields):
    fields = {"text": "The wait was long.", "category": "waiting_time", "department": "outpatient"} | fields
    return await service.create_ticket(fields.pop("channel", "web"), **fields)


async def test_given_twenty_tickets_created_at_once_when_numbered_then_serials_are_unique_and_gapless(
        service):
    tickets = await asyncio.gather(*(new(service) for _ in range(20)))

    sequences = sorted(serial.parts(t.serial)[1] for t in tickets)
    assert sequences == list(range(1, 21))
    assert all(serial.is_valid(t.serial) and t.serial.startswith("2026") for t in tickets)


async def test_given_a_new_year_when_a_ticket_is_created_then_its_sequence_starts_again_at_one(
        service, clock):
    await new(service)
    await new(service)
    clock.now = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)

    first = await new(service)

    assert serial.parts(first.serial) == (2027, 1)


async def test_given_a_refused_ticket_when_the_next_is_created_then_no_number_was_used_up(service):
    await new(service)
    with pytest.raises(InvalidTicket):
        await new(service, kind="rant")

    assert serial.parts((await new(service)).serial)[1] == 2


async def test_given_category_and_department_when_created_then_routed_and_due_by_severity(service):
    billing = await new(service, category="billing", department="emergency", severity="critical")
    emergency = await new(service, category="food", department="emergency", severity="low")
    other = await new(service, category="food", department="maternity")

    assert (billing.handling_group, billing.due_at) == ("billing_office", NOW + timedelta(hours=24))
    assert (emergency.handling_group, emergency.due_at) == ("emergency_quality", NOW + timedelta(hours=336))
    assert (other.handling_group, other.status) == ("patient_relations", "received")


@pytest.mark.parametrize("field, value", [("kind", "rant"), ("severity", "extreme"), ("category", "x"),
                                          ("department", "mars"), ("channel", "fax"), ("text", "   "),
                                          ("text", "x" * 5001), ("contact_name", "n" * 201)])
async def test_given_a_bad_field_when_created_then_refused_naming_the_field(service, field, value):
    with pytest.raises(InvalidTicket) as refused:
        await new(service, **{field: value})

    assert refused.value.field == field


async def test_given_a_ticket_when_worked_to_closed_then_every_step_is_an_event_with_actor_and_time(
        service, clock, db, events):
    ticket = await new(service, patient_id=None)
    clock.move(hours=2)
    await service.assign(ticket.id, 7, Actor(AuditActor(user_id=3)))
    clock.move(hours=1)
    await service.step(ticket.id, "start", Actor(AuditActor(user_id=7)))
    await service.step(ticket.id, "wait_patient", Actor(AuditActor(user_id=7)))
    await service.step(ticket.id, "start", Actor(AuditActor(user_id=7)))
    clock.move(hours=5)
    await service.resolve(ticket.id, "We apologised and changed the rota.", "phone",
                          Actor(AuditActor(user_id=7)), summary="The rota has changed. We are sorry.")
    await service.step(ticket.id, "close", Actor(AuditActor(user_id=3)))

    with db.session() as session:
        rows = session.execute(select(ComplaintEvent.type, ComplaintEvent.actor, ComplaintEvent.to_status,
                                      ComplaintEvent.ts).order_by(ComplaintEvent.id)).all()
    assert [(r.type, r.actor, r.to_status) for r in rows] == [
        ("received", "web", "received"), ("assign", "user:3", "assigned"), ("start", "user:7", "in_progress"),
        ("wait_patient", "user:7", "waiting_patient"), ("start", "user:7", "in_progress"),
        ("resolve", "user:7", "resolved"), ("close", "user:3", "closed")]
    assert rows[1].ts == NOW + timedelta(hours=2) and rows[-1].ts == NOW + timedelta(hours=8)
    status = await service.status_by_serial(serial.display(ticket.serial))
    # What the patient may hear is the summary for them, never the handler's notes.
    assert (status.status, status.resolution_summary) == ("closed", "The rota has changed. We are sorry.")
    assert [e[0] for e in events] == ["complaint.created", "complaint.resolved"]
    assert events[0] == ("complaint.created", ticket.id, ticket.serial)


async def test_given_steps_that_do_not_apply_when_taken_then_refused_and_nothing_changes(service):
    ticket = await new(service)

    with pytest.raises(TransitionNotAllowed):
        await service.step(ticket.id, "close", HANDLER)
    with pytest.raises(TransitionNotAllowed):
        await service.step(ticket.id, "reopen", HANDLER)
    await service.resolve(ticket.id, "Answered.", "letter", HANDLER)
    with pytest.raises(TransitionNotAllowed):
        await service.resolve(ticket.id, "Again.", "letter", HANDLER)
    with pytest.raises(InvalidTicket):
        await service.resolve((await new(service)).id, "Answered.", "pigeon", HANDLER)

    assert (await service.status_by_serial(ticket.serial)).status == "resolved"


async def test_given_a_resolved_ticket_when_reopened_then_it_is_open_again_without_its_result(
        service):
    ticket = await new(service)
    await service.resolve(ticket.id, "Answered.", "letter", HANDLER)

    reopened = await service.step(ticket.id, "reopen", HANDLER, reason="patient not satisfied")

    assert (reopened.status, reopened.resolved_at) == ("in_progress", None)
    status = await service.status_by_serial(ticket.serial)
    assert (status.status, status.resolution_summary) == ("in_progress", "")


async def test_given_an_overdue_ticket_when_the_clock_moves_then_it_escalates_to_head_then_director(
        service, clock, db):
    ticket = await new(service, severity="high")  # due in 72 h
    waiting = await new(service, severity="critical")
    await service.assign(waiting.id, 1, HANDLER)
    await service.step(waiting.id, "wait_patient", HANDLER)  # paused: never overdue

    clock.move(hours=71)
    assert await service.escalate_overdue() == []
    clock.move(hours=2)
    assert await service.escalate_overdue() == [ticket.id]
    assert await service.escalate_overdue() == []  # due again in 48 h
    clock.move(hours=49)
    assert await service.escalate_overdue() == [ticket.id]
    clock.move(hours=100)
    assert await service.escalate_overdue() == []  # the director is the top

    detail = await service.detail(ticket.id, AuditActor(user_id=None))
    escalations = [(e.detail["level"], e.detail["to"], e.actor)
                   for e in detail.events if e.type == "escalated"]
    assert escalations == [(1, "department_head", "system:escalation"), (2, "director", "system:escalation")]
    assert detail.holder == "Patient-relations director"
    figures = await service.kpis(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (figures["overdue"], figures["escalated"]) == (1, 1)


async def test_given_two_schedulers_when_they_escalate_at_once_then_each_ticket_escalates_once(
        service, clock):
    tickets = [await new(service, severity="critical") for _ in range(5)]
    clock.move(hours=25)

    done = await asyncio.gather(service.escalate_overdue(), service.escalate_overdue())

    assert sorted(done[0] + done[1]) == sorted(t.id for t in tickets)


async def test_given_tickets_when_kpis_are_asked_then_volumes_and_times_are_counted(service, clock, db):
    first = await new(service, category="billing", department="emergency")
    await new(service, category="food", department="emergency")
    await new(service, category="food", department="maternity", kind="praise")
    clock.move(hours=3)
    await service.assign(first.id, 1, HANDLER)
    clock.move(hours=3)
    await service.resolve(first.id, "Refunded.", "letter", HANDLER)

    figures = await service.kpis(NOW - timedelta(hours=1), NOW + timedelta(hours=1))

    assert figures["received"] == 3
    assert figures["by_category"] == {"billing": 1, "food": 2}
    assert figures["by_department"] == {"emergency": 2, "maternity": 1}
    assert (figures["first_response_hours"], figures["resolution_hours"]) == (3.0, 6.0)


async def test_given_a_serial_when_status_is_asked_then_wrong_check_digits_are_refused_and_unknown_is_none(
        service):
    ticket = await new(service)
    typo = ticket.serial[:-1] + str((int(ticket.serial[-1]) + 1) % 10)

    with pytest.raises(serial.InvalidSerial):
        await service.status_by_serial(typo)
    assert await service.status_by_serial(serial.make(2025, 99)) is None
    status = await service.status_by_serial(ticket.serial)
    assert (status.status, status.identified, status.kind) == ("received", False, "complaint")


async def test_given_a_ticket_of_a_patient_when_viewed_then_the_read_is_audited_and_the_flag_is_set(
        service, db):
    with db.session() as session:
        patient = Patient(mrn="M-T1", given_name="Ana", family_name="Test",
                          date_of_birth=datetime(1980, 1, 1).date())
        session.add(patient)
        session.flush()
        patient_id = patient.id
    ticket = await new(service, channel="phone", patient_id=patient_id)

    await service.detail(ticket.id, AuditActor(user_id=None, api_client="tests"))

    with db.session() as session:
        row = session.scalars(select(AuditEvent).where(AuditEvent.action == "complaint_viewed")).one()
        assert (row.patient_id, row.detail["complaint_id"]) == (patient_id, ticket.id)
        assert has_open_complaint(session, patient_id)


async def test_given_the_event_history_when_changed_then_the_database_refuses(service, db):
    await new(service)

    with pytest.raises(IntegrityError), db.session() as session:
        session.execute(update(ComplaintEvent).values(actor="someone else"))


async def test_given_webhooks_when_a_ticket_is_created_and_resolved_then_outbox_rows_carry_ids_only(
        db, users):
    service = ComplaintService(db, routing.load(), clock=lambda: NOW, listener=outbox.complaint)
    ticket = await service.create_ticket("web", text="<b>Rude</b> staff", contact_name="Ana Test",
                                         category="staff_attitude", department="radiology")
    await service.resolve(ticket.id, "We talked to the team.", "email", HANDLER)

    with db.session() as session:
        rows = session.execute(select(WebhookOutbox.type, WebhookOutbox.data)
                               .order_by(WebhookOutbox.id)).all()
    assert [(r.type, r.data) for r in rows] == [
        ("complaint.created", {"complaint_id": ticket.id, "serial": ticket.serial}),
        ("complaint.resolved", {"complaint_id": ticket.id, "serial": ticket.serial})]
    assert {"complaint.created", "complaint.resolved"} <= WEBHOOK_EVENTS


async def test_given_tickets_resolved_through_the_service_when_the_kpi_report_runs_then_resolution_hours_fill(
        service, clock, db):
    """The dashboard's complaint-resolution KPI (kpi/compute.py) had no data until tickets were resolved."""
    first, second = await new(service), await new(service)
    clock.move(hours=30)
    await service.resolve(first.id, "Answered.", "phone", HANDLER)
    clock.move(hours=2)
    await service.resolve(second.id, "Answered too.", "email", HANDLER)

    report = await kpi_service(db, clock=clock).report(NOW, NOW + timedelta(days=2))

    assert report.totals["complaint_resolution_hours"] == (30 + 32) / 2

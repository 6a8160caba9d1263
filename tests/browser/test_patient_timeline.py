"""The patient's history on the agent desk's record in the real browser (issue 17 item 7): every kind, newest
first, each opening in place; read with the record, one audited view."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from callcenter.complaints.serial import display
from callcenter.db.models import CarePlan, CarePlanEvent, Patient
from callcenter.db.types import utcnow
from tests.patients.history import seed_history

from .desk import audits, open_desk
from .live import ROLE_USERS


def test_given_a_patient_with_history_when_the_agent_opens_the_record_then_the_history_shows_and_opens(
        console, signed_in, screenshot):
    with console.services.db.session() as session:
        patient = Patient(mrn="MRN-HIST-1", given_name="Hana", family_name="Story",
                          date_of_birth=date(1966, 3, 4), sex="F", language="en")
        session.add(patient)
        session.flush()
        history = seed_history(session, patient.id, utcnow())
        nurse = console.user(ROLE_USERS["nurse"].username)
        plan = CarePlan(patient_id=patient.id, kind="chronic", condition="diabetes", department="Medicine",
                        starts_on=date(2026, 1, 1), schedule="FREQ=MONTHLY", questionnaire_code="diabetes",
                        channel="agent", nurse_user_id=nurse.id)
        session.add(plan)
        session.flush()
        session.add(CarePlanEvent(plan_id=plan.id, patient_id=patient.id, at=utcnow() - timedelta(days=400),
                                  kind="enrolled", actor_user_id=nurse.id,
                                  detail={"schedule": "FREQ=MONTHLY"}))
    page = signed_in("agent", console)
    open_desk(page)
    page.fill("#search-mrn", "MRN-HIST-1")
    page.click("#search-form button[type=submit]")
    page.locator("#search-results button").click()
    expect(page.locator("#record-name")).to_have_text("Hana Story")

    entries = page.locator("#timeline .timeline-entry")
    expect(entries).to_have_count(5)
    assert [entries.nth(i).get_attribute("data-kind") for i in range(5)] == [
        "ticket", "questionnaire", "call", "call", "care_plan"]
    expect(entries.nth(0)).to_contain_text(f"Complaint {display(history.ticket_serial)} · received")
    expect(entries.nth(3)).to_contain_text("Inbound call · results · completed")
    expect(entries.nth(4)).to_contain_text("Care plan · Chronic · diabetes · enrolled")
    entries.nth(4).locator("summary").click()
    expect(entries.nth(4)).to_contain_text("event: enrolled · schedule: FREQ=MONTHLY")

    answers = entries.nth(1).locator("details")
    expect(answers.locator("li").first).to_be_hidden()  # closed until opened
    answers.locator("summary").click()
    expect(answers.locator("li")).to_have_text(["pain_score: 3", "wound_ok: true"])
    call = entries.nth(3).locator("details")
    call.locator("summary").click()
    expect(call).to_contain_text("talked 120 s · recorded (1)")
    expect(call.locator("a")).to_have_attribute("href", f"/calls/{history.inbound_call}")
    screenshot(page, "desk-patient-timeline")

    [viewed] = audits(console, "patient_viewed")
    assert viewed.patient_id == patient.id  # the history came with the one audited read of the record


def test_given_a_call_of_a_patient_with_history_when_the_supervisor_opens_the_call_page_then_it_shows_audited(
        console, signed_in, screenshot):
    with console.services.db.session() as session:
        patient = Patient(mrn="MRN-HIST-2", given_name="Ivo", family_name="Past",
                          date_of_birth=date(1950, 7, 8), sex="M", language="en")
        session.add(patient)
        session.flush()
        history = seed_history(session, patient.id, utcnow())
    page = signed_in("supervisor", console)
    page.goto(f"/calls/{history.inbound_call}")
    entries = page.locator("#timeline .timeline-entry")
    expect(entries).to_have_count(4)
    expect(entries.nth(0)).to_contain_text(f"Complaint {display(history.ticket_serial)} · received")
    entries.nth(1).locator("summary").click()
    expect(entries.nth(1).locator("li")).to_have_text(["pain_score: 3", "wound_ok: true"])
    screenshot(page, "call-page-patient-history")

    [viewed] = audits(console, "patient_viewed")
    supervisor = console.user(ROLE_USERS["supervisor"].username)
    assert (viewed.patient_id, viewed.call_id, viewed.actor_user_id, viewed.detail) == (
        patient.id, history.inbound_call, supervisor.id, {"via": "call_page"})
    # The exports are the triage record only: no patient history, no patient read.
    exported = page.request.get(f"/calls/{history.inbound_call}/triage.json")
    assert exported.ok and "history" not in exported.json()
    assert len(audits(console, "patient_viewed")) == 1

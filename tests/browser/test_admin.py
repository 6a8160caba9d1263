"""The admin view in the real browser (no Asterisk): users, desks, queues, the audit log, forgery, roles."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.db.models import Agent, Call, Patient, Queue, User
from callcenter.db.queries import add_audit_event

from .conftest import VIEWPORT
from .live import ROLE_USERS

NEW_PASSWORD = "a fresh long passphrase 42"


def _user(console, username: str) -> User | None:
    return console.user(username)


def test_given_admin_when_creating_user_in_browser_then_that_user_signs_in(signed_in, console, browser,
                                                                          screenshot):
    page = signed_in("admin")
    page.goto("/admin")
    screenshot(page, "admin-overview")
    page.keyboard.press("Alt+U")
    page.wait_for_url("**/admin/users")
    page.fill("#username", "zoe.kim")
    page.fill("#display_name", "Zoe Kim")
    page.select_option("#role", "nurse")
    page.fill("#password", "short")
    page.click("#new-user button[type=submit]")

    expect(page.get_by_role("alert")).to_contain_text("at least 12 characters")
    expect(page.locator("#username")).to_have_value("zoe.kim")
    expect(page.locator("#display_name")).to_have_value("Zoe Kim")
    expect(page.locator("#role")).to_have_value("nurse")
    expect(page.locator("#password")).to_be_focused()
    screenshot(page, "admin-users-error")
    page.fill("#password", NEW_PASSWORD)
    page.click("#new-user button[type=submit]")
    page.wait_for_url("**/admin/users/zoe.kim")
    expect(page.locator("#admin-notice")).to_contain_text("User zoe.kim created")
    screenshot(page, "admin-user")

    context = browser.new_context(viewport=VIEWPORT, base_url=console.url)
    other = context.new_page()
    other.goto("/login")
    other.fill("input[name=username]", "zoe.kim")
    other.fill("input[name=password]", NEW_PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url(lambda url: "/login" not in url)
    expect(other.locator(".who .role-badge")).to_have_text("nurse")
    context.close()
    page.goto("/admin/users")
    expect(page.locator('tr[data-username="zoe.kim"]')).to_contain_text("Zoe Kim")
    screenshot(page, "admin-users")


def test_given_admin_on_own_page_when_deactivating_self_then_refused_and_still_active(signed_in, console,
                                                                                     screenshot):
    page = signed_in("admin")
    page.goto("/admin/users/admin1")
    page.click("#deactivate")

    expect(page.get_by_role("alert")).to_contain_text("cannot deactivate your own account")
    assert _user(console, "admin1").active
    screenshot(page, "admin-user-self-refused")


def test_given_admin_when_setting_supervisor_phone_then_error_keeps_text_and_valid_one_saves(
        signed_in, console, screenshot):
    page = signed_in("admin")
    page.goto("/admin/users/supervisor1")
    page.fill("#phone_endpoint", "not a phone")
    page.click("#phone-form button[type=submit]")

    expect(page.get_by_role("alert")).to_contain_text("dial string of one phone")
    expect(page.locator("#phone_endpoint")).to_have_value("not a phone")
    assert _user(console, "supervisor1").phone_endpoint is None
    page.fill("#phone_endpoint", "PJSIP/2001")
    page.click("#phone-form button[type=submit]")
    expect(page.locator("#admin-notice")).to_contain_text("Phone saved: supervisor1")
    expect(page.locator("#phone_endpoint")).to_have_value("PJSIP/2001")
    assert _user(console, "supervisor1").phone_endpoint == "PJSIP/2001"
    screenshot(page, "admin-user-phone")


def test_given_admin_when_editing_desk_skills_then_running_queue_service_sees_them(signed_in, console,
                                                                                  screenshot):
    page = signed_in("admin")
    page.goto("/admin/desks")
    screenshot(page, "admin-desks")
    page.click('tr[data-number="9001"] a >> nth=0')
    page.wait_for_url("**/admin/desks/9001")
    page.check('input[name=skills][value="nurse"]')
    page.check('input[name=skills][value="results"]')
    page.fill("#languages", "en, es")
    page.fill("#endpoint", "PJSIP 9001")
    page.keyboard.press("Alt+S")

    expect(page.get_by_role("alert")).to_contain_text("Tech/resource")
    expect(page.locator("#endpoint")).to_have_value("PJSIP 9001")
    expect(page.locator("#endpoint")).to_be_focused()
    expect(page.locator('input[name=skills][value="nurse"]')).to_be_checked()
    expect(page.locator("#languages")).to_have_value("en, es")
    screenshot(page, "admin-desk-error")
    assert console.services.queues.agent("9001").skills == {"general"}

    page.fill("#endpoint", "PJSIP/9001")
    page.keyboard.press("Alt+S")
    expect(page.locator("#admin-notice")).to_contain_text("Desk 9001 saved")
    running = console.services.queues.agent("9001")
    assert running.skills == {"general", "nurse", "results"}
    assert (running.endpoint, running.languages) == ("PJSIP/9001", {"en", "es"})
    expect(page.locator("#running-skills")).to_have_text("general, nurse, results")
    screenshot(page, "admin-desk")


def test_given_admin_when_creating_desk_and_queue_then_both_run(signed_in, console, screenshot):
    page = signed_in("admin")
    page.goto("/admin/desks")
    page.keyboard.press("Alt+N")
    page.wait_for_url("**/admin/desks/new")
    page.fill("#number", "9070")
    page.fill("#name", "Overflow desk")
    page.fill("#endpoint", "Local/9070@agent-phones/n")
    page.check('input[name=skills][value="general"]')
    screenshot(page, "admin-desk-new")
    page.click("#desk-form button[type=submit]")
    page.wait_for_url("**/admin/desks/9070")
    assert console.services.queues.agent("9070").skills == {"general"}

    page.goto("/admin/queues/new")
    page.fill("#name", "pharmacy")
    page.fill("#title", "Pharmacy")
    page.fill("#skill", "general")
    page.fill("#service_level_seconds", "a minute")
    page.click("#queue-form button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("whole number of seconds")
    expect(page.locator("#title")).to_have_value("Pharmacy")
    screenshot(page, "admin-queue-error")
    page.fill("#service_level_seconds", "45")
    page.click("#queue-form button[type=submit]")
    page.wait_for_url("**/admin/queues")
    expect(page.locator('tr[data-name="pharmacy"]')).to_contain_text("45 s")
    assert console.services.queues.queue("pharmacy").service_level_seconds == 45
    screenshot(page, "admin-queues")
    page.click('tr[data-name="general"] a')
    screenshot(page, "admin-queue")


def test_given_admin_when_ticking_the_post_call_survey_of_a_queue_then_the_running_queue_surveys(
        signed_in, console):
    page = signed_in("admin")
    page.goto("/admin/queues/general")
    expect(page.locator("#post_call_survey")).not_to_be_checked()

    page.check("#post_call_survey")
    page.click("#queue-form button[type=submit]")
    page.wait_for_url("**/admin/queues")
    assert console.services.queues.queue("general").post_call_survey is True
    with console.services.db.session() as session:
        assert session.scalar(select(Queue.post_call_survey).where(Queue.name == "general")) is True

    page.goto("/admin/queues/general")
    expect(page.locator("#post_call_survey")).to_be_checked()
    page.uncheck("#post_call_survey")
    page.click("#queue-form button[type=submit]")
    page.wait_for_url("**/admin/queues")
    assert console.services.queues.queue("general").post_call_survey is False


def test_given_desk_with_history_when_deleting_in_browser_then_refused_with_reason(signed_in, console,
                                                                                  screenshot):
    with console.services.db.session() as session:
        agent_id = session.scalar(select(Agent.id).where(Agent.number == "1001"))
        session.add(Call(agent_id=agent_id, status="ended"))
    page = signed_in("admin")
    page.goto("/admin/desks/1001")
    page.click("#delete-desk")

    expect(page.get_by_role("alert")).to_contain_text("the call history refers to it (1 call)")
    assert "1001" in console.services.queues.agents


def _seed_audit(services, patient_id: int, nurse_id: int) -> None:
    with services.db.session() as session:
        add_audit_event(session, "patient_viewed", actor_user_id=nurse_id, patient_id=patient_id,
                        call_id="a" * 32, reason="caller asked about results")
        add_audit_event(session, "recording_played", actor_user_id=nurse_id, recording_id=42,
                        call_id="a" * 32, reason="complaint investigation")


def test_given_audit_rows_when_admin_filters_then_only_matching_rows(signed_in, console, screenshot):
    signed_in("agent")   # a real sign-in row
    with console.services.db.session() as session:
        patient = session.scalar(select(Patient).where(Patient.mrn == "MRN100024"))
        nurse_id = session.scalar(select(User.id).where(User.username == ROLE_USERS["nurse"].username))
        patient_id, patient_name = patient.id, patient.full_name
    _seed_audit(console.services, patient_id, nurse_id)
    page = signed_in("admin")
    page.goto("/admin")
    page.keyboard.press("Alt+L")
    page.wait_for_url("**/admin/audit")
    expect(page.locator("#audit-table tbody tr[data-action=sign_in]").first).to_be_visible()

    page.select_option("#actor", "agent1")
    page.click("#audit-filter button[type=submit]")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page.locator("#audit-table tbody tr")).to_contain_text("sign_in")

    page.goto("/admin/audit")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.fill("#mrn", "mrn100024")
    page.click("#audit-filter button[type=submit]")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(patient_name)
    expect(rows).to_contain_text("caller asked about results")
    expect(rows).to_contain_text("nurse1 (Noor Nurse, RN)")
    # The MRN went in the form's POST body only: no URL (request, page, export or row link) carries it.
    expect(page.locator("#mrn")).to_have_value("MRN100024")
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map((a) => a.href)")
    assert urls and not [u for u in [*urls, page.url, *hrefs] if "100024" in u], "an MRN went into a URL"
    assert f"patient={patient_id}" in page.locator("#audit-csv").get_attribute("href")

    page.goto("/admin/audit?recording_id=42")
    expect(page.locator("#audit-table tbody tr")).to_contain_text("complaint investigation")
    page.goto("/admin/audit")
    screenshot(page, "admin-audit")
    page.fill("#date_from", "2026-11-30")
    page.fill("#date_to", "2026-11-01")
    page.click("#audit-filter button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("start date is after the end date")
    expect(page.locator("#date_from")).to_have_value("2026-11-30")
    screenshot(page, "admin-audit-error")


def test_given_admin_page_when_forged_posts_without_csrf_then_403_and_nothing_changed(signed_in, console):
    page = signed_in("admin")
    page.goto("/admin/users")

    no_header = page.evaluate("""async () => {
        const body = new URLSearchParams({username: "mallory", display_name: "M", role: "admin",
                                          password: "a fresh long passphrase 42"});
        const r = await fetch("/admin/users", {method: "POST", body, credentials: "same-origin"});
        return r.status;
    }""")
    assert no_header == 403

    page.fill("#username", "mallory2")
    page.fill("#display_name", "M")
    page.fill("#password", NEW_PASSWORD)
    page.evaluate("""() => {
        document.querySelector('#new-user input[name=csrf_token]').value = "forged";
    }""")
    with page.expect_response(lambda r: r.request.method == "POST" and "/admin/users" in r.url) as answer:
        page.click("#new-user button[type=submit]")
    assert answer.value.status == 403
    expect(page.locator("main")).to_contain_text("CSRF")
    assert _user(console, "mallory") is None and _user(console, "mallory2") is None


def test_given_agent_when_opening_admin_then_403(signed_in, screenshot):
    page = signed_in("agent")

    response = page.goto("/admin")

    assert response.status == 403
    assert page.get_by_role("link", name="Administration").count() == 0
    screenshot(page, "admin-403-agent")

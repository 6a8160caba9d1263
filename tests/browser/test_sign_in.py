"""Signing in and out in the real browser, for every role."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .live import PASSWORD


@pytest.mark.parametrize("role", ["agent", "nurse", "supervisor", "admin"])
def test_given_role_user_when_signing_in_in_browser_then_home_shows_name_and_role(signed_in, screenshot,
                                                                                  role):
    page = signed_in(role)

    assert page.locator(".who .role-badge").text_content().strip() == role
    screenshot(page, f"home-{role}")


def test_given_wrong_password_when_signing_in_then_error_shown_and_still_on_login(browser, console,
                                                                                  screenshot):
    page = browser.new_page(base_url=console.url, viewport={"width": 1366, "height": 768})
    page.goto("/login")
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")

    assert "/login" in page.url
    assert page.get_by_role("alert").count() >= 1
    screenshot(page, "login-refused")
    page.close()


NEW_PASSWORD = "my own passphrase for work 7"


def _change(page, current: str, new: str, confirm: str) -> None:
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#confirm_password", confirm)
    page.click("main button[type=submit]")


def test_given_admin_set_password_when_signing_in_then_must_choose_own_before_reaching_the_desk(
        browser, console, screenshot):
    from argon2 import PasswordHasher

    from callcenter.auth.services import set_password
    with console.services.db.session() as session:
        set_password(session, PasswordHasher(), "agent1", "the admin typed this", must_change=True)
    page = browser.new_page(base_url=console.url, viewport={"width": 1366, "height": 768})
    page.goto("/agent")
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", "the admin typed this")
    page.click("button[type=submit]")

    page.wait_for_url("**/account/password?next=/agent")
    expect(page.locator("#password-notice")).to_contain_text("An administrator set your password")
    page.goto("/agent")  # nothing else opens before the change
    page.wait_for_url("**/account/password?next=/agent")
    _change(page, "the admin typed this", NEW_PASSWORD, NEW_PASSWORD + "x")
    expect(page.get_by_role("alert")).to_contain_text("The two new passwords differ")
    screenshot(page, "password-must-change")
    _change(page, "the admin typed this", NEW_PASSWORD, NEW_PASSWORD)

    page.wait_for_url("**/agent")
    page.click(".signout button")
    page.wait_for_url("**/login?signed_out=1")
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    expect(page.locator(".who .role-badge")).to_have_text("agent")
    assert "password_changed" in console.audit_actions()
    page.close()


def test_given_signed_in_when_changing_own_password_from_top_bar_then_back_home_signed_in(signed_in, console):
    page = signed_in("supervisor")

    page.click("#account-password")
    _change(page, "wrong current password", NEW_PASSWORD, NEW_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("The current password is wrong")
    _change(page, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)

    page.wait_for_url(lambda url: url.rstrip("/") == console.url)
    expect(page.locator(".who .role-badge")).to_have_text("supervisor")


def test_given_desk_and_wallboard_open_when_user_deactivated_or_password_reset_then_pages_go_to_sign_in(
        signed_in, console, screenshot):
    from argon2 import PasswordHasher
    from sqlalchemy import update

    from callcenter.auth.services import set_password
    from callcenter.db.models import User
    console.services.auth.sockets.recheck_seconds = 0.2
    desk, board = signed_in("agent"), signed_in("supervisor")
    desk.goto("/agent")
    board.goto("/supervisor")
    for page in (desk, board):
        expect(page.locator("#connection-status")).to_have_text("Live")

    with console.services.db.session() as session:   # what the admin console's two buttons do
        session.execute(update(User).where(User.username == "agent1")
                        .values(active=False, session_version=User.session_version + 1))
        set_password(session, PasswordHasher(), "supervisor1", "an admin reset this", must_change=True)

    desk.wait_for_url("**/login?next=%2Fagent")
    board.wait_for_url("**/login?next=%2Fsupervisor")
    screenshot(desk, "desk-session-ended")

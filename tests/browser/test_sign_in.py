"""Signing in and out in the real browser, for every role."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("role", ["agent", "nurse", "supervisor", "admin"])
def test_given_role_user_when_signing_in_in_browser_then_home_shows_name_and_role(signed_in, screenshot, role):
    page = signed_in(role)

    assert page.locator(".who .role-badge").text_content().strip() == role
    screenshot(page, f"home-{role}")


def test_given_wrong_password_when_signing_in_then_error_shown_and_still_on_login(browser, console, screenshot):
    page = browser.new_page(base_url=console.url, viewport={"width": 1366, "height": 768})
    page.goto("/login")
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")

    assert "/login" in page.url
    assert page.get_by_role("alert").count() >= 1
    screenshot(page, "login-refused")
    page.close()

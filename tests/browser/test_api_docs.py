"""The API docs page in the real browser (issue 15): Swagger UI, served by this server (no other host),
renders the OpenAPI document: its title, the operations of each package, and an operation opened shows its
answer's schema. No request leaves for another host, and the page keeps the Content-Security-Policy."""
from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from .live import PASSWORD, ROLE_USERS


def test_given_signed_out_supervisor_when_opening_api_docs_then_signs_in_and_swagger_ui_renders_it_from_here(
        browser, console, screenshot):
    page = browser.new_page(base_url=console.url, viewport={"width": 1366, "height": 768})
    hosts, refused = set(), []
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security" in msg.text else None)

    page.goto("/docs/api")
    page.wait_for_url("**/login?next=/docs/api")  # not for anonymous visitors
    page.fill("input[name=username]", ROLE_USERS["supervisor"].username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_url("**/docs/api")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Callcenter API")
    operation = page.locator("#operations-desk-api_desk")
    expect(operation).to_contain_text("/api/agents/{number}/desk")
    expect(page.locator("#operations-campaigns-api_campaigns")).to_be_visible()
    operation.locator(".opblock-summary").click()
    expect(operation.locator(".responses-wrapper")).to_contain_text("disposition_owed")
    assert hosts == {urlsplit(console.url).netloc}, "the page fetched from another host"
    assert refused == []
    screenshot(page, "api-docs")
    page.close()

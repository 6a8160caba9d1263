"""Webhooks in the admin console, in the real browser (no Asterisk): an admin subscribes a receiver (a real
HTTP server in the console's loop), a delivery the receiver refuses goes dead and is shown so; once the
receiver works, the admin re-sends it and the page shows it delivered."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.webhooks.receiver import SECRET, Receiver, serve

from .live import LiveConsole, console_config, seed_role_users, wait_until


@pytest.fixture
def hooked_console(tmp_path) -> Iterator[tuple[LiveConsole, Receiver]]:
    """A console whose worker gives up fast (2 attempts, 20 ms apart), and a receiver that answers 500."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    seed_role_users(url)
    cfg = console_config(tmp_path, url)
    cfg.webhooks.max_attempts, cfg.webhooks.backoff_seconds, cfg.webhooks.poll_seconds = 2, 0.02, 0.05
    live = LiveConsole(cfg).start()
    receiver = Receiver(default=500)
    runner = live.run(serve(receiver))
    yield live, receiver
    live.run(runner.cleanup())
    live.stop()


def emit_call_end(live: LiveConsole, call_id: str) -> None:
    async def emit() -> None:
        live.services.events.event(call_id, "ended", outcome="answered", reason="caller_hangup")
    live.run(emit())


def reload_until(page: Page, selector: str, what: str) -> None:
    """The deliveries are server-rendered: reload until the row is there."""
    def shown() -> bool:
        page.reload()
        return page.locator(selector).count() > 0
    wait_until(shown, timeout=30, what=what)


def test_given_a_refusing_receiver_when_the_delivery_died_then_the_admin_resends_it_and_sees_it_delivered(
        signed_in, hooked_console, screenshot):
    live, receiver = hooked_console
    page = signed_in("admin", live)
    page.goto("/admin")
    page.get_by_role("link", name="Webhooks").click()
    page.wait_for_url("**/admin/webhooks")
    page.fill("#name", "his")
    page.fill("#url", receiver.url)
    page.check('input[name=events][value="call.ended"]')
    page.fill("#secret", SECRET)
    page.click("#new-subscription button[type=submit]")
    expect(page.locator("#webhook-secret")).to_contain_text(SECRET)
    expect(page.locator('tr[data-subscription="his"]')).to_contain_text("call.ended")

    emit_call_end(live, "e" * 32)
    page.goto("/admin/webhooks?status=dead")
    reload_until(page, 'tr[data-status="dead"]', "the delivery to go dead")
    row = page.locator('tr[data-status="dead"]')
    expect(row).to_contain_text("HTTP 500")
    expect(row.locator("td").nth(4)).to_have_text("2")
    screenshot(page, "admin-webhooks-dead")

    receiver.default = 200
    row.get_by_role("button", name="Re-send").click()
    page.wait_for_url("**/admin/webhooks/deliveries/*")
    expect(page.locator("#admin-notice")).to_contain_text("will be sent again")
    reload_until(page, '#delivery-facts [data-field="status"]:text-is("delivered")', "the re-sent delivery")
    expect(page.locator("#delivery-body")).to_contain_text("e" * 32)
    screenshot(page, "admin-webhook-delivery")

    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert receiver.received[-1].verifies() and receiver.received[-1].body == receiver.received[0].body

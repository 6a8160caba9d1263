"""The gateway's callbacks on the real application (aiohttp test client, both databases): a wrong or
missing key is refused and nothing is stored; no key configured: the callbacks are off."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.db.models import TextDeliveryReport, TextMessage
from callcenter.main import build, init_app
from tests.browser.live import console_config

KEY = "the-gateway-key"


@pytest.fixture
async def client(tmp_path, db, database_url, aiohttp_client):
    cfg = console_config(tmp_path, database_url)
    cfg.sms.callback_key = KEY
    services = build(cfg)
    return await aiohttp_client(init_app(cfg, services, ari=False)), services


def _count(db, model) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


async def test_given_a_wrong_key_when_a_text_is_posted_then_403_and_nothing_kept(client, db):
    http, _ = client

    response = await http.post("/sms/gateway/inbound?key=guess", data="STOP",
                               headers={"X-Kannel-From": "+14155550100", "Content-Type": "text/plain"})

    assert response.status == 403 and _count(db, TextMessage) == 0


async def test_given_no_sender_when_a_text_is_posted_then_400(client, db):
    http, _ = client

    response = await http.post(f"/sms/gateway/inbound?key={KEY}", data="STOP",
                               headers={"Content-Type": "text/plain"})

    assert response.status == 400 and _count(db, TextMessage) == 0


async def test_given_the_key_when_a_text_is_posted_then_kept_and_answered(client, db):
    http, _ = client

    response = await http.post(f"/sms/gateway/inbound?key={KEY}", data="HELP",
                               headers={"X-Kannel-From": "+14155550100", "Content-Type": "text/plain"})

    assert response.status == 200 and _count(db, TextMessage) == 2   # the text and its answer


async def test_given_another_texts_key_when_a_report_comes_then_403_and_nothing_kept(client, db):
    http, services = client
    await http.post(f"/sms/gateway/inbound?key={KEY}", data="HELP",
                    headers={"X-Kannel-From": "+14155550100", "Content-Type": "text/plain"})
    with db.session() as session:
        answer = session.scalar(select(TextMessage.id).where(TextMessage.direction == "out"))

    report = f"/sms/gateway/report?id={answer}&status=1&key="
    wrong = await http.get(report + services.sms.report_key(answer + 1))
    right = await http.get(report + services.sms.report_key(answer))

    assert wrong.status == 403 and right.status == 200
    with db.session() as session:
        assert session.get(TextMessage, answer).status == "delivered"
        assert session.scalar(select(func.count()).select_from(TextDeliveryReport)) == 1


async def test_given_no_callback_key_configured_when_called_then_the_callbacks_are_off(
        tmp_path, db, database_url, aiohttp_client):
    cfg = console_config(tmp_path, database_url)
    http = await aiohttp_client(init_app(cfg, build(cfg), ari=False))

    inbound = await http.post("/sms/gateway/inbound?key=", data="STOP",
                              headers={"X-Kannel-From": "+14155550100"})
    report = await http.get("/sms/gateway/report?id=1&key=&status=1")

    assert inbound.status == report.status == 404 and _count(db, TextMessage) == 0


async def test_given_a_providers_status_word_when_reported_then_it_counts_like_kannels_code(client, db):
    http, services = client
    await http.post(f"/sms/gateway/inbound?key={KEY}", data="HELP",
                    headers={"X-Kannel-From": "+14155550100", "Content-Type": "text/plain"})
    with db.session() as session:
        answer = session.scalar(select(TextMessage.id).where(TextMessage.direction == "out"))
    report = f"/sms/gateway/report?id={answer}&key={services.sms.report_key(answer)}&status="

    unknown = await http.get(report + "teleported")
    failed = await http.get(report + "Undelivered")

    assert unknown.status == 400 and failed.status == 200
    with db.session() as session:
        assert session.get(TextMessage, answer).status == "failed"
        assert session.scalar(select(TextDeliveryReport.code)) == 2

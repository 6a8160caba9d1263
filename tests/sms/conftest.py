"""Fixtures of the SMS tests: a real Kannel (kannel.py) for the session, the contact center served on the
port its sms-service posts to, patients with mobiles and appointments, a polling helper."""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from callcenter.config import Config
from callcenter.db.database import Database
from callcenter.db.models import TextMessage
from callcenter.main import Services, build, init_app
from callcenter.sms.services import SmsService
from callcenter.sms.templates import load
from tests.browser.live import console_config

from .kannel import KEY, PASSWORD, SHORT_CODE, USER, Kannel

HOSPITAL, CALLBACK = "St. Example Hospital", "+1 415 555 0100"
_numbers = itertools.count(random.randrange(1000, 8000))


async def until(predicate, timeout: float = 30.0, every: float = 0.05):
    """Poll a predicate (sync or async) until it returns something true; that value."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every)


def new_number() -> str:
    """A mobile number no other test of the session texts (the fake handsets are shared)."""
    return f"+1415555{next(_numbers):04d}"


@pytest.fixture(scope="session")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    gateway = Kannel(tmp_path_factory.mktemp("kannel"))
    gateway.start()
    yield gateway
    gateway.stop()


def sms_config(tmp_path, database_url: str, kannel: Kannel):
    cfg = console_config(tmp_path, database_url)
    cfg.site = dataclasses.replace(cfg.site, hospital_name=HOSPITAL, callback_number=CALLBACK,
                                   time_zone="America/New_York")
    cfg.sms = dataclasses.replace(
        cfg.sms, enabled=True, gateway="kannel", sender=SHORT_CODE, kannel_url=kannel.sendsms_url,
        kannel_username=USER, kannel_password=PASSWORD, callback_url=kannel.app_url, callback_key=KEY,
        poll_seconds=0.05, backoff_seconds=0.2, backoff_max_seconds=0.5, max_attempts=100, timeout_seconds=5)
    return cfg


@pytest.fixture
async def center(kannel: Kannel, db: Database, database_url: str, tmp_path, aiohttp_server
                 ) -> AsyncIterator[Services]:
    """The contact center (no Asterisk) with its SMS worker, on the port Kannel posts incoming texts to."""
    cfg = sms_config(tmp_path, database_url, kannel)
    services = build(cfg)
    await aiohttp_server(init_app(cfg, services, ari=False), port=kannel.ports["app"])
    yield services
    # Every report of this test's texts in before the next test's server takes the port (text ids start
    # at 1 in each test's database: a late report would land on another test's text).
    await until(lambda: not _rows_waiting(db), timeout=15)


def _rows_waiting(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(TextMessage.id).where(
            TextMessage.direction == "out", TextMessage.status.in_(("queued", "sent")))))


def reminder_campaign(name: str = "sms-reminders", days_ahead: int = 1) -> str:
    return (f"name: {name}\nkind: appointment_reminder\ntitle: Reminders\nversion: 1\n"
            f"target: {{rule: appointments, days_ahead: {days_ahead}}}\nmode: automated\n"
            "flow: appointment-reminder\n")


# -- the SMS service alone, on a fixed clock (test_services.py, test_timeline.py) ----------------------------

# Tuesday 2026-11-24 15:00 UTC = 10:00 in New York (the hospital).
SERVICE_NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = SERVICE_NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cfg(database_url: str) -> Config:
    cfg = Config()
    cfg.database.url = database_url
    cfg.site.time_zone = "America/New_York"
    cfg.site.hospital_name, cfg.site.callback_number = "St. Example", "+1 415 555 0100"
    cfg.sms.callback_key = "k"
    return cfg


@pytest.fixture
def sms(db, cfg, clock) -> SmsService:
    return SmsService(db, cfg, load(), clock=clock)

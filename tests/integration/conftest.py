"""Fixtures for tests that place real calls through the sandbox Asterisk (the `asterisk` fixture itself is in
tests/conftest.py, shared with the browser tests)."""
from __future__ import annotations

import dataclasses

import pytest

from callcenter.db.database import Database
from callcenter.demo import seed_demo

from .harness import start_contact_center, test_config


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    db = Database(database_url)
    db.upgrade()
    with db.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    db.close()
    cfg = test_config(tmp_path, database_url, asterisk)
    center, close = await start_contact_center(cfg)
    yield center
    await close()


@pytest.fixture
async def campaign_center(asterisk, database_url, tmp_path):
    """The product for campaign tests (test_campaign_*.py): the hospital in New York, patients' phones
    given up on after 5 s of ringing."""
    db = Database(database_url)
    db.upgrade()
    with db.session() as session:
        seed_demo(session, "Local/auto-{number}@agent-phones/n")
    db.close()
    cfg = test_config(tmp_path, database_url, asterisk, campaign_ring_timeout=5)
    cfg.site = dataclasses.replace(cfg.site, time_zone="America/New_York")
    center, close = await start_contact_center(cfg)
    yield center
    await close()

"""Fixtures for tests that place real calls through the sandbox Asterisk (the `asterisk` fixture itself is in
tests/conftest.py, shared with the browser tests). A test file that needs another configuration builds its own
`center` with harness.seeded_center, as these do."""
from __future__ import annotations

import dataclasses

import pytest

from .harness import seeded_center


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    async with seeded_center(asterisk, database_url, tmp_path) as center:
        yield center


def _in_new_york(cfg) -> None:
    cfg.site = dataclasses.replace(cfg.site, time_zone="America/New_York")


@pytest.fixture
async def campaign_center(asterisk, database_url, tmp_path):
    """The product for campaign tests (test_campaign_*.py): the hospital in New York, patients' phones
    given up on after 5 s of ringing."""
    async with seeded_center(asterisk, database_url, tmp_path, _in_new_york,
                             campaign_ring_timeout=5) as center:
        yield center

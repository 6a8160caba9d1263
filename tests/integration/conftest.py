"""Fixtures for tests that place real calls through the sandbox Asterisk."""
from __future__ import annotations

import secrets

import pytest

from callcenter.db.database import Database
from callcenter.demo import seed_demo

from .harness import ROOT, TEST_INSTANCE, TEST_PORT, sandbox, start_contact_center, test_config


@pytest.fixture(scope="session")
def asterisk() -> str:
    """The sandbox Asterisk for this test session, freshly configured; yields the ARI password."""
    from callcenter.prompts import generate
    prompts = ROOT / "var" / "prompts"
    generate(ROOT / "ivr_flows" / "prompts.yaml", prompts)
    password = secrets.token_urlsafe(16)
    sandbox("provision", timeout=900)
    sandbox("stop", "--instance", TEST_INSTANCE, check=False)
    sandbox("install", "--instance", TEST_INSTANCE, "--http-port", str(TEST_PORT), "--ari-password", password,
            "--prompts", str(prompts))
    sandbox("start", "--instance", TEST_INSTANCE)
    yield password
    sandbox("stop", "--instance", TEST_INSTANCE, check=False)


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

"""Fixtures for tests that place real calls through the sandbox Asterisk."""
from __future__ import annotations

import dataclasses
import fcntl
import secrets
import shutil
from pathlib import Path

import pytest

from callcenter.db.database import Database
from callcenter.demo import seed_demo

from .harness import ROOT, TEST_INSTANCE, TEST_PORT, sandbox, start_contact_center, test_config


@pytest.fixture(scope="session")
def asterisk() -> str:
    """The sandbox Asterisk of this test process (each xdist worker has its own: harness.TEST_INSTANCE),
    freshly configured, with every prompt `callcenter prompts` renders: the catalog's and the site prompts of
    the tests' [site] (harness.test_config: the hospital's name). Yields the ARI password."""
    prompts = _prompts()
    password = secrets.token_urlsafe(16)
    sandbox("provision", timeout=900)
    sandbox("stop", "--instance", TEST_INSTANCE, check=False)
    sandbox("install", "--instance", TEST_INSTANCE, "--http-port", str(TEST_PORT), "--ari-password", password,
            "--prompts", str(prompts))
    sandbox("start", "--instance", TEST_INSTANCE)
    yield password
    sandbox("stop", "--instance", TEST_INSTANCE, check=False)


def _prompts() -> Path:
    """var/prompts (the catalog, shared with the developer's `callcenter prompts`) copied to var/test-prompts
    with the site prompts of the test configuration added, so the developer's own stay as their site says."""
    from callcenter.campaigns.message import render_site_prompts
    from callcenter.prompts import generate
    catalog, out = ROOT / "ivr_flows" / "prompts.yaml", ROOT / "var" / "test-prompts"
    out.mkdir(parents=True, exist_ok=True)
    # xdist workers start their sessions together: one renders, the others wait and find the files made.
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        generate(catalog, ROOT / "var" / "prompts")
        shutil.copytree(ROOT / "var" / "prompts", out, dirs_exist_ok=True)
        render_site_prompts(test_config(out, "sqlite://", "").site, catalog, out)
    return out


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

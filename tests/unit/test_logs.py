"""The server's log configuration (callcenter/logs.py)."""
from __future__ import annotations

import logging

import pytest

from callcenter import logs


@pytest.fixture
def restored():
    root, progress = logging.getLogger(), logging.getLogger("weasyprint.progress")
    saved = (root.level, list(root.handlers), progress.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    progress.setLevel(saved[2])


def test_given_info_logs_when_configured_then_weasyprints_render_steps_are_quiet_and_debug_shows_them(
        restored):
    logs.configure("text", "INFO")
    assert not logging.getLogger("weasyprint.progress").isEnabledFor(logging.INFO)
    assert logging.getLogger("weasyprint").isEnabledFor(logging.WARNING)
    logs.configure("text", "DEBUG")
    assert logging.getLogger("weasyprint.progress").isEnabledFor(logging.INFO)

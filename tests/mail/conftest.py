from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from .dovecot import Dovecot, free_port


@pytest.fixture(scope="session")
def dovecot_server():
    # Not under pytest's own temporary folder: that one is private to root, and dovecot's mail processes
    # run as the `mail` user, who must reach the mail folders.
    root = Path(tempfile.mkdtemp(prefix="callcenter-dovecot-"))
    root.chmod(0o711)
    server = Dovecot(root, free_port(), free_port()).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server):
    """The session's IMAP server with an empty inbox."""
    dovecot_server.empty()
    return dovecot_server

"""Patient data and secrets on disk are owner-only whatever the umask (issue 14): the SQLite database, its
WAL files, recordings and their date directories, var/secrets.toml."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from callcenter import config as configuration
from callcenter.db.database import Database
from callcenter.recording.services import _store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The usual umask of a shell or service manager: files world-readable unless the code says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_given_open_umask_when_sqlite_database_created_then_owner_only_with_its_wal(open_umask, tmp_path):
    path = tmp_path / "state" / "callcenter.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.upgrade()  # writes: the -wal and -shm files exist now
    finally:
        db.close()

    assert _mode(path) == 0o600
    assert all(_mode(p) == 0o600 for p in tmp_path.glob("state/callcenter.db-*"))


def test_given_world_readable_database_from_before_when_opened_then_tightened(open_umask, tmp_path):
    path = tmp_path / "callcenter.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)

    Database(f"sqlite:///{path}").close()

    assert _mode(path) == 0o600


def test_given_open_umask_when_recording_stored_then_file_and_new_date_directories_owner_only(open_umask,
                                                                                              tmp_path):
    path = tmp_path / "recordings" / "2026" / "12" / "04" / "call.wav"

    _store(path, b"RIFF-not-really-a-wave")

    assert _mode(path) == 0o600 and path.read_bytes() == b"RIFF-not-really-a-wave"
    assert [_mode(d) for d in (path.parent, path.parent.parent, path.parent.parent.parent)] == [0o700] * 3
    assert not list(path.parent.glob("*.part"))


def test_given_open_umask_when_secrets_created_then_never_readable_by_others(open_umask, tmp_path,
                                                                             monkeypatch):
    modes = []
    real_replace = os.replace

    def replace(src, dst):
        modes.append(_mode(Path(src)))  # the moment the secrets are complete, before the rename
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    cfg = configuration.load(tmp_path / "absent.toml", {"CALLCENTER_STATE_DIR": str(tmp_path / "state")})

    path = configuration.ensure_secrets(cfg)

    assert modes == [0o600] and _mode(path) == 0o600

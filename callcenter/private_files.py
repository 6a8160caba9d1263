"""Files that hold patient data or secrets (the SQLite database, recordings, var/secrets.toml): created
readable by this service's user only, whatever the process umask says (a umask of 022 made them
world-readable). Top-level, so config, db and recording share it without importing each other."""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
# A file another service must read (Asterisk plays a ticket's spoken summary): its group reads, no one else.
GROUP_FILE_MODE = 0o640
GROUP_DIR_MODE = 0o750


def private_dir(path: Path, group: int | None = None) -> None:
    """Create the directory and its missing parents, each owner-only, or also open to `group` (a gid) when
    given (existing ones are left as they are)."""
    mode = DIR_MODE if group is None else GROUP_DIR_MODE
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by another writer
        if group is not None:
            os.chown(directory, -1, group)
        os.chmod(directory, mode)  # mkdir's mode is filtered by the umask too


def write_private(path: Path, data: bytes, group: int | None = None) -> None:
    """Write the file owner-only (or readable by `group` too, a gid), atomically: a temporary file beside it,
    then renamed over it."""
    private_dir(path.parent, group)
    mode = FILE_MODE if group is None else GROUP_FILE_MODE
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        if group is not None:
            os.fchown(fd, -1, group)
        os.fchmod(fd, mode)  # a left-over .part may have had another mode
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_private(path: Path) -> None:
    """Create the file empty if absent; make it owner-only if this user owns it (a database made before)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    if path.stat().st_uid == os.getuid():
        os.chmod(path, FILE_MODE)

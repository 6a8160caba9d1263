"""Attachments of tickets (a scanned letter): kept like recordings, owner-only files under
[complaints] attachments_dir, named by ticket and content hash (never by the sender's file name, which is kept
for display only). What a file is, is read from its first bytes: a PDF or an image renamed, or anything else,
is refused whatever its name or declared type says."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from ..private_files import write_private
from .exceptions import AttachmentRefused, UnsupportedAttachment

# Content type -> (extension, the signatures its files start with): what a scanner or a phone produces.
ACCEPTED: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "application/pdf": ("pdf", (b"%PDF-",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/tiff": ("tif", (b"II*\x00", b"MM\x00*")),
}
_UNSAFE_NAME = re.compile(r"[^\w .()-]+")


@dataclass(frozen=True)
class StoredFile:
    filename: str
    content_type: str
    size: int
    sha256: str
    path: str  # relative to the attachments directory


def sniff(data: bytes) -> str | None:
    """The accepted content type these bytes are, or None."""
    return next((kind for kind, (_, signatures) in ACCEPTED.items()
                 if any(data.startswith(s) for s in signatures)), None)


def display_name(filename: str) -> str:
    """The sender's file name, for display only: no directories, no control or markup characters."""
    # Browsers and clients may percent-encode the name (aiohttp does): decoded before the directories go.
    base = Path(unquote(filename or "").replace("\\", "/")).name
    name = _UNSAFE_NAME.sub("_", base).strip() or "attachment"
    return name[-120:]


class AttachmentStore:
    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = root, max_bytes

    def check(self, data: bytes, declared_type: str = "") -> str:
        """The file's content type; AttachmentRefused (too large, empty) or UnsupportedAttachment."""
        if not data:
            raise AttachmentRefused("the file is empty")
        if len(data) > self.max_bytes:
            raise AttachmentRefused(f"the file is larger than {self.max_bytes // (1024 * 1024)} MB")
        kind = sniff(data)
        if kind is None:
            raise UnsupportedAttachment("attach a PDF, PNG, JPEG or TIFF scan")
        declared = (declared_type or "").split(";")[0].strip().lower()
        if declared and declared not in (kind, "application/octet-stream"):
            raise UnsupportedAttachment(f"the file is {kind}, not {declared}")
        return kind

    def save(self, ticket_id: int, filename: str, data: bytes, declared_type: str = "") -> StoredFile:
        kind = self.check(data, declared_type)
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{ticket_id}/{digest[:16]}.{ACCEPTED[kind][0]}"
        write_private(self.root / relative, data)
        return StoredFile(display_name(filename), kind, len(data), digest, relative)

    def read(self, relative: str) -> bytes:
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise AttachmentRefused("not an attachment")
        return path.read_bytes()

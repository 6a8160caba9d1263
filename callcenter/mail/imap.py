"""The complaints mailbox over IMAP (imaplib; blocking, so the service calls it in a worker thread). Messages
are taken by UID and flagged \\Seen only after what they became is committed: a crash in between reads the
message again, and the inbound log's unique key makes that second reading a duplicate, not a second ticket."""
from __future__ import annotations

import imaplib
import re
import ssl
from dataclasses import dataclass

from ..config import MailConfig


class MailboxError(Exception):
    """The IMAP server cannot be reached or refused us; the message says which, never a password."""


@dataclass(frozen=True)
class Fetched:
    uid: int
    size: int
    raw: bytes | None  # None: larger than the limit, not fetched


SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")


class Mailbox:
    def __init__(self, cfg: MailConfig):
        self.cfg = cfg
        self._imap: imaplib.IMAP4 | None = None
        self.uidvalidity = 0

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        cfg = self.cfg
        try:
            if cfg.tls:
                context = ssl.create_default_context(cafile=cfg.ca_file or None)
                self._imap = imaplib.IMAP4_SSL(cfg.host, cfg.port, ssl_context=context,
                                               timeout=cfg.timeout_seconds)
            else:
                self._imap = imaplib.IMAP4(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
            self._imap.login(cfg.username, cfg.password)
            status, data = self._imap.select(cfg.folder)
            if status != "OK":
                raise MailboxError(f"the IMAP folder {cfg.folder!r} cannot be opened")
            self.uidvalidity = self._uidvalidity()
        except (OSError, imaplib.IMAP4.error) as exc:
            self.close()
            raise MailboxError(f"IMAP {cfg.host}:{cfg.port}: {type(exc).__name__}: {_safe(exc)}") from None

    def close(self) -> None:
        if self._imap is not None:
            try:
                self._imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
            self._imap = None

    def unseen(self, limit: int) -> list[Fetched]:
        """Up to `limit` unseen messages, oldest first; those above the size limit without their bytes."""
        uids = self._uid("SEARCH", None, "UNSEEN")
        found = [int(u) for u in (uids[0] or b"").split()][:limit]
        return [self._fetch(uid) for uid in found]

    def mark_seen(self, uid: int) -> None:
        self._uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")

    def _fetch(self, uid: int) -> Fetched:
        size = self._size(uid)
        if size > self.cfg.max_message_bytes:
            return Fetched(uid, size, None)
        data = self._uid("FETCH", str(uid), "(BODY.PEEK[])")
        raw = next((item[1] for item in data if isinstance(item, tuple)), None)
        if raw is None:
            raise MailboxError(f"the IMAP server sent no body for message UID {uid}")
        return Fetched(uid, size, raw)

    def _size(self, uid: int) -> int:
        for item in self._uid("FETCH", str(uid), "(RFC822.SIZE)"):
            line = item[0] if isinstance(item, tuple) else item
            match = SIZE.search(line or b"")
            if match:
                return int(match.group(2) or match.group(3))
        raise MailboxError(f"the IMAP server gave no size for message UID {uid}")

    def _uidvalidity(self) -> int:
        status, data = self._imap.status(self.cfg.folder, "(UIDVALIDITY)")
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"") if status == "OK" else None
        return int(match.group(1)) if match else 0

    def _uid(self, *args) -> list:
        if self._imap is None:
            raise MailboxError("the mailbox is not open")
        try:
            status, data = self._imap.uid(*args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"IMAP UID {args[0]}: {type(exc).__name__}: {_safe(exc)}") from None
        if status != "OK":
            raise MailboxError(f"IMAP UID {args[0]} answered {status}")
        return data


def _safe(exc: Exception) -> str:
    return str(exc)[:200]

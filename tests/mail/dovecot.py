"""A real IMAP server for the mail tests: Debian's dovecot, started as its own process with a configuration
written into a temporary folder (plain IMAP and IMAPS on free loopback ports, the certificate from a CA made
in the test, one user with a password), stopped after the tests. Messages arrive by IMAP APPEND, as a mail
server's delivery would leave them."""
from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..pki import Pki, make_pki

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "complaints", "mailbox-secret"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <{root}/pki/server.pem
ssl_key = <{root}/pki/server.key
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    """Plain IMAP on `port`; IMAPS on `tls_port` with a certificate of a CA made here (`pki.ca_file`)."""
    root: Path
    port: int
    tls_port: int
    process: subprocess.Popen | None = None
    pki: Pki | None = None

    def start(self) -> Dovecot:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # The mail user (Debian's `mail`) owns the mail folders: dovecot refuses to deliver as root.
        shutil.chown(self.root / "mail", "mail", "mail")
        shutil.chown(self.root / "home", "mail", "mail")
        (self.root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        (self.root / "pki").mkdir(exist_ok=True)
        self.pki = make_pki(self.root / "pki")
        conf = self.root / "dovecot.conf"
        conf.write_text(CONFIG.format(root=self.root, port=self.port, tls_port=self.tls_port))
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with self.client():
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as imap:
            status, _ = imap.append(folder, None, None, raw)
            assert status == "OK"

    def seen(self, folder: str = "INBOX") -> int:
        with self.client() as imap:
            imap.select(folder, readonly=True)
            _, data = imap.uid("SEARCH", None, "SEEN")
            return len((data[0] or b"").split())

    def empty(self, folder: str = "INBOX") -> None:
        with self.client() as imap:
            _, count = imap.select(folder)
            if int(count[0]) > 0:
                imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                imap.expunge()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

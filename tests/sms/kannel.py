"""A real Kannel for the SMS tests: bearerbox, smsbox and Kannel's fake SMSC (kannel-extras' fakesmsc) as
processes in a temp dir, on free ports, with the kannel.conf written here.

Two fake SMSC links: `phones` carries our texts to the handsets (one fakesmsc stays connected and prints
each text it gets: `Got message N: <from to text ...>`), `handsets` carries a patient's text to us (one short
fakesmsc per text; the link takes no text from us, `allowed-smsc-id`). fakesmsc's interactive mode reads
no pipe, hence the second link.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
SHORT_CODE = "45678"
USER, PASSWORD = "callcenter", "sendsms-secret"
KEY = "gateway-callback-key"
# Numbers no link of this Kannel takes (a country the hospital's SMS provider does not serve): bearerbox
# refuses them after accepting the text, and reports that with a failed delivery report (16, not delivered
# to the SMSC), as a real gateway does for a number it cannot deliver to.
UNROUTABLE = "+44"
GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\w+) (.*)>$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kannel:
    def __init__(self, root: Path):
        self.root = root
        self.ports = {name: free_port() for name in ("admin", "box", "phones", "handsets", "sendsms", "app")}
        self.conf = root / "kannel.conf"
        self.received: list[tuple[str, str, str]] = []   # (to, coding, text) of each text a handset got
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['app']}"

    def write_conf(self) -> None:
        p = self.ports
        self.conf.write_text(f"""
group = core
admin-port = {p['admin']}
admin-interface = 127.0.0.1
admin-password = admin-secret
smsbox-port = {p['box']}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{self.root}/bearerbox.log"
log-level = 1
store-type = file
store-location = "{self.root}/store"
dlr-storage = internal
sms-resend-freq = 1

group = smsc
smsc = fake
smsc-id = phones
port = {p['phones']}
connect-allow-ip = 127.0.0.1
denied-prefix = "{UNROUTABLE}"

group = smsc
smsc = fake
smsc-id = handsets
allowed-smsc-id = handsets
port = {p['handsets']}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {p['box']}
sendsms-port = {p['sendsms']}
sendsms-interface = 127.0.0.1
log-file = "{self.root}/smsbox.log"
log-level = 1
http-request-retry = 5
http-queue-delay = 1

group = sendsms-user
username = {USER}
password = {PASSWORD}
default-sender = {SHORT_CODE}
max-messages = 3
concatenation = true

group = sms-service
keyword = default
catch-all = true
send-sender = true
max-messages = 0
omit-empty = true
post-url = "{self.app_url}/sms/gateway/inbound?key={KEY}"
""")

    def start(self) -> None:
        self.write_conf()
        self._spawn("bearerbox", [BEARERBOX, "-v", "2", str(self.conf)])
        wait_port(self.ports["box"])
        self.start_smsbox()
        # fakesmsc sends -m messages then stays connected, printing what it gets: one harmless text from a
        # non-number (no answer is owed to it) to become the handsets' receiver.
        self._spawn("phones", [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.ports["phones"]), "-m", "1",
                               "kannel-test 0 text ping"], reader=self._read_phones)

    def start_smsbox(self) -> None:
        self._spawn("smsbox", [SMSBOX, "-v", "2", str(self.conf)])
        wait_port(self.ports["sendsms"])

    def stop_smsbox(self) -> None:
        self._stop("smsbox")

    def stop(self) -> None:
        for name in ("phones", "smsbox", "bearerbox"):
            self._stop(name)

    def text_from(self, number: str, text: str) -> subprocess.Popen:
        """A patient's handset starts sending a text to the hospital's short code; `hang_up` it once the
        text arrived (the link must stay open until bearerbox has read it)."""
        line = f"{number} {SHORT_CODE} text {text}"
        return subprocess.Popen([FAKESMSC, "-H", "127.0.0.1", "-r", str(self.ports["handsets"]), "-m", "1",
                                 line], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def hang_up(handset: subprocess.Popen) -> None:
        handset.terminate()
        handset.wait(10)

    def texts_to(self, number: str) -> list[str]:
        with self._lock:
            return [text for to, _, text in self.received if to == number]

    def _read_phones(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            found = GOT.search(line.rstrip())
            if found:
                _, to, coding, text = found.groups()
                with self._lock:
                    self.received.append((to, coding, _decode(coding, text)))

    def _spawn(self, name: str, argv: list[str], reader=None) -> None:
        with open(self.root / f"{name}.out", "a") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(argv, cwd=self.root, stdout=subprocess.PIPE if reader else log,
                                    stderr=subprocess.STDOUT, text=True, errors="replace")
        self._procs[name] = proc
        if reader:
            threading.Thread(target=reader, args=(proc,), daemon=True).start()

    def _stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout:
            proc.stdout.close()


def _decode(coding: str, text: str) -> str:
    """fakesmsc shows a text as it came: plain, or url-encoded UCS-2 ("ucs2")."""
    from urllib.parse import unquote_to_bytes
    if coding == "ucs2":
        return unquote_to_bytes(text).decode("utf-16-be")
    if coding == "data":
        return unquote_to_bytes(text).decode("latin-1")
    return text


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")

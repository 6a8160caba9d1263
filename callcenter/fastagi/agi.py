"""The only code that speaks AGI: one FastAGI connection, as pyst2's `AGI` sees it.

pyst2 (`asterisk.agi.AGI`) reads the request's environment and speaks AGI's command/response protocol over any
pair of streams. Its own FastAGI server (`asterisk.fastagi`) is Python 2 code (`import SocketServer`) and does
not import, so server.py accepts the sockets and hands each connection's streams to `Connection` here.

What FastAGI adds to AGI over a pipe, and pyst2 does not know: Asterisk writes `HANGUP` on the socket when the
channel hangs up (there is no SIGHUP to a socket), and the peer may be anything that connected, so every line
read is bounded.
"""
from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import BinaryIO

from asterisk.agi import AGI, AGIError, AGIHangup

# Asterisk's own AGI line buffer is 2048 bytes; its request environment is about 25 lines, and our scripts
# send a handful of commands: anything longer is not Asterisk.
MAX_LINE = 2048
MAX_LINES = 500
# How long Asterisk may take to send its environment or answer a command (it answers at once); `route`
# waits without a limit while the call is in the hotline (`hold_open`).
READ_TIMEOUT = 10.0


class ChannelHungUp(AGIHangup):
    """The caller hung up during the script (Asterisk's `HANGUP`), or the connection closed."""


class NotAgi(AGIError):
    """What came over the socket is not an AGI request (an overlong line, too many lines)."""


class Connection(AGI):
    """pyst2's AGI on one FastAGI socket.

    Its constructor is replaced, not called: pyst2's installs a SIGHUP handler, which only the main thread may
    do (ValueError in a connection's thread) and which means nothing for a socket, and it echoes argv and the
    whole environment, the caller's number included, to stderr. Here pyst2's debug output goes nowhere.
    """

    def __init__(self, sock: socket.socket):
        sock.settimeout(READ_TIMEOUT)
        self._socket = sock
        self.stdin = _Lines(sock.makefile("rb"))
        self.stdout = sock.makefile("w", encoding="utf-8", errors="replace", newline="\n")
        self.stderr = _Nowhere()
        self._got_sighup = False
        self.env: dict[str, str] = {}
        self._get_agi_env()  # pyst2's: reads `key: value` lines up to the blank line

    @property
    def is_request(self) -> bool:
        """Asterisk's environment names the request; garbage does not."""
        return "agi_request" in self.env

    @property
    def script(self) -> str:
        """`identify` for agi://host:port/identify (a query string, if any, is not part of the name)."""
        return self.env.get("agi_network_script", "").split("?", 1)[0].strip("/")

    @property
    def args(self) -> list[str]:
        """The AGI() arguments after the URL, in order (agi_arg_1, agi_arg_2, ...)."""
        args, n = [], 1
        while f"agi_arg_{n}" in self.env:
            args.append(self.env[f"agi_arg_{n}"])
            n += 1
        return args

    @property
    def channel_id(self) -> str:
        """The channel's unique id (logged instead of anything about the caller)."""
        return self.env.get("agi_uniqueid", "")

    @property
    def caller_number(self) -> str:
        """The caller ID as Asterisk has it: patient data, never logged."""
        return self.env.get("agi_callerid", "")

    def set_variables(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self.set_variable(name, _quotable(value))

    def hold_open(self) -> None:
        """The next answer may take as long as the call lasts (an application run with EXEC)."""
        self._socket.settimeout(None)

    def close(self) -> None:
        for stream in (self.stdout, self.stdin):
            try:
                stream.close()
            except OSError:
                pass  # the peer is gone: nothing left to flush


class _Lines:
    """The reading side as pyst2 reads it (`readline()`): bounded lines, and `HANGUP` as an exception."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._count = 0

    def readline(self) -> str:
        self._count += 1
        if self._count > MAX_LINES:
            raise NotAgi(f"more than {MAX_LINES} lines")
        line = self._raw.readline(MAX_LINE + 1)
        if not line:
            raise ChannelHungUp("the connection closed")
        if len(line) > MAX_LINE:
            raise NotAgi(f"a line longer than {MAX_LINE} bytes")
        text = line.decode("utf-8", errors="replace")
        if text.strip() == "HANGUP":
            raise ChannelHungUp("the channel hung up")
        return text

    def close(self) -> None:
        self._raw.close()


class _Nowhere:
    """pyst2's stderr: it writes the caller's number there."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def _quotable(value: str) -> str:
    """pyst2 sends values between double quotes, one command per line."""
    return " ".join(str(value).replace('"', "'").replace("\\", "/").split())

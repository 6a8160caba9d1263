"""The FastAGI server: a thread per connection (the standard library's socketserver), each connection handed
to pyst2 through agi.Connection, and the scripts of services.py behind it.

Blocking socket reads and the scripts' database sessions stay in the connection's thread, never on the event
loop. Whatever one connection brings (garbage, a hang-up mid-script, a failing script) ends that connection
only: the listener keeps serving.

Every answer sets CALLCENTER_AGI_STATUS: OK, or FAILED with CALLCENTER_AGI_ERROR saying why (an unknown
script, a choice the hotline lacks, the hotline application not connected), the reason also on Asterisk's
console (VERBOSE), so the dialplan can branch and the operator can read what went wrong. Logs name the
script and the channel's unique id, never the caller.
"""
from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable

from asterisk.agi import AGIError

from ..tcpserver import ThreadedTcpServer
from .agi import ChannelHungUp, Connection
from .services import FastAgiScripts, ScriptError

log = logging.getLogger(__name__)

STATUS, ERROR = "CALLCENTER_AGI_STATUS", "CALLCENTER_AGI_ERROR"
SCRIPTS = ("identify", "route")
# Connections served at once. A routed call holds its connection (and a thread) while it is in the hotline,
# so this bounds the threads; past it a request is answered FAILED at once and the dialplan falls back.
MAX_CONNECTIONS = 500


class FastAgiServer:
    def __init__(self, scripts: FastAgiScripts, host: str, port: int, *,
                 max_connections: int = MAX_CONNECTIONS):
        self._scripts = scripts
        self._bind = (host, port)
        self._max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()  # the figures below change in every connection's thread
        self._answered: Counter[tuple[str, str]] = Counter()
        self._open = 0
        self._listener: ThreadedTcpServer | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when configured with port 0)."""
        assert self._listener is not None, "not started"
        return self._listener.server_address[:2]

    def figures(self) -> tuple[dict[tuple[str, str], int], int]:
        """Requests answered since the start by (script, outcome: ok, failed, hung_up, error, busy), and the
        connections open now (the routed calls in the hotline among them): for /api/metrics."""
        with self._lock:
            return dict(self._answered), self._open

    def start(self) -> None:
        # A routed call's connection lasts as long as the call: stop() never waits for the connections.
        self._listener = ThreadedTcpServer(self._bind, self._connection, name="FastAGI",
                                           wait_for_connections=False)
        self._listener.start()
        log.info("FastAGI listening on %s:%d", *self.address)

    def stop(self) -> None:
        """Stop accepting. Connections still open (a call routed into the hotline keeps its connection until
        it leaves the application) end with the process; their calls do not: they are in Stasis, not here."""
        if self._listener is not None:
            self._listener.shutdown()
            self._listener.server_close()
            self._listener = None

    # -- one connection, in its own thread ----------------------------------------------------------------

    def _connection(self, sock: socket.socket, peer: tuple) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(sock, peer)
            return
        self._count(opened=1)
        try:
            self._accept(sock, peer, self._serve)
        finally:
            self._count(opened=-1)
            self._slots.release()

    def _count(self, script: str | None = None, outcome: str | None = None, opened: int = 0) -> None:
        with self._lock:
            self._open += opened
            if script is not None:
                self._answered[script, outcome] += 1

    def _refuse(self, sock: socket.socket, peer: tuple) -> None:
        log.warning("FastAGI: all %d connections in use; a request from %s is refused", self._max_connections,
                    peer[0])
        self._accept(sock, peer, self._busy)

    def _busy(self, agi: Connection, peer: tuple) -> None:
        if agi.is_request:
            self._count(_logged_name(agi), "busy")
            self._fail(agi, "the FastAGI server is busy")

    def _accept(self, sock: socket.socket, peer: tuple, then: Callable[[Connection, tuple], None]) -> None:
        try:
            agi = Connection(sock)
        except (AGIError, OSError) as exc:  # nothing AGI-shaped arrived: no channel to answer on
            log.warning("FastAGI: what %s sent is not an AGI request (%s); connection closed", peer[0], exc)
            return
        try:
            then(agi, peer)
        finally:
            agi.close()

    def _serve(self, agi: Connection, peer: tuple) -> None:
        if not agi.is_request:
            log.warning("FastAGI: what %s sent is not an AGI request (no agi_request); connection closed",
                        peer[0])
            return
        name, outcome = _logged_name(agi), "error"
        try:
            self._run(agi)
            outcome = "ok"
        except ScriptError as exc:
            outcome = "failed"
            log.warning("FastAGI %s on channel %s refused: %s", name, agi.channel_id,
                        "unknown script" if name == "unknown script" else "bad arguments or state")
            self._fail(agi, str(exc))
        except ChannelHungUp:
            outcome = "hung_up"
            log.info("FastAGI %s on channel %s: the channel hung up", name, agi.channel_id)
        except (AGIError, OSError) as exc:
            log.warning("FastAGI %s on channel %s: AGI failed: %s", name, agi.channel_id, type(exc).__name__)
        except Exception:
            log.exception("FastAGI %s on channel %s failed", name, agi.channel_id)
            self._fail(agi, "internal error in the contact center (see its log)")
        finally:
            self._count(name, outcome)

    def _run(self, agi: Connection) -> None:
        if agi.script == "identify":
            self._identify(agi)
        elif agi.script == "route":
            self._route(agi)
        else:
            raise ScriptError(f"unknown script {agi.script[:40]!r}: this server has {', '.join(SCRIPTS)}")

    def _identify(self, agi: Connection) -> None:
        if agi.args:
            raise ScriptError("identify takes no arguments: it reads the caller ID of the channel")
        facts = self._scripts.identify(agi.caller_number, agi.channel_id)
        agi.set_variables(facts.variables() | {STATUS: "OK", ERROR: ""})
        log.info("FastAGI identify on channel %s: %d candidate(s)", agi.channel_id, facts.patients)

    def _route(self, agi: Connection) -> None:
        stasis = self._scripts.route(agi.args)
        agi.set_variables({STATUS: "OK", ERROR: ""})
        log.info("FastAGI route on channel %s: into the hotline with %d choice(s)", agi.channel_id,
                 len(agi.args))
        agi.hold_open()
        agi.appexec("Stasis", stasis)  # returns when the call leaves the application
        if agi.get_variable("STASISSTATUS") == "FAILED":
            raise ScriptError("the hotline application is not connected to Asterisk")

    def _fail(self, agi: Connection, reason: str) -> None:
        """Tell the dialplan (and Asterisk's console) why; the channel may be gone by now."""
        try:
            agi.set_variables({STATUS: "FAILED", ERROR: reason})
            agi.verbose(f"callcenter FastAGI: {reason}", 1)
        except (AGIError, OSError):
            log.info("FastAGI: channel %s is gone; its failure could not be told", agi.channel_id)


def _logged_name(agi: Connection) -> str:
    """Only a known script name is logged or counted: a script path is the operator's text and may hold
    anything."""
    return agi.script if agi.script in SCRIPTS else "unknown script"

"""The MLLP listener: a thread per connection with blocking socket I/O (tcpserver.py, as FastAGI), one ACK
per message, in order. The message's parse, its transaction and its ACK all run in the connection's thread:
no hand-over to the event loop or to the database's pool and back per message (two waits for the scheduler,
more than a message's own work on a busy machine).

MLLP frames are <VT> message <FS><CR>. The framing is read here rather than with python-hl7's
`MLLPStreamReader.readblock`, which on an oversized block clears its buffer and loses the frame boundary (the
rest of that message would then come back as a second, bogus message with its own answer). Here an oversized
message is read to its end, its first bytes kept, and answered once (AR). Bytes outside a frame are skipped.

Nothing a sender does stops the listener: a failure while answering one message is logged with the message's
id and answered AE; a connection that breaks ends only its own thread. Past MAX_CONNECTIONS open at once a new
connection is closed unanswered (a thread each). stop() closes the open connections and waits for their
threads: a message being applied finishes its transaction first.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..config import ConfigError
from ..tcpserver import ThreadedTcpServer
from .ack import build_ack
from .message import INTERNAL_ERROR, error, read_header
from .services import Hl7Service

log = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
CHUNK = 65536
# Connections served at once (a hospital's interface engine opens one or a few): bounds the threads.
MAX_CONNECTIONS = 64


def frame(message: bytes) -> bytes:
    return START + message + END


@dataclass(frozen=True)
class Frame:
    data: bytes           # the message, or its first max_bytes + 1 bytes when oversized
    oversized: bool = False


class FrameReader:
    def __init__(self, recv: Callable[[int], bytes], max_bytes: int):
        self._recv, self._max = recv, max_bytes
        self._buffer = bytearray()
        self._head: bytes | None = None  # the kept start of an oversized message being skipped

    def next(self) -> Frame | None:
        """The next message, or None when the peer closed the connection."""
        while True:
            found = self._take()
            if found is not None:
                return found
            chunk = self._recv(CHUNK)
            if not chunk:
                return None
            self._buffer += chunk

    def _take(self) -> Frame | None:
        if self._head is not None:
            return self._skip_oversized()
        start = self._buffer.find(START)
        if start < 0:
            self._buffer.clear()  # noise between frames
            return None
        del self._buffer[:start]
        end = self._buffer.find(END, 1)
        if end >= 0:
            data = bytes(self._buffer[1:end])
            del self._buffer[:end + len(END)]
            return Frame(data)
        if len(self._buffer) > self._max + 1:
            self._head = bytes(self._buffer[1:self._max + 2])
            del self._buffer[:self._max + 2]
            return self._skip_oversized()
        return None

    def _skip_oversized(self) -> Frame | None:
        end = self._buffer.find(END)
        if end < 0:
            del self._buffer[:max(0, len(self._buffer) - 1)]  # keep a last FS that may be followed by CR
            return None
        del self._buffer[:end + len(END)]
        head, self._head = self._head, None
        return Frame(head or b"", oversized=True)


def listen_address(value: str) -> tuple[str, int]:
    """[hl7] listen "host:port" (or ":port", all interfaces) -> (host, port)."""
    host, _, port = value.strip().rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"hl7.listen: expected host:port, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class MllpListener:
    def __init__(self, service: Hl7Service, host: str, port: int, *, max_connections: int = MAX_CONNECTIONS):
        self._service, self._bind = service, (host, port)
        self._max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()  # the open sockets change in every connection's thread
        self._open: set[socket.socket] = set()
        self._stopping = False
        self._server: ThreadedTcpServer | None = None

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the system's choice for 0)."""
        return self._server.server_address[1] if self._server else self._bind[1]

    async def start(self) -> None:
        self._stopping = False
        self._server = ThreadedTcpServer(self._bind, self._connection, name="HL7 MLLP",
                                         wait_for_connections=True)
        self._server.start()
        log.info("HL7 MLLP listener on %s:%d", self._bind[0], self.port)

    async def stop(self) -> None:
        """Stop accepting, close the open connections, wait for their threads (off the event loop)."""
        if self._server is not None:
            await asyncio.to_thread(self._stop, self._server)
            self._server = None

    def _stop(self, server: ThreadedTcpServer) -> None:
        server.shutdown()  # no new connection after this
        with self._lock:
            self._stopping = True
            for sock in self._open:
                _hang_up(sock)  # its blocked read returns: the thread ends after its current message
        server.server_close()  # joins the connections' threads

    # -- one connection, in its own thread ----------------------------------------------------------------

    def _connection(self, sock: socket.socket, address: tuple) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("HL7 MLLP: all %d connections in use; one from %s closed", self._max_connections,
                        address[0])
            return
        try:
            with self._lock:
                if self._stopping:
                    return
                self._open.add(sock)
            self._serve(sock, f"{address[0]}:{address[1]}")
        finally:
            with self._lock:
                self._open.discard(sock)
            self._slots.release()

    def _serve(self, sock: socket.socket, peer: str) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each ACK goes out at once
        frames = FrameReader(sock.recv, self._service.settings.max_message_bytes)
        try:
            while (found := frames.next()) is not None:
                sock.sendall(frame(self._answer(found, peer)))
        except OSError:
            pass  # the sender went away (or stop() closed it); its next connection starts afresh

    def _answer(self, found: Frame, peer: str) -> bytes:
        try:
            return self._service.answer(found.data, peer)
        except Exception:
            # Storing failed (database down...): the sender must keep the message and send it again.
            log.exception("HL7 message from %s could not be stored", peer)
            problem = error(INTERNAL_ERROR, "", "not stored: send again")
            return build_ack(read_header(found.data), "AE", problem,
                             application=self._service.settings.application,
                             facility=self._service.settings.facility)


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone

"""The MLLP listener: an asyncio server, one task per connection, one ACK per message, in order.

MLLP frames are <VT> message <FS><CR>. The framing is read here rather than with python-hl7's
`MLLPStreamReader.readblock`, which on an oversized block clears its buffer and loses the frame boundary (the
rest of that message would then come back as a second, bogus message with its own answer). Here an oversized
message is read to its end, its first bytes kept, and answered once (AR). Bytes outside a frame are skipped.

Nothing a sender does stops the listener: a failure while answering one message is logged with the message's
id and answered AE; a connection that breaks ends only its own task.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..config import ConfigError
from .ack import build_ack
from .message import INTERNAL_ERROR, error, read_header
from .services import Hl7Service

log = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
CHUNK = 65536


def frame(message: bytes) -> bytes:
    return START + message + END


@dataclass(frozen=True)
class Frame:
    data: bytes           # the message, or its first max_bytes + 1 bytes when oversized
    oversized: bool = False


class FrameReader:
    def __init__(self, reader: asyncio.StreamReader, max_bytes: int):
        self._reader, self._max = reader, max_bytes
        self._buffer = bytearray()
        self._head: bytes | None = None  # the kept start of an oversized message being skipped

    async def next(self) -> Frame | None:
        """The next message, or None when the peer closed the connection."""
        while True:
            found = self._take()
            if found is not None:
                return found
            chunk = await self._reader.read(CHUNK)
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
    def __init__(self, service: Hl7Service, host: str, port: int):
        self._service, self._host, self._port = service, host, port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the system's choice for 0)."""
        return self._server.sockets[0].getsockname()[1] if self._server else self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self._host, self._port)
        log.info("HL7 MLLP listener on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else None
        frames = FrameReader(reader, self._service.settings.max_message_bytes)
        try:
            while (found := await frames.next()) is not None:
                writer.write(frame(await self._answer(found, peer)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the sender went away; its next connection starts afresh
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(self, found: Frame, peer: str | None) -> bytes:
        try:
            return await self._service.receive(found.data, peer)
        except Exception:
            # Storing failed (database down...): the sender must keep the message and send it again.
            log.exception("HL7 message from %s could not be stored", peer)
            problem = error(INTERNAL_ERROR, "", "not stored: send again")
            return build_ack(read_header(found.data), "AE", problem,
                             application=self._service.settings.application,
                             facility=self._service.settings.facility)

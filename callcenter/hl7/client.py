"""An MLLP client: messages sent over one connection, each ACK awaited before the next (as a hospital's
interface engine does). `callcenter hl7 send FILE`, the benchmark and the tests use it. Framing and reading
the ACK block are python-hl7's (`hl7.mllp`); splitting a file of messages is its `read_loose`."""
from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from hl7.client import read_loose
from hl7.mllp import open_hl7_connection


def messages_in(path: Path) -> list[bytes]:
    """The messages of a file (one or more, separated by newlines or MLLP framing)."""
    return list(read_loose(io.BytesIO(path.read_bytes())))


async def exchange(host: str, port: int, messages: Iterable[bytes], *,
                   timeout: float = 30.0) -> AsyncIterator[bytes]:
    """Each message sent and its ACK (raw bytes) yielded, in order, over one connection."""
    reader, writer = await open_hl7_connection(host, port, limit=1 << 24)
    try:
        for message in messages:
            writer.writeblock(message)
            await writer.drain()
            yield await asyncio.wait_for(reader.readblock(), timeout)
    finally:
        writer.close()

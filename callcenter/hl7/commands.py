"""`callcenter hl7 listen` (the MLLP listener alone, without the console or Asterisk) and `callcenter hl7
send FILE` (an MLLP client for operators testing their interface: each ACK printed). cli.py only parses."""
from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import hl7

from ..campaigns.followup import DischargeFollowUp
from ..config import Config
from ..db.database import Database, upgrade
from .client import exchange, messages_in
from .listener import MllpListener, listen_address
from .services import Hl7Service


def listen(cfg: Config, args) -> int:
    address = args.listen or cfg.hl7.listen
    if not address:
        print("error: no address: give --listen host:port or set [hl7] listen", file=sys.stderr)
        return 2
    upgrade(cfg.database_url)
    asyncio.run(_listen(cfg, *listen_address(address)))
    return 0


async def _listen(cfg: Config, host: str, port: int) -> None:
    db = Database(cfg.database_url)
    listener = MllpListener(Hl7Service.from_config(db, cfg, DischargeFollowUp()), host, port)
    await listener.start()
    print(f"HL7 MLLP listener on {host}:{listener.port}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await listener.stop()
        db.close()


def send(cfg: Config, args) -> int:
    messages = messages_in(Path(args.file))
    if not messages:
        print(f"error: no HL7 message (MSH segment) in {args.file}", file=sys.stderr)
        return 2
    host, port = listen_address(args.to or cfg.hl7.listen or "127.0.0.1:2575")
    host = "127.0.0.1" if host == "0.0.0.0" else host
    return asyncio.run(_send(host, port, messages, args.timeout))


async def _send(host: str, port: int, messages: list[bytes], timeout: float) -> int:
    refused = 0
    async for n, ack in _numbered(exchange(host, port, messages, timeout=timeout)):
        code = _ack_code(ack)
        refused += code != "AA"
        print(f"message {n}: {code}")
        print(ack.decode("utf-8", "replace").replace("\r", "\n").rstrip("\n"), flush=True)
    print(f"{len(messages)} sent, {len(messages) - refused} accepted (AA), {refused} not")
    return 1 if refused else 0


async def _numbered(acks):
    n = 0
    async for ack in acks:
        n += 1
        yield n, ack


def _ack_code(ack: bytes) -> str:
    try:
        return str(hl7.parse(ack.decode("utf-8")).segment("MSA")(1))
    except Exception:
        return "??"

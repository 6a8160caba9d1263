"""The MLLP listener over real sockets: one answer per message whatever the bytes, the listener never stops,
an oversized message answered once, two copies racing on two connections applied once;
stop() closes the open connections and leaves no thread, past the connection limit a connection is closed."""
from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import threading
from datetime import timedelta
from pathlib import Path

import hl7
import pytest
from sqlalchemy import func, select

from callcenter.db.models import CampaignTarget, InboundMessage, Patient
from callcenter.hl7.client import exchange
from callcenter.hl7.listener import END, START, MllpListener
from tests.integration.harness import poll

from .conftest import make_service, read_ack
from .messages import MORNING, adt, day_of_adt

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]
DAY = MORNING - timedelta(hours=3)
CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CALLCENTER_CONFIG": str(ROOT / "absent.toml")}


@pytest.fixture
async def listener(db):
    server = MllpListener(make_service(db, max_bytes=64 * 1024), "127.0.0.1", 0)
    await server.start()
    yield server
    await server.stop()


async def send_all(listener: MllpListener, messages: list[bytes]) -> list[bytes]:
    return [ack async for ack in exchange("127.0.0.1", listener.port, messages, timeout=30)]


def count(db, model, *where) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def malformed(rng: random.Random, n: int) -> bytes:
    """A valid message broken one of many ways. 0x0B and 0x1C never appear: MLLP cannot carry them inside
    a message (a sender that sends them has broken framing, not a bad message)."""
    base = adt("A01", f"FZ{n}", mrn=f"F{n}")
    noise = bytes(b for b in rng.randbytes(rng.randint(1, 40)) if b not in (0x0B, 0x1C))
    cut = rng.randint(0, len(base))
    ways = [
        lambda: base[:cut],                                            # truncated anywhere
        lambda: base[:cut] + noise + base[cut:],                       # bytes inserted (often not UTF-8)
        lambda: base[:cut] + base[cut + rng.randint(1, 30):],          # bytes deleted
        lambda: noise,                                                 # garbage
        lambda: b"",                                                   # empty
        lambda: base.replace(b"|", b"#", rng.randint(1, 12)),          # field separators lost
        lambda: base.replace(b"\r", b"", rng.randint(1, 3)),           # segments run together
        lambda: base.replace(b"MSH", bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3)), 1),
        lambda: base.replace(b"PID|", b"PXD|"),                        # no PID
        lambda: base.replace(b"2.5.1", rng.choice([b"9.9", b"", b"2.x", b"2.5.1.1"])),
        lambda: base.replace(b"ADT^A01^ADT_A01", rng.choice([b"ADT^ZZZ", b"^A01", b"ADT", b"", b"ORU^R01"])),
        lambda: base.replace(b"19580214", rng.choice([b"19581314", b"1958", b"X", b"19580230"])),
        lambda: base.replace(b"^~\\&", rng.choice([b"^~\\", b"^^\\&", b"^~\\&\xc3\xa9", b"abcd"])),
        lambda: base[:cut] + "é".encode("latin-1") + base[cut:],
        lambda: base + b"NTE|1||" + b"x" * 70_000,                     # oversized
    ]
    return rng.choice(ways)()


@SQLITE_ONLY
async def test_given_1000_malformed_then_valid_messages_when_sent_then_every_one_answered_and_valid_applied(
        db, listener, caplog):
    rng = random.Random(15)
    bad = [malformed(rng, n) for n in range(1000)]
    valid = [adt("A01", f"OK{n}", mrn=f"OK{n:04d}", family=f"Valid{n}") for n in range(20)]
    with caplog.at_level(logging.ERROR):
        acks = await send_all(listener, bad + valid)
    assert len(acks) == len(bad) + len(valid)
    parsed = [read_ack(ack) for ack in acks]  # every answer is an HL7 ACK we can read
    assert all(ack.code in ("AA", "AE", "AR") for ack in parsed)
    assert [ack.code for ack in parsed[-20:]] == ["AA"] * 20
    assert [ack.control_id for ack in parsed[-20:]] == [f"OK{n}" for n in range(20)]
    assert count(db, Patient, Patient.mrn.like("OK%")) == 20
    assert count(db, InboundMessage) == len(bad) + len(valid)  # every one kept raw
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # ... and the listener still takes a new connection.
    assert read_ack((await send_all(listener, [adt("A08", "AFTER", mrn="OK0000")]))[0]).code == "AA"


@SQLITE_ONLY
async def test_given_oversized_message_when_sent_then_one_rejection_and_next_message_answered(db, listener):
    big = adt("A01", "BIG") + b"NTE|1||" + b"y" * 200_000
    acks = await send_all(listener, [big, adt("A01", "NEXT")])
    assert [(read_ack(a).code, read_ack(a).error_code) for a in acks] == [("AR", "207"), ("AA", "")]


@SQLITE_ONLY
async def test_given_noise_between_frames_when_sent_then_skipped_and_messages_answered(db, listener):
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"noise\r\n" + START + adt("A01", "N1") + END + b"\x00\x00" + START + adt("A01", "N2") + END)
    await writer.drain()
    answers = []
    for _ in range(2):
        block = await asyncio.wait_for(reader.readuntil(END), 30)
        answers.append(str(hl7.parse(block[1:-2].decode()).segment("MSA")(2)))
    writer.close()
    assert answers == ["N1", "N2"]


async def test_given_same_message_on_two_connections_at_once_when_received_then_applied_once(db, listener):
    message = adt("A01", "TWICE")
    first, second = await asyncio.gather(send_all(listener, [message]), send_all(listener, [message]))
    assert [read_ack(first[0]).code, read_ack(second[0]).code] == ["AA", "AA"]
    with db.session() as session:
        outcomes = sorted(session.scalars(select(InboundMessage.outcome)))
    assert outcomes == ["applied", "duplicate"]
    assert count(db, Patient) == 1


@SQLITE_ONLY
async def test_given_file_of_messages_when_sent_with_the_cli_then_each_ack_printed(db, listener, tmp_path):
    path = tmp_path / "adt.hl7"
    path.write_bytes(adt("A01", "CLI1") + b"\n" + adt("A01", "CLI2", msh9="ADT^A44") + b"\n")
    to = f"127.0.0.1:{listener.port}"
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "hl7", "send", str(path), "--to", to,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT, env=CLI_ENV)
    out, err = await asyncio.wait_for(command.communicate(), 60)
    text = out.decode()
    assert command.returncode == 1, err.decode()  # one message was not accepted
    assert "message 1: AA" in text and "MSA|AA|CLI1" in text
    assert "message 2: AR" in text and "MSA|AR|CLI2" in text and "ERR|MSH^1^9" in text
    assert "2 sent, 1 accepted (AA), 1 not" in text


async def test_given_a_day_of_adt_when_sent_over_one_connection_then_all_applied_and_cardiology_followups_due(
        db, followup_campaign):
    server = MllpListener(make_service(db, clock=lambda: DAY + timedelta(days=1)), "127.0.0.1", 0)
    await server.start()
    try:
        day = day_of_adt(DAY)
        acks = await send_all(server, [message for _, message in day])
    finally:
        await server.stop()
    assert [read_ack(a).code for a in acks] == ["AA"] * len(day)
    assert count(db, Patient) == 24
    # Cardiology: patients 0, 4, 6, 10, 12, 16, 18, 22; patient 10's admission was cancelled (A11).
    with db.session() as session:
        pending = CampaignTarget.status == "pending"
        due = session.scalars(select(Patient.mrn).join(
            CampaignTarget, CampaignTarget.patient_id == Patient.id).where(pending)).all()
    assert sorted(due) == [f"M{2000 + i}" for i in (0, 4, 6, 12, 16, 18, 22)]


def connection_threads() -> list[threading.Thread]:
    """socketserver names a connection's thread after process_request_thread."""
    return [t for t in threading.enumerate() if "process_request" in t.name]


async def no_connection_thread() -> bool:
    return not connection_threads()


@SQLITE_ONLY
async def test_given_open_connections_when_the_listener_stops_then_they_are_closed_and_no_thread_is_left(db):
    server = MllpListener(make_service(db), "127.0.0.1", 0)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(START + adt("A01", "OPEN") + END)
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(END), 30)  # answered: its thread now waits on the open socket
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)  # never sends
    await asyncio.wait_for(server.stop(), 30)
    assert await asyncio.wait_for(reader.read(), 30) == b""  # closed by the listener
    assert await asyncio.wait_for(idle_reader.read(), 30) == b""
    assert connection_threads() == []
    writer.close()
    idle_writer.close()
    with pytest.raises(OSError):  # nothing listens any more
        await asyncio.open_connection("127.0.0.1", server.port)


@SQLITE_ONLY
async def test_given_all_connections_in_use_when_one_more_opens_then_it_is_closed_and_the_others_served(db):
    server = MllpListener(make_service(db), "127.0.0.1", 0, max_connections=1)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(START + adt("A01", "FIRST") + END)
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(END), 30)
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", server.port)
        extra_writer.write(START + adt("A01", "EXTRA") + END)
        assert await asyncio.wait_for(extra_reader.read(), 30) == b""  # closed, unanswered
        extra_writer.close()
        writer.write(START + adt("A01", "SECOND") + END)
        block = await asyncio.wait_for(reader.readuntil(END), 30)
        assert read_ack(block[1:-2]).control_id == "SECOND"
        writer.close()
        # The slot is free again once the first connection's thread ended.
        await poll(no_connection_thread, 30, "the first connection's thread to end")
        assert read_ack((await send_all(server, [adt("A01", "THIRD")]))[0]).code == "AA"
    finally:
        await server.stop()
    assert count(db, InboundMessage, InboundMessage.control_id == "EXTRA") == 0

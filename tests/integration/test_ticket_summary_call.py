"""A resolved ticket's summary for the patient, spoken on a real call through the sandbox Asterisk (issue 17):
the handler resolves with a summary, the real espeak-ng renders it into a directory the test's Asterisk reads
(its spool in the chroot, readable by Asterisk's group only), and a caller who types the serial hears the
status, then the summary: Asterisk itself reports the playback of the file on the caller's channel, to its
end. Without the file the caller is told so and offered a person (queued for patient relations)."""
from __future__ import annotations

import dataclasses
import shutil
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.complaints import serial as serials
from callcenter.complaints.services import Actor
from callcenter.db.models import Call, Complaint
from callcenter.db.queries import AuditActor

from .harness import SANDBOX_ROOT, TEST_INSTANCE, poll, seeded_center

pytestmark = pytest.mark.asterisk

ENGLISH, SELF_SERVICE, TICKET_STATUS, TEAM = "1", "6", "2", "1"
SUMMARY = "We refunded your parking fee and repaired the machine."


def asterisk_gid() -> int:
    """The chroot's asterisk group, as a number (the same number is another group on the host)."""
    for line in (SANDBOX_ROOT / "etc" / "group").read_text().splitlines():
        name, _, gid, *_ = line.split(":")
        if name == "asterisk":
            return int(gid)
    raise AssertionError("no asterisk group in the sandbox")


@asynccontextmanager
async def speaking_center(asterisk, database_url, tmp_path, *, asterisk_sees: str | None = None):
    """The contact center writing spoken summaries into the test Asterisk's spool; `asterisk_sees`: the
    directory Asterisk is told to play them from (default: where they are)."""
    name = f"ticket-summaries-{uuid.uuid4().hex[:8]}"
    spool = SANDBOX_ROOT / "var" / "spool" / f"asterisk-{TEST_INSTANCE}"

    def speaking(cfg):
        cfg.complaints = dataclasses.replace(
            cfg.complaints, summary_audio_dir=str(spool / name), summary_audio_group=str(asterisk_gid()),
            summary_audio_asterisk_dir=asterisk_sees or f"/var/spool/asterisk-{TEST_INSTANCE}/{name}")
    try:
        async with seeded_center(asterisk, database_url, tmp_path, speaking) as center:
            yield center
    finally:
        shutil.rmtree(spool / name, ignore_errors=True)


@pytest.fixture
async def center(asterisk, database_url, tmp_path):
    async with speaking_center(asterisk, database_url, tmp_path) as center:
        yield center


async def resolved_ticket(center, summary: str) -> tuple[int, str]:
    """An anonymous ticket (its status is anyone's who types the serial), resolved by a handler with a
    summary for the patient, its audio made."""
    tickets = center.s.complaints
    ticket = await tickets.create_ticket("web", text="The parking machine kept my card.")
    await tickets.resolve(ticket.id, "Refund through finance, ref 881.", "phone", Actor(AuditActor()),
                          summary=summary)
    await tickets.voiced()
    return ticket.id, ticket.serial


async def call_events(center, type_: str, timeout: float = 120):
    async def found():
        rows = await center.s.db.run(lambda s: s.scalars(select(Call)).all())
        events = [e for row in rows for e in await center.events(row.id) if e.type == type_]
        return events or None
    return await center.wait_for(found, timeout, f"a {type_} event")


async def test_given_a_resolved_ticket_with_a_summary_when_a_caller_types_its_serial_then_asterisk_plays_it(
        center):
    ticket_id, serial = await resolved_ticket(center, SUMMARY)
    media = center.s.complaints.voice.media(ticket_id)
    name = Path(center.s.cfg.complaints.summary_audio_dir).name
    assert media == f"sound:/var/spool/asterisk-{TEST_INSTANCE}/{name}/{ticket_id}", "as Asterisk names it"

    await center.call("4155550175", ",".join([ENGLISH, SELF_SERVICE, TICKET_STATUS, *serial]),
                      hangup_after=150, digit_gap=0.6)

    playing = (await call_events(center, "ticket_summary_playing"))[0]
    playback_id = playing.data["playback_id"]

    async def summary_playing():  # asked of Asterisk: what the caller's channel is hearing now
        playback = await center.ari.playback(playback_id)
        return playback if playback["media_uri"] == media else None
    playback = await poll(summary_playing, 30, "the summary to play")
    row = await center.s.db.run(lambda s: s.get(Call, playing.call_id))
    assert playback["target_uri"] == f"channel:{row.channel_id}"

    played = (await call_events(center, "ticket_summary_played", 60))[0]
    assert (played.data["state"], played.data["complaint_id"]) == ("done", ticket_id), "heard to its end"
    events = await center.events(row.id)
    visited = [e.data["node"] for e in events if e.type == "ivr_node"]
    assert visited.index("ticket_resolved") < visited.index("ticket_summary"), "the status first"
    assert [e.data["result"] for e in events if e.type == "ivr_action"] == ["found", "played"]
    assert SUMMARY not in str([e.data for e in events]) and serial not in str([e.data for e in events])


async def test_given_a_resolved_tickets_audio_missing_when_a_caller_types_its_serial_then_offered_a_person(
        center):
    ticket_id, serial = await resolved_ticket(center, SUMMARY)
    center.s.complaints.voice.path(ticket_id).unlink()  # lost: a failed render, a restored backup

    await center.call("4155550176", ",".join([ENGLISH, SELF_SERVICE, TICKET_STATUS, *serial, TEAM]),
                      hangup_after=150, digit_gap=0.6)

    queued = (await call_events(center, "queued"))[-1]
    assert queued.queue_name == "complaints", "a person tells the result"
    events = await center.events(queued.call_id)
    assert [e.data["result"] for e in events if e.type == "ivr_action"] == ["found", "unavailable"]
    assert [e.data["complaint_id"] for e in events if e.type == "ticket_summary_unavailable"] == [ticket_id]
    assert "ticket_summary_unavailable" in [e.data["node"] for e in events if e.type == "ivr_node"]
    ticket = await center.s.db.run(lambda s: s.get(Complaint, ticket_id))
    assert (ticket.status, serials.is_valid(ticket.serial)) == ("resolved", True)


async def test_given_a_summary_asterisk_cannot_open_when_a_caller_types_its_serial_then_offered_a_person(
        asterisk, database_url, tmp_path):
    # Asterisk told the wrong directory (a misconfigured chroot path): the file is there for us, not for it.
    async with speaking_center(asterisk, database_url, tmp_path, asterisk_sees="/nonexistent") as center:
        ticket_id, serial = await resolved_ticket(center, SUMMARY)
        assert center.s.complaints.voice.media(ticket_id) == f"sound:/nonexistent/{ticket_id}"

        await center.call("4155550177", ",".join([ENGLISH, SELF_SERVICE, TICKET_STATUS, *serial, TEAM]),
                          hangup_after=150, digit_gap=0.6)

        played = (await call_events(center, "ticket_summary_played"))[0]
        assert played.data["state"] == "failed", "Asterisk's own end state of the summary's playback"
        queued = (await call_events(center, "queued"))[-1]
        assert queued.queue_name == "complaints"
        events = await center.events(queued.call_id)
        assert [e.data["result"] for e in events if e.type == "ivr_action"] == ["found", "unavailable"]

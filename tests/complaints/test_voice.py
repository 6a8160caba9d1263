"""A resolved ticket's summary for the patient, spoken (complaints/voice.py): rendered by the real
espeak-ng and sox off the event loop when the handler resolves, owner-only and named by the ticket's id,
removed on reopen, made again on the next resolution; a failure is on the ticket's history and leaves no
file. Both databases."""
from __future__ import annotations

import logging
import stat
import wave
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from callcenter.complaints import routing
from callcenter.complaints import voice as voice_module
from callcenter.complaints.exceptions import InvalidTicket
from callcenter.complaints.services import Actor, ComplaintService
from callcenter.complaints.voice import SummaryVoice
from callcenter.db.models import ComplaintEvent, Patient
from callcenter.db.queries import AuditActor

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
HANDLER = Actor(AuditActor(user_id=None, agent_id=None))
SUMMARY = "We refunded your parking fee and fixed the machine."


@pytest.fixture
def voice(tmp_path):
    return SummaryVoice(tmp_path / "summaries", {"en": "en-us", "es": "es-419"})


@pytest.fixture
def service(db, voice):
    return ComplaintService(db, routing.load(), clock=lambda: NOW, voice=voice)


async def new_ticket(service, **fields) -> int:
    ticket = await service.create_ticket("web", text="The parking machine kept my card.", **fields)
    return ticket.id


def history(db, ticket_id: int) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(ComplaintEvent.type).where(ComplaintEvent.complaint_id == ticket_id)
                              .order_by(ComplaintEvent.id)))


async def test_given_a_resolution_with_a_summary_when_resolved_then_spoken_to_a_private_wav_by_ticket_id(
        db, service, voice, caplog):
    caplog.set_level(logging.DEBUG)
    ticket_id = await new_ticket(service)

    await service.resolve(ticket_id, "Refund via finance, ref 123.", "phone", HANDLER, summary=SUMMARY)
    await service.voiced()

    path = voice.path(ticket_id)
    assert path.name == f"{ticket_id}.wav" and voice.media(ticket_id) == f"sound:{voice.root}/{ticket_id}"
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 8000, "more than a second of speech"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert history(db, ticket_id)[-2:] == ["resolve", "summary_audio_ready"]
    assert "parking" not in caplog.text, "the words are never logged"


async def test_given_a_spoken_summary_when_reopened_and_resolved_again_then_the_new_words_replace_it(
        db, service, voice):
    ticket_id = await new_ticket(service)
    await service.resolve(ticket_id, "Refunded.", "phone", HANDLER, summary=SUMMARY)
    await service.voiced()
    first = voice.path(ticket_id).read_bytes()

    await service.step(ticket_id, "reopen", HANDLER, reason="the machine broke again")
    await service.voiced()
    assert voice.media(ticket_id) is None, "a reopened ticket has no result to play"

    await service.resolve(ticket_id, "Replaced.", "phone", HANDLER, summary="The machine was replaced.")
    await service.voiced()
    assert voice.path(ticket_id).read_bytes() != first
    assert history(db, ticket_id).count("summary_audio_ready") == 2


async def test_given_no_speech_tools_when_resolved_then_no_file_and_the_failure_is_on_the_ticket(
        db, service, voice, tmp_path, monkeypatch, caplog):
    ticket_id = await new_ticket(service)
    await service.resolve(ticket_id, "Refunded.", "phone", HANDLER, summary=SUMMARY)
    await service.voiced()
    await service.step(ticket_id, "reopen", HANDLER)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    await service.resolve(ticket_id, "Refunded.", "phone", HANDLER, summary="Another result.")
    await service.voiced()

    assert voice.media(ticket_id) is None, "the previous resolution's words are not left to be played"
    assert history(db, ticket_id)[-1] == "summary_audio_failed"
    assert "espeak-ng" in caplog.text and "Another result" not in caplog.text


async def test_given_a_patient_speaking_spanish_when_resolved_without_a_language_then_the_spanish_voice(
        db, service, voice, monkeypatch):
    spoken = []
    monkeypatch.setattr(voice_module, "speak_to_bytes", lambda text, v: spoken.append(v) or b"RIFF")
    with db.session() as s:
        patient = Patient(mrn="MRN-V1", given_name="Ana", family_name="Ruiz", language="es",
                          date_of_birth=date(1970, 1, 2))
        s.add(patient)
        s.flush()
        patient_id = patient.id
    ticket_id = await new_ticket(service, patient_id=patient_id)

    await service.resolve(ticket_id, "Reembolso.", "phone", HANDLER, summary="Le devolvimos el pago.")
    await service.voiced()

    assert spoken == ["es-419"]
    detail = await service.detail(ticket_id, AuditActor())
    assert (detail.ticket.summary_language, detail.summary_languages) == ("es", ["en", "es"])


@pytest.mark.parametrize("fields, bad", [({"summary": "x" * 1001}, "summary"),
                                         ({"summary": "ok", "summary_language": "fr"}, "summary_language")])
async def test_given_a_bad_summary_when_resolving_then_refused_naming_the_field_and_nothing_changes(
        db, service, fields, bad):
    ticket_id = await new_ticket(service)

    with pytest.raises(InvalidTicket) as caught:
        await service.step(ticket_id, "resolve", HANDLER, text="Done.", communicated_by="phone", **fields)

    assert caught.value.field == bad
    assert history(db, ticket_id) == ["received"]


def test_given_asterisks_group_when_written_then_the_group_may_read_and_no_one_else(tmp_path):
    import os
    voice = SummaryVoice(tmp_path / "shared", {"en": "en-us"}, group=str(os.getgid()),
                         asterisk_dir="/var/spool/asterisk-x/summaries")

    voice.render(5, "Resolved.", "en")

    assert stat.S_IMODE(voice.path(5).stat().st_mode) == 0o640
    assert stat.S_IMODE(voice.root.stat().st_mode) == 0o750
    assert voice.media(5) == "sound:/var/spool/asterisk-x/summaries/5"

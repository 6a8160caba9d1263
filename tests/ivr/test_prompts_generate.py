"""Prompt audio for real, with espeak-ng and sox (both are required on every project machine)."""
from __future__ import annotations

import wave
from pathlib import Path

import pytest
from ivr_fakes import write

from callcenter import prompts
from callcenter.followup.schema import load_questionnaires
from callcenter.ivr import load_catalog
from callcenter.prompts import PromptToolError, generate, output_path
from callcenter.triage.schema import load_protocols

PROMPTS = Path(__file__).resolve().parents[2] / "ivr_flows" / "prompts.yaml"

SMALL = """\
voices: {en: en-us, es: es-419}
prompts:
  hello:
    en: "Hello, thank you for calling."
    es: "Hola, gracias por llamar."
  bye:
    en: "Goodbye."
    es: "Adiós."
"""


def audio_format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), seconds


def test_given_the_project_prompts_when_generated_then_every_file_is_8khz_mono_16bit_and_audible(tmp_path):
    # The project's catalog includes every triage question, read by phone in campaign questionnaires, and
    # every follow-up questionnaire's questions and choices, read by `followup` nodes.
    catalog = load_catalog(PROMPTS).with_protocols(load_protocols().values())
    catalog = catalog.with_questionnaires(load_questionnaires().values())

    written = generate(PROMPTS, tmp_path)

    expected = {output_path(tmp_path, lang, name)
                for name, texts in catalog.prompts.items() for lang in texts}
    assert set(written) == expected
    for path in written:
        rate, channels, width, seconds = audio_format(path)
        assert (rate, channels, width) == (8000, 1, 2), path
        assert seconds > 0.5, path


def test_given_generated_prompts_when_generated_again_then_nothing_is_rewritten(tmp_path):
    source = write(tmp_path, SMALL, "prompts.yaml")
    out = tmp_path / "sounds"
    first = generate(source, out)
    stamps = {path: path.stat().st_mtime_ns for path in first}

    second = generate(source, out)

    assert len(first) == 4 and second == []
    assert stamps == {path: path.stat().st_mtime_ns for path in first}


def test_given_a_changed_text_when_generated_again_then_only_that_file_is_rebuilt(tmp_path):
    source = write(tmp_path, SMALL, "prompts.yaml")
    out = tmp_path / "sounds"
    generate(source, out)
    write(tmp_path, SMALL.replace("Goodbye.", "Goodbye, take care."), "prompts.yaml")

    assert generate(source, out) == [out / "en" / "callcenter" / "bye.wav"]


def test_given_a_recorded_file_in_place_when_generated_then_it_is_kept_unless_forced(tmp_path):
    source = write(tmp_path, SMALL, "prompts.yaml")
    out = tmp_path / "sounds"
    generate(source, out, languages=["en"])
    recording = out / "en" / "callcenter" / "hello.wav"
    recording.write_bytes(b"a recording made by a person")
    write(tmp_path, SMALL.replace("Hello,", "Hi,"), "prompts.yaml")

    assert generate(source, out, languages=["en"]) == []
    assert recording.read_bytes() == b"a recording made by a person"
    assert recording in generate(source, out, languages=["en"], force=True)
    assert audio_format(recording)[:3] == (8000, 1, 2)


def test_given_one_language_when_generated_then_only_its_directory_is_written(tmp_path):
    source = write(tmp_path, SMALL, "prompts.yaml")

    written = generate(source, tmp_path / "sounds", languages=["es"])

    assert {path.parent for path in written} == {tmp_path / "sounds" / "es" / "callcenter"}


def test_given_an_unknown_language_when_generated_then_it_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no voice for language"):
        generate(write(tmp_path, SMALL, "prompts.yaml"), tmp_path / "sounds", languages=["fr"])


def test_given_no_espeak_ng_on_path_when_generated_then_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(PromptToolError, match=r"espeak-ng, sox not found on PATH.*install espeak-ng sox"):
        generate(write(tmp_path, SMALL, "prompts.yaml"), tmp_path / "sounds")


def test_given_the_command_line_when_run_then_files_are_written(tmp_path, capsys):
    source = write(tmp_path, SMALL, "prompts.yaml")

    assert prompts.main([str(tmp_path / "sounds"), "--prompts", str(source), "--language", "en"]) == 0

    assert "2 prompt file(s) written" in capsys.readouterr().out
    assert (tmp_path / "sounds" / "en" / "callcenter" / "bye.wav").exists()


def test_given_a_broken_prompts_file_when_run_from_the_command_line_then_it_names_the_line(tmp_path, capsys):
    source = write(tmp_path, SMALL.replace("  bye:", "  Bye:"), "prompts.yaml")

    assert prompts.main([str(tmp_path / "sounds"), "--prompts", str(source)]) == 1

    assert f"{source}:6: prompts: 'Bye' is not a prompt name" in capsys.readouterr().err

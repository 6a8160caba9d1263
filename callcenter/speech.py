"""Text to telephone audio: espeak-ng speaks, sox converts to what Asterisk plays without transcoding (8 kHz
mono 16-bit signed PCM WAV). One home for the pipeline shared by the IVR's placeholder prompts (prompts.py)
and a ticket's result spoken to the patient (complaints/voice.py); top-level, so neither imports the other.

Blocking (it runs subprocesses): from async code, run it in an executor. Errors name the tool and its exit
status only: what is spoken may be patient data, and is never put in an error or a log.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

SPEED = 150  # words per minute
SAMPLE_RATE = 8000
# Part of every prompt's recipe hash (prompts.py): change it when the conversion below changes.
RECIPE = f"espeak-ng -s {SPEED} | sox -r {SAMPLE_RATE} -c 1 -b 16 -e signed-integer v1"
TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}  # command -> Debian package


class SpeechToolError(RuntimeError):
    """espeak-ng or sox is missing or failed."""


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(TOOLS[tool] for tool in missing)
        raise SpeechToolError(f"{', '.join(missing)} not found on PATH: install (apt-get install {packages})")


def synthesize(text: str, voice: str, work_dir: Path) -> Path:
    """`text` spoken by espeak-ng's `voice`, as a WAV file in `work_dir` (the caller moves it into place)."""
    require_tools()
    spoken, converted = work_dir / "espeak.wav", work_dir / "out.wav"
    _run(["espeak-ng", "-v", voice, "-s", str(SPEED), "-b", "1", "-w", str(spoken), "--stdin"], text)
    _run(["sox", str(spoken), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
          str(converted)])
    return converted


def speak_to_bytes(text: str, voice: str) -> bytes:
    """The WAV bytes of `text` spoken by `voice` (a temporary directory of this user's own)."""
    with tempfile.TemporaryDirectory(prefix="speech-") as tmp:
        return synthesize(text, voice, Path(tmp)).read_bytes()


def _run(command: list[str], stdin: str | None = None) -> None:
    data = stdin.encode() if stdin else None
    result = subprocess.run(command, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        # espeak-ng's own messages are left out: they could quote the text.
        error = result.stderr.decode(errors="replace").strip() if stdin is None else ""
        raise SpeechToolError(f"{command[0]} failed (exit status {result.returncode})"
                              + (f": {error}" if error else ""))

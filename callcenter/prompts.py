"""Placeholder prompt audio: every text in `ivr_flows/prompts.yaml`, spoken by espeak-ng.

    python -m callcenter.prompts OUT_DIR [--prompts ivr_flows/prompts.yaml] [--language en] [--force]

writes `OUT_DIR/<lang>/callcenter/<name>.wav`, 8 kHz mono 16-bit signed PCM: the layout and format Asterisk
plays without transcoding (`sound:callcenter/<name>` plus the channel language).

Synthetic speech is for development and tests only. A real deployment replaces these files with
professionally recorded ones (same names, same format). So that a re-run cannot destroy such recordings, a WAV
is only ever overwritten when its sidecar `<name>.wav.generated.json` proves that this module wrote it: a WAV
without a sidecar, or whose content no longer matches it, is left alone unless `force=True`. The sidecar also
holds a hash of text + voice + settings, so a file is rebuilt exactly when its wording or voice changes.

`generate` is blocking (it runs subprocesses): from async code, run it in an executor.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .followup.schema import load_questionnaires
from .ivr.catalog import NAMESPACE, PromptText, load_catalog
from .speech import RECIPE, SpeechToolError, require_tools, synthesize
from .triage.schema import load_protocols
from .yamlsource import SourceError

log = logging.getLogger(__name__)

DEFAULT_PROMPTS = Path(__file__).resolve().parent.parent / "ivr_flows" / "prompts.yaml"
PromptToolError = SpeechToolError  # espeak-ng or sox is missing or failed (speech.py)


@dataclass(frozen=True)
class _Job:
    name: str
    language: str
    prompt: PromptText
    path: Path

    @property
    def recipe(self) -> str:
        return hashlib.sha256(f"{RECIPE}\0{self.prompt.voice}\0{self.prompt.text}".encode()).hexdigest()


def output_path(out_dir: Path, language: str, name: str) -> Path:
    return Path(out_dir) / language / NAMESPACE / f"{name}.wav"


def generate(prompts_yaml: str | Path, out_dir: str | Path, languages: Iterable[str] | None = None,
             force: bool = False, *, jobs: int = 2) -> list[Path]:
    """Render every prompt of `prompts_yaml` (for `languages`, default all) under `out_dir`.

    Returns the files written by this call; files that are up to date, or that hold a recording put there by
    hand, are skipped (see the module docstring). Raises CatalogError for a bad prompts file and
    PromptToolError when espeak-ng or sox is missing or fails.
    """
    catalog = load_catalog(prompts_yaml)
    if Path(prompts_yaml).resolve() == DEFAULT_PROMPTS:
        # The project's prompts include the triage questions that questionnaires (campaign flows) read by
        # phone: their words come from the protocols; likewise the follow-up questionnaires' questions and
        # choices that `followup` nodes read. Another prompts file (a test's) is rendered as it is.
        catalog = catalog.with_protocols(load_protocols().values())
        catalog = catalog.with_questionnaires(load_questionnaires().values())
    wanted = _languages(catalog.voices, languages)
    todo = [job for job in _jobs(catalog.prompts, wanted, Path(out_dir)) if force or _stale(job)]
    if todo:
        require_tools()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(_render, todo))


def generate_texts(prompts: dict[str, dict[str, PromptText]], out_dir: str | Path, force: bool = False
                   ) -> list[Path]:
    """Render prompts whose words are not in prompts.yaml (e.g. the hospital's name from the configuration)
    exactly as generate() renders the catalog's: same layout, format and sidecars."""
    languages = sorted({language for texts in prompts.values() for language in texts})
    todo = [job for job in _jobs(prompts, languages, Path(out_dir)) if force or _stale(job)]
    if todo:
        require_tools()
    return [_render(job) for job in todo]


def _languages(voices: dict, languages: Iterable[str] | None) -> list[str]:
    wanted = list(voices) if languages is None else list(languages)
    unknown = [language for language in wanted if language not in voices]
    if unknown:
        raise ValueError(f"no voice for language(s) {', '.join(unknown)} (known: {', '.join(voices)})")
    return wanted


def _jobs(prompts: dict, languages: list[str], out_dir: Path) -> list[_Job]:
    return [
        _Job(name, language, texts[language], output_path(out_dir, language, name))
        for name, texts in prompts.items() for language in languages if language in texts
    ]


def _stale(job: _Job) -> bool:
    sidecar = _sidecar(job.path)
    if not job.path.exists():
        return True
    if not sidecar.exists():
        log.warning("keeping %s: no sidecar, so it is a recording put there by hand", job.path)
        return False
    try:
        recorded = json.loads(sidecar.read_text())
    except ValueError:
        recorded = {}
    if recorded.get("wav") != _file_hash(job.path):
        log.warning("keeping %s: replaced since it was generated (a recording?)", job.path)
        return False
    return recorded.get("recipe") != job.recipe


def _render(job: _Job) -> Path:
    job.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prompt-", dir=job.path.parent) as tmp:
        try:
            converted = synthesize(job.prompt.text, job.prompt.voice, Path(tmp))
        except SpeechToolError as exc:
            raise PromptToolError(f"{job.language}/{job.name}: {exc}") from None
        os.replace(converted, job.path)
    sidecar = {"recipe": job.recipe, "wav": _file_hash(job.path), "voice": job.prompt.voice}
    _sidecar(job.path).write_text(json.dumps(sidecar) + "\n")
    log.info("generated %s", job.path)
    return job.path


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".generated.json")


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callcenter.prompts", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS, help="default: %(default)s")
    parser.add_argument("--language", action="append", help="only this language (repeatable)")
    parser.add_argument("--force", action="store_true", help="rebuild everything, recordings included")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    started = time.monotonic()
    try:
        written = generate(args.prompts, args.out_dir, args.language, args.force, jobs=args.jobs)
    except (PromptToolError, SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(written)} prompt file(s) written to {args.out_dir} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

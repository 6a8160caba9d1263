"""`callcenter questionnaires check|load|export`: what the command line does (cli.py only parses).

`check` and `load` read the question bank and questionnaire files (default: the bank of [followup]
bank_file, the questionnaires shipped in callcenter/followup/); `check` needs no database; `load` stores the
bank's questions and each new questionnaire version, all in one transaction or none. `export STUDY` writes
the study's answers, one row per answer, as CSV or JSON to standard output; with `--pseudonym-key-file` the
patient is a keyed pseudonym (the key stays with whoever may re-identify, e.g. the research office). The
export is audited.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..config import Config
from ..db.database import Database, upgrade
from ..errors import ServiceError
from .exceptions import QuestionnaireDataError
from .schema import QUESTIONNAIRES_DIR, Bank, Questionnaire, load_bank, load_questionnaires
from .services import QuestionnaireService, export_csv, export_json


def check(cfg: Config, args) -> int:
    try:
        bank, questionnaires = _read(cfg, args)
    except QuestionnaireDataError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    print(f"{bank.path}: ok (question bank version {bank.version}, {len(bank.questions)} questions)")
    for q in questionnaires:
        print(f"{q.path}: ok ({q.id} version {q.version}, {len(q.items)} questions, {q.review_status})")
    return 0


def load(cfg: Config, args) -> int:
    try:
        bank, questionnaires = _read(cfg, args)
    except QuestionnaireDataError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    upgrade(cfg.database_url)
    try:
        report = asyncio.run(_store(cfg, bank, questionnaires))
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in report.stored:
        print(f"stored {name}")
    for name in report.unchanged:
        print(f"unchanged {name}")
    return 0


def _read(cfg: Config, args) -> tuple[Bank, list[Questionnaire]]:
    """The bank (--bank, else the server's [followup] bank_file), then every questionnaire of the paths; all
    files checked before anything is raised."""
    bank = load_bank(Path(args.bank) if args.bank else cfg.path(cfg.followup.bank_file))
    found: dict[str, Questionnaire] = {}
    problems: list[str] = []
    for path in args.paths or [QUESTIONNAIRES_DIR]:
        try:
            loaded = load_questionnaires(path, bank)
        except QuestionnaireDataError as exc:
            problems.extend(exc.problems)
            continue
        for code, questionnaire in loaded.items():
            if code in found:
                problems.append(f"{questionnaire.path}:1: id '{code}' is already used by {found[code].path}")
            found[code] = questionnaire
    if problems:
        raise QuestionnaireDataError(problems)
    return bank, list(found.values())


async def _store(cfg: Config, bank: Bank, questionnaires: list[Questionnaire]):
    db = Database(cfg.database_url)
    try:
        items = [(q, Path(q.path).read_text(encoding="utf-8")) for q in questionnaires]
        return await QuestionnaireService(db).load(bank, items)
    finally:
        db.close()


def export(cfg: Config, args) -> int:
    key = None
    if args.pseudonym_key_file:
        key = Path(args.pseudonym_key_file).read_bytes().strip()
        if len(key) < 16:
            print("error: the pseudonym key file holds fewer than 16 bytes", file=sys.stderr)
            return 2
    upgrade(cfg.database_url)
    rows = asyncio.run(_export(cfg, args.study, key))
    sys.stdout.write(export_json(rows) + "\n" if args.format == "json" else export_csv(rows, key is not None))
    return 0


async def _export(cfg: Config, study: str, key: bytes | None) -> list[dict]:
    db = Database(cfg.database_url)
    try:
        return await QuestionnaireService(db).export(study, actor_user_id=None, pseudonym_key=key)
    finally:
        db.close()

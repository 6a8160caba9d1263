"""`callcenter campaign ...` and `callcenter dnc ...`: what the command line does (cli.py only parses).

Definitions, plans, reports and the do-not-call list work on the database directly (no server needed);
`campaign run` asks the running server (POST /api/campaigns/NAME/run with the API token), because calls are
placed by the process that holds the ARI connection.
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .. import serverclient
from ..config import Config
from ..db.database import Database
from ..db.queries import AuditActor
from ..errors import ServiceError
from ..eventlog import EventLog
from ..yamlsource import SourceError
from .actions import load_campaign_flow
from .dnc import DncRequest, DoNotCallList
from .http import rows_to_csv
from .schema import load_campaign_file
from .services import CampaignService

CLI = AuditActor()  # the command line: whoever has the server's files; audited as no user


@asynccontextmanager
async def _services(cfg: Config) -> AsyncIterator[tuple[CampaignService, DoNotCallList]]:
    db = Database(cfg.database_url)
    events = EventLog(db)
    await events.start()
    try:
        yield (CampaignService(db, events, cfg),
               DoNotCallList(db, cfg.telephony.default_region))
    finally:
        await events.close()
        db.close()


def _run(cfg: Config, work) -> int:
    """Run `work(campaigns, dnc)`; a refusal (bad file, unknown campaign, bad row) is printed, exit 1."""
    async def go() -> int:
        async with _services(cfg) as (campaigns, dnc):
            return await work(campaigns, dnc) or 0
    try:
        return asyncio.run(go())
    except (SourceError, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _files(cfg: Config, targets: list[str]) -> list[Path]:
    paths: list[Path] = []
    for target in targets or [cfg.campaigns.dir]:
        path = Path(target) if Path(target).exists() else cfg.path(target)
        paths += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return paths


def validate(cfg: Config, args) -> int:
    failed = 0
    for path in _files(cfg, args.files):
        try:
            flows = cfg.path("ivr_flows")
            campaign = load_campaign_file(path, flows)
            if campaign.protocol or campaign.questionnaire:  # the flow must be able to ask them
                load_campaign_flow(flows / f"{campaign.flow}.yaml", protocol=campaign.protocol,
                                   questionnaire=campaign.questionnaire)
        except SourceError as exc:
            failed += 1
            print("\n".join(exc.problems), file=sys.stderr)
        else:
            print(f"{path}: ok ({campaign.name}, {campaign.kind}, {campaign.mode})")
    return 1 if failed else 0


def load(cfg: Config, args) -> int:
    paths = _files(cfg, [args.path] if args.path else [])
    for path in paths:  # every file checked before any is stored: a directory loads whole or not at all
        load_campaign_file(path, cfg.path("ivr_flows"))

    async def work(campaigns: CampaignService, dnc) -> None:
        for path in paths:
            campaign = await campaigns.load_file(path)
            print(f"loaded {campaign.name} from {path}")
    try:
        return _run(cfg, work)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def list_campaigns(cfg: Config, args) -> int:
    async def work(campaigns: CampaignService, dnc) -> None:
        for name, campaign in (await campaigns.definitions()).items():
            report = await campaigns.report(name)
            pending = report["by_status"].get("pending", 0)
            print(f"{name:36} {campaign.kind:22} {campaign.mode:12} {campaign.schedule or '-':16} "
                  f"targets={report['targets']} pending={pending}")
    return _run(cfg, work)


def plan(cfg: Config, args) -> int:
    async def work(campaigns: CampaignService, dnc) -> None:
        print(json.dumps((await campaigns.plan(args.name)).to_json()))
    return _run(cfg, work)


def report(cfg: Config, args) -> int:
    async def work(campaigns: CampaignService, dnc) -> None:
        if args.csv:
            sys.stdout.write(rows_to_csv(await campaigns.report_rows(args.name, CLI)))
        else:
            print(json.dumps(await campaigns.report(args.name), indent=2))
    return _run(cfg, work)


def run(cfg: Config, args) -> int:
    """Ask the running server to run the campaign (an external cron's entry point)."""
    query = "?wait=1" if args.wait else ""
    return serverclient.post(cfg, f"/api/campaigns/{args.name}/run{query}", {}, timeout=args.timeout)


def dnc_add(cfg: Config, args) -> int:
    async def work(campaigns, dnc: DoNotCallList) -> None:
        request = DncRequest(args.number or "", args.mrn or "", args.kind or "", args.reason)
        entry = await dnc.add(request, CLI)
        print(f"added do-not-call entry {entry}")
    return _run(cfg, work)


def dnc_remove(cfg: Config, args) -> int:
    async def work(campaigns, dnc: DoNotCallList) -> None:
        await dnc.remove(args.id, CLI, args.reason)
        print(f"removed do-not-call entry {args.id}")
    return _run(cfg, work)


def dnc_list(cfg: Config, args) -> int:
    async def work(campaigns, dnc: DoNotCallList) -> None:
        for e in await dnc.entries(CLI):
            print(f"{e.id:6} {e.e164 or '-':16} {e.mrn or '-':12} {e.campaign_kind or 'all':22} "
                  f"{e.source:16} {e.reason}")
    return _run(cfg, work)


def dnc_import(cfg: Config, args) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {path}: cannot read: {exc}", file=sys.stderr)
        return 1

    async def work(campaigns, dnc: DoNotCallList) -> None:
        count = await dnc.import_csv(text, CLI, str(path))
        print(f"imported {count} do-not-call entries from {path}")
    return _run(cfg, work)

"""The `callcenter` command."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import re
import sys
from datetime import datetime

from . import config as configuration
from . import logs, serverclient
from .ari.client import AriError, AriUnavailable

log = logging.getLogger("callcenter")

DIGITS = re.compile(r"^[0-9*#]+(,[0-9*#]+)*$")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Logging set up by whoever runs us (a test runner, an embedding program) is theirs to keep.
    ours = not logging.getLogger().handlers
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        cfg = configuration.load(args.config)
        if ours:
            _configure_logging(cfg, args.verbose)
        return args.func(cfg, args) or 0
    except configuration.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AriUnavailable as exc:
        print(f"error: Asterisk did not answer ({exc}); is it running, and is [ari] url right?",
              file=sys.stderr)
        return 1
    except AriError as exc:
        print(f"error: Asterisk refused: {exc}", file=sys.stderr)
        return 1


class UsageError(Exception):
    pass


def _configure_logging(cfg, verbose: bool) -> None:
    """[logging] format and level, once the configuration is read (--verbose: DEBUG)."""
    try:
        logs.configure(cfg.logging.format, "DEBUG" if verbose else cfg.logging.level.upper())
    except ValueError as exc:
        raise configuration.ConfigError(f"logging: {exc}") from None


# The password of every demo user after `seed-demo --demo-passwords` (README: "Demo sign-in").
DEMO_PASSWORD = "demo-console-2026"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callcenter", description="Hospital contact center on Asterisk ARI.")
    p.add_argument("--config", help="configuration file (default: callcenter.toml in the project root)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    s = sub.add_parser("serve", help="run the contact center (ARI controller and HTTP console)")
    s.add_argument("--wrapup", type=float, default=0.0,
                   help="seconds of after-call work before the next call")
    s.add_argument("--available", default="", help="agent numbers to make available at start (demo)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("setup", help="create secrets if absent and upgrade the database")
    s.set_defaults(func=cmd_setup)

    db = sub.add_parser("db", help="database commands").add_subparsers(title="db commands", metavar="ACTION")
    s = db.add_parser("upgrade", help="apply the Alembic migrations up to the newest")
    s.set_defaults(func=cmd_db_upgrade)

    s = sub.add_parser("seed-demo", help="load fictional demo patients, queues and agents once (a database "
                                         "that holds them is left as it is)")
    s.add_argument("--endpoint-template", default="Local/auto-{number}@agent-phones/n",
                   help="agent phone dial string; {number} is the agent number")
    s.add_argument("--demo-passwords", action="store_true",
                   help=f"give demo users without a password the password {DEMO_PASSWORD!r} (never on a real "
                        "system)")
    s.add_argument("--reset", action="store_true",
                   help="put the demo's queues, desks and users back as the demo has them (undoes changes "
                        "made in the admin console) and re-create deleted demo rows; with --demo-passwords, "
                        "every demo user gets the demo password again")
    s.set_defaults(func=cmd_seed_demo)

    _add_user_commands(sub)
    _add_api_client_commands(sub)

    s = sub.add_parser("prompts", help="generate the IVR prompts with espeak-ng")
    s.add_argument("--out", help="output directory (default: STATE_DIR/prompts)")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_prompts)

    s = sub.add_parser("simulate-call", help="place a simulated patient call through the hotline and print "
                                             "its call id (asks the running server)")
    s.add_argument("--caller", required=True, help="the caller ID the patient presents")
    s.add_argument("--digits", default="", help="keys the patient presses, e.g. 2,1")
    s.add_argument("--hangup-after", type=float, default=60, help="seconds after answer before hanging up")
    s.add_argument("--first-delay", type=float, default=3)
    s.add_argument("--digit-gap", type=float, default=2)
    s.add_argument("--wait", action="store_true", help="wait until the simulated patient hangs up")
    s.add_argument("--find-timeout", type=float, default=10,
                   help="seconds to wait for the running server to take the call")
    s.set_defaults(func=cmd_simulate_call)

    s = sub.add_parser("agent", help="set an agent's state through the running server")
    s.add_argument("number")
    s.add_argument("state", choices=["available", "paused", "logged_out"])
    s.add_argument("--reason")
    s.set_defaults(func=cmd_agent)

    _add_campaign_commands(sub)
    _add_fastagi_commands(sub)
    _add_import_commands(sub)
    _add_kpi_command(sub)
    _add_hl7_commands(sub)
    _add_sms_commands(sub)
    _add_questionnaire_commands(sub)
    _add_careplan_commands(sub)
    s = sub.add_parser("config", help="show the effective configuration (secrets hidden)")
    s.set_defaults(func=cmd_config)
    return p


def _add_kpi_command(sub) -> None:
    s = sub.add_parser("kpi", help="KPI report from the call event log (definitions: docs/kpi.md)")
    s.add_argument("--from", dest="start",
                   help="first day (YYYY-MM-DD, hospital time) or an instant with its offset "
                        "(default: today)")
    s.add_argument("--to", dest="end", help="last day, included (default: the --from day), or an instant")
    s.add_argument("--by", default="day", choices=["queue", "agent", "interval", "day", "week", "month",
                                                   "campaign"])
    s.add_argument("--format", default="table", choices=["table", "csv"])
    s.add_argument("--queue")
    s.add_argument("--agent", help="agent number")
    s.add_argument("--campaign")
    s.add_argument("--business-hours", action="store_true", help="only what happened in business hours")
    s.set_defaults(func=cmd_kpi)


def cmd_kpi(cfg, args) -> int:
    from .kpi.compute import KpiError, KpiService, report_bounds
    from .kpi.http import report_csv
    from .kpi.table import render
    with _database(cfg) as db:
        kpi = KpiService(db, cfg)
        try:
            today = datetime.now(kpi.settings.tz).date().isoformat()
            start, end = report_bounds(args.start or today, args.end, kpi.settings.tz)
            with db.session() as session:
                report = kpi.compute_sync(session, start, end, by=args.by, queue=args.queue, agent=args.agent,
                                          campaign=args.campaign, business_hours=args.business_hours)
        except KpiError as exc:
            raise UsageError(str(exc)) from None
    sys.stdout.write(report_csv(report.to_json()) if args.format == "csv" else render(report))
    return 0


def _add_user_commands(sub) -> None:
    users = sub.add_parser("user", help="console users: add, passwd, list").add_subparsers(
        title="user commands", metavar="ACTION")
    s = users.add_parser("add", help="create a console user")
    s.add_argument("username")
    s.add_argument("--role", required=True,
                   help="agent, nurse, supervisor, admin or relations (patient relations)")
    s.add_argument("--display-name", help="the name the console shows (default: the username)")
    s.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    s.add_argument("--must-change", action="store_true", help="the user must replace it at the next sign-in")
    s.set_defaults(func=cmd_user_add)
    s = users.add_parser("passwd", help="set a user's password (also ends its sessions)")
    s.add_argument("username")
    s.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    s.add_argument("--must-change", action="store_true", help="the user must replace it at the next sign-in")
    s.set_defaults(func=cmd_user_passwd)
    s = users.add_parser("list", help="list console users")
    s.set_defaults(func=cmd_user_list)


def _add_fastagi_commands(sub) -> None:
    """FastAGI for the hospital's own dialplan (issue 15): callcenter/fastagi/commands.py does the work."""
    from .fastagi import commands as f
    fastagi = sub.add_parser("fastagi", help="the FastAGI server for the hospital's own dialplan")
    actions = fastagi.add_subparsers(title="fastagi commands", metavar="ACTION")
    s = actions.add_parser("listen", help="serve FastAGI (identify, route) until stopped")
    s.add_argument("--listen", metavar="HOST:PORT",
                   help="where to listen (default: [fastagi] listen, else 127.0.0.1:4573)")
    s.set_defaults(func=f.listen)


def _add_api_client_commands(sub) -> None:
    from .auth.permissions import SCOPES
    clients = sub.add_parser("api-client", help="machine clients of the HTTP API: add, list, revoke")
    clients = clients.add_subparsers(title="api-client commands", metavar="ACTION")
    s = clients.add_parser("add", help="create a client and print its secret (once: only a hash is kept)",
                           epilog="scopes: " + "; ".join(f"{k}: {v}" for k, v in SCOPES.items()))
    s.add_argument("name")
    s.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                   help="what the client may do (repeat, or separate with commas): " + ", ".join(SCOPES))
    s.set_defaults(func=cmd_api_client_add)
    s = clients.add_parser("list", help="clients, their scopes, and whether revoked")
    s.set_defaults(func=cmd_api_client_list)
    s = clients.add_parser("revoke", help="revoke a client: its next request is refused (401)")
    s.add_argument("name")
    s.set_defaults(func=cmd_api_client_revoke)


def _add_campaign_commands(sub) -> None:
    """Outbound campaigns (issue 6): callcenter/campaigns/commands.py does the work."""
    from .campaigns import commands as c
    campaign = sub.add_parser("campaign", help="outbound campaigns: validate, load, list, plan, run, report")
    actions = campaign.add_subparsers(title="campaign commands", metavar="ACTION")
    s = actions.add_parser("validate", help="check campaign files; every problem with file and line")
    s.add_argument("files", nargs="*", help="campaign YAML files or directories (default: [campaigns] dir)")
    s.set_defaults(func=c.validate)
    s = actions.add_parser("load", help="validate and store campaign files (a file or a directory)")
    s.add_argument("path", nargs="?", help="file or directory (default: [campaigns] dir)")
    s.set_defaults(func=c.load)
    s = actions.add_parser("list", help="stored campaigns with their target counts")
    s.set_defaults(func=c.list_campaigns)
    s = actions.add_parser("plan", help="create the campaign's due targets now (idempotent)")
    s.add_argument("name")
    s.set_defaults(func=c.plan)
    s = actions.add_parser("run", help="ask the running server to plan and dial the campaign (for cron)")
    s.add_argument("name")
    s.add_argument("--wait", action="store_true", help="answer when the run has ended")
    s.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the server")
    s.set_defaults(func=c.run)
    s = actions.add_parser("report", help="progress counts (JSON), or one row per target with --csv")
    s.add_argument("name")
    s.add_argument("--csv", action="store_true")
    s.set_defaults(func=c.report)
    dnc = sub.add_parser("dnc", help="the do-not-call list: add, remove, list, import").add_subparsers(
        title="dnc commands", metavar="ACTION")
    s = dnc.add_parser("add", help="add a number or a patient (by MRN)")
    s.add_argument("--number")
    s.add_argument("--mrn")
    s.add_argument("--kind", help="only campaigns of this kind (default: every campaign)")
    s.add_argument("--reason", required=True, help="why (kept in the audit log)")
    s.set_defaults(func=c.dnc_add)
    s = dnc.add_parser("remove", help="remove an entry by its id (see list)")
    s.add_argument("id", type=int)
    s.add_argument("--reason", required=True, help="why (kept in the audit log)")
    s.set_defaults(func=c.dnc_remove)
    s = dnc.add_parser("list", help="every entry")
    s.set_defaults(func=c.dnc_list)
    s = dnc.add_parser("import", help="import a CSV (number,mrn,campaign_kind,reason): every row or none")
    s.add_argument("file")
    s.set_defaults(func=c.dnc_import)


def _add_hl7_commands(sub) -> None:
    """The HL7 v2 ADT interface (issue 15): callcenter/hl7/commands.py does the work."""
    from .hl7 import commands as c
    actions = sub.add_parser("hl7", help="HL7 v2 ADT over MLLP: listen, send").add_subparsers(
        title="hl7 commands", metavar="ACTION")
    s = actions.add_parser("listen", help="run the MLLP listener alone (default address: [hl7] listen)")
    s.add_argument("--listen", default="", help="host:port to listen on")
    s.set_defaults(func=c.listen)
    s = actions.add_parser("send", help="send the messages of a file over MLLP and print each ACK")
    s.add_argument("file")
    s.add_argument("--to", default="", help="host:port of the listener (default: [hl7] listen)")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each ACK")
    s.set_defaults(func=c.send)


def _add_sms_commands(sub) -> None:
    """Text messages (issue 17): callcenter/sms/commands.py does the work."""
    from .sms import commands as c
    actions = sub.add_parser("sms", help="text messages: check the texts, the outbox, Kannel's groups") \
        .add_subparsers(title="sms commands", metavar="ACTION")
    s = actions.add_parser("check", help="check the texts file (default: callcenter/sms/templates.yaml)")
    s.add_argument("file", nargs="?", default="")
    s.set_defaults(func=c.check)
    s = actions.add_parser("outbox", help="texts by direction, status and purpose (counts, as JSON)")
    s.set_defaults(func=c.outbox)
    s = actions.add_parser("kannel-conf", help="print the smsbox groups of kannel.conf that fit [sms]")
    s.set_defaults(func=c.kannel_conf)


def _add_careplan_commands(sub) -> None:
    """Care plans (issue 16): callcenter/careplans/commands.py does the work."""
    from .careplans import commands as c
    group = sub.add_parser("careplans", help="care plans of chronic and VIP patients: plan their follow-ups")
    actions = group.add_subparsers(title="careplans commands", metavar="ACTION")
    s = actions.add_parser("plan", help="make the follow-ups now due (idempotent); figures as JSON")
    s.add_argument("--days-ahead", type=int, default=0, help="also those due up to N days from today")
    s.set_defaults(func=c.plan)


def _add_questionnaire_commands(sub) -> None:
    """Follow-up questionnaires (issue 16): callcenter/followup/commands.py does the work."""
    from .followup import commands as c
    group = sub.add_parser("questionnaires", help="follow-up questionnaires: check, load, export")
    actions = group.add_subparsers(title="questionnaires commands", metavar="ACTION")
    commands = (("check", c.check, "check the question bank and questionnaire files; every problem with "
                                   "file and line"),
                ("load", c.load, "check, then store the bank and every new questionnaire version"))
    for name, func, what in commands:
        s = actions.add_parser(name, help=what)
        s.add_argument("paths", nargs="*", help="questionnaire files or directories (default: the examples "
                                                "in callcenter/followup/questionnaires/)")
        s.add_argument("--bank", help="the question bank (default: [followup] bank_file, the shipped "
                                      "example unless set)")
        s.set_defaults(func=func)
    s = actions.add_parser("export", help="a study's answers, one row per answer (CSV or JSON on stdout)")
    s.add_argument("study")
    s.add_argument("--format", choices=("csv", "json"), default="csv")
    s.add_argument("--pseudonym-key-file", help="a file with the study's secret key: patients as pseudonyms, "
                                                "call and agent ids left out")
    s.set_defaults(func=c.export)


def _add_import_commands(sub) -> None:
    """Imports from the hospital's files and FHIR server (issue 15): callcenter/imports/commands.py."""
    from .imports import commands as c
    from .imports.csvfile import KINDS
    s = sub.add_parser("import", help="import a CSV file of patients, appointments or encounters "
                                      "(columns: docs/imports.md); every row or none unless --good-rows")
    s.add_argument("kind", choices=KINDS)
    s.add_argument("file")
    s.add_argument("--dry-run", action="store_true", help="check every row (against the database too), "
                                                          "write nothing")
    s.add_argument("--good-rows", action="store_true", help="import the good rows of a file with bad ones "
                                                            "(default: a bad row imports nothing)")
    s.add_argument("--encoding", default="utf-8", help="the file's text encoding (default UTF-8)")
    s.set_defaults(func=c.csv_import)
    fhir = sub.add_parser("fhir", help="FHIR R4: import a bundle file, poll a FHIR server").add_subparsers(
        title="fhir commands", metavar="ACTION")
    s = fhir.add_parser("import", help="import the Patient, Encounter, Appointment, AllergyIntolerance and "
                                       "Condition resources of a Bundle; each refused one reported")
    s.add_argument("file")
    s.add_argument("--dry-run", action="store_true", help="check every resource, write nothing")
    s.add_argument("--all-or-nothing", action="store_true", help="a refused resource imports nothing")
    s.set_defaults(func=c.fhir_import)
    s = fhir.add_parser("poll", help="import what changed on the [fhir] base_url server since the last poll")
    s.add_argument("--since", help="an instant (2026-11-20T10:00:00Z) instead of the saved cursor")
    s.add_argument("--interval", type=float, default=0.0, help="poll again every this many seconds")
    s.set_defaults(func=c.fhir_poll)


def _ensure_ready(cfg: configuration.Config) -> configuration.Config:
    configuration.ensure_secrets(cfg)
    return configuration.reload(cfg)


def cmd_serve(cfg, args) -> int:
    from .main import build, init_app, run
    cfg = _prepare(cfg)
    services = build(cfg, wrapup_seconds=args.wrapup)
    app = init_app(cfg, services)
    if args.available:
        app.on_startup.append(_make_available(services, args.available.split(",")))
    log.info("console on http://%s:%d", cfg.http.host, cfg.http.port)
    run(app, cfg)
    return 0


def _make_available(services, numbers: list[str]):
    async def on_startup(app) -> None:
        for number in filter(None, (n.strip() for n in numbers)):
            services.queues.request_state(number, "available")
    return on_startup


def cmd_setup(cfg, args) -> int:
    cfg = _prepare(cfg)
    print(f"secrets: {cfg.state_path / 'secrets.toml'}\ndatabase: upgraded")
    return 0


def _prepare(cfg: configuration.Config) -> configuration.Config:
    """Secrets, the database at its newest revision, and the command-line tools' API client."""
    from .auth.clients import ensure_cli_client
    from .db.database import upgrade
    cfg = _ensure_ready(cfg)
    upgrade(cfg.database_url)
    with _database(cfg) as db, db.session() as session:
        log.info("%s", ensure_cli_client(session, cfg.http.api_token))
    return cfg


def cmd_db_upgrade(cfg, args) -> int:
    from .db.database import upgrade
    upgrade(cfg.database_url)
    print("database upgraded to the newest revision")
    return 0


def cmd_seed_demo(cfg, args) -> int:
    from .db.database import Database
    from .demo import seed_demo
    db = Database(cfg.database_url)
    try:
        with db.session() as session:
            summary = seed_demo(session, args.endpoint_template, reset=args.reset)
            if args.demo_passwords:
                summary["demo_password"] = _set_demo_passwords(session, every=args.reset)
    finally:
        db.close()
    print(json.dumps(summary))
    return 0


def _set_demo_passwords(session, every: bool) -> str:
    """The demo password for demo users who have none yet (all of them, the first time), or for `every` one:
    a password an admin set is kept unless the demo is reset."""
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from .auth.services import set_password
    from .db.models import User
    from .demo import AGENTS, OTHER_USERS
    hasher = PasswordHasher()
    demo = [a.username for a in AGENTS] + [u[0] for u in OTHER_USERS]
    users = session.scalars(select(User).where(User.username.in_(demo))).all()
    for user in users:
        if every or user.password_hash is None:
            set_password(session, hasher, user.username, DEMO_PASSWORD)
    return DEMO_PASSWORD


def cmd_user_add(cfg, args) -> int:
    from argon2 import PasswordHasher

    from .auth.services import create_user, validate_password
    password = _new_password(args)
    with _auth_errors(), _database(cfg) as db:
        validate_password(password, args.username)
        with db.session() as session:
            user = create_user(session, PasswordHasher(), args.username, args.role, args.display_name,
                               password, must_change=args.must_change)
    print(f"created {user.role} {user.username!r} ({user.display_name})")
    return 0


def cmd_user_passwd(cfg, args) -> int:
    from argon2 import PasswordHasher

    from .auth.services import set_password, validate_password
    password = _new_password(args)
    with _auth_errors(), _database(cfg) as db:
        validate_password(password, args.username)
        with db.session() as session:
            user = set_password(session, PasswordHasher(), args.username, password,
                                must_change=args.must_change)
    print(f"password of {user.username!r} changed; its sessions have ended")
    return 0


def cmd_user_list(cfg, args) -> int:
    from .auth.services import list_users
    with _database(cfg) as db, db.session() as session:
        users = list_users(session)
    print(f"{'USERNAME':<16} {'ROLE':<11} {'DESK':<6} {'STATUS':<22} NAME")
    for u in users:
        status = "inactive" if not u.active else "no password" if not u.has_password else "active"
        print(f"{u.username:<16} {u.role:<11} {u.desk or '-':<6} {status:<22} {u.display_name}")
    return 0


def cmd_api_client_add(cfg, args) -> int:
    from .auth.clients import add_client
    scopes = [scope.strip() for given in args.scope for scope in given.split(",") if scope.strip()]
    with _auth_errors(), _database(cfg) as db, db.session() as session:
        info, secret = add_client(session, args.name, scopes)
    print(f"created API client {info.name!r} with scopes {', '.join(info.scopes)}")
    print(f"secret (shown this once; send it as 'Authorization: Bearer <secret>'):\n{secret}")
    return 0


def cmd_api_client_list(cfg, args) -> int:
    from .auth.clients import list_clients
    with _database(cfg) as db, db.session() as session:
        clients = list_clients(session)
    print(f"{'NAME':<24} {'CREATED':<17} {'STATUS':<26} SCOPES")
    for c in clients:
        status = f"revoked {c.revoked_at:%Y-%m-%d %H:%M} UTC" if c.revoked_at else "active"
        print(f"{c.name:<24} {c.created_at:%Y-%m-%d %H:%M} {status:<26} {','.join(c.scopes)}")
    return 0


def cmd_api_client_revoke(cfg, args) -> int:
    from .auth.clients import revoke_client
    with _auth_errors(), _database(cfg) as db, db.session() as session:
        info = revoke_client(session, args.name)
    print(f"API client {info.name!r} revoked at {info.revoked_at:%Y-%m-%d %H:%M} UTC")
    return 0


def _new_password(args) -> str:
    """From standard input (--password-stdin: the first line), else typed twice at the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("standard input is not a terminal: pass the password with --password-stdin")
    password = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != password:
        raise UsageError("the two passwords differ")
    return password


@contextlib.contextmanager
def _auth_errors():
    """The auth feature's errors (weak password, duplicate user, bad role...) as a one-line CLI error."""
    from .auth.exceptions import AuthError
    try:
        yield
    except AuthError as exc:
        raise UsageError(str(exc)) from None


def _database(cfg):
    from .db.database import Database
    return contextlib.closing(Database(cfg.database_url))


def cmd_prompts(cfg, args) -> int:
    from .prompts import generate
    out = args.out or str(cfg.state_path / "prompts")
    files = generate(cfg.path("ivr_flows/prompts.yaml"), out, force=args.force)
    # The hospital's name for campaign messages comes from [site], not from prompts.yaml.
    from .campaigns.message import render_site_prompts
    files += render_site_prompts(cfg.site, cfg.path("ivr_flows/prompts.yaml"), out, force=args.force)
    print(f"{len(files)} prompt files in {out}")
    return 0


def cmd_simulate_call(cfg, args) -> int:
    if args.digits and not DIGITS.match(args.digits):
        raise UsageError(f"--digits must be keys 0-9, * or # separated by commas, got {args.digits!r}")
    if not 0 < args.hangup_after <= 3600:
        raise UsageError("--hangup-after must be between 0 and 3600 seconds")
    return asyncio.run(_simulate_call(cfg, args))


async def _simulate_call(cfg, args) -> int:
    import uuid

    from .ari.client import AriClient
    from .simulate import place_call, wait_for_hangup
    a = cfg.ari
    ari = AriClient(a.url, a.username, a.password, a.app + "-sim", ca_file=a.ca_file or None)
    await ari.start()
    try:
        # Asterisk names the second half of a Local channel only when the first is named too.
        name = f"sim-{uuid.uuid4().hex}"
        hotline_channel_id = f"{name}-hotline"
        channel = await place_call(ari, cfg.telephony, caller=args.caller, digits=args.digits,
                                   hangup_after=args.hangup_after, first_delay=args.first_delay,
                                   digit_gap=args.digit_gap, channel_id=f"{name}-patient",
                                   hotline_channel_id=hotline_channel_id)
        found = await _report_call(cfg, hotline_channel_id, channel.id, args.find_timeout)
        if args.wait:
            await wait_for_hangup(ari, channel.id, args.hangup_after + 30)
    finally:
        await ari.close()
    return 0 if found else 1


async def _report_call(cfg, hotline_channel_id: str, patient_channel_id: str, timeout: float) -> bool:
    """Print the id of the call the server made of our channel and where to watch it; False if none."""
    try:
        found = await _call_of_channel(cfg, hotline_channel_id, timeout)
    except serverclient.ServerUnreachable as exc:
        print(f"error: the call is placed (patient channel {patient_channel_id}), but {exc}: its call id is "
              "unknown (is 'callcenter serve' running?)", file=sys.stderr)
        return False
    if found is None:
        print(f"error: the call is placed (patient channel {patient_channel_id}), but the server took no "
              f"call on its hotline channel within {timeout:g} s", file=sys.stderr)
        return False
    base = serverclient.base_url(cfg)
    print(found["id"])
    print(f"API:     {base}{found['url']}  (Authorization: Bearer <an API client's secret>)")
    print(f"console: {base}/calls/{found['id']} (the call), {base}/supervisor (wallboard)")
    return True


async def _call_of_channel(cfg, channel_id: str, timeout: float) -> dict | None:
    """Ask the server until it has a call on `channel_id` (it takes it within moments of the dial)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status, body = await asyncio.to_thread(serverclient.get, cfg, "/api/calls", {"channel": channel_id})
        if status == 200:
            return body
        if status != 404:
            raise serverclient.ServerUnreachable(f"the server answered {status} {body.get('error', '')}")
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.25)


def cmd_agent(cfg, args) -> int:
    return serverclient.post(cfg, f"/api/agents/{args.number}/state",
                             {"state": args.state, "reason": args.reason})


def cmd_config(cfg, args) -> int:
    import dataclasses
    data = dataclasses.asdict(cfg)
    for section, key in (("ari", "password"), ("http", "api_token"), ("http", "session_key"),
                         ("fhir", "token"), ("fhir", "client_secret"), ("sms", "kannel_password"),
                         ("sms", "provider_token"), ("sms", "callback_key")):
        if data[section][key]:
            data[section][key] = "***"
    data["database"]["url"] = re.sub(r"//[^@/]*@", "//***@", cfg.database_url)
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`callcenter sms check` (the texts file, every problem with file and line), `callcenter sms outbox` (the
texts by direction, status and purpose: counts only), `callcenter sms kannel-conf` (the smsbox groups of
kannel.conf that fit [sms]: the sendsms-user texts go through and the sms-service posting incoming texts
here). cli.py only parses."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import func, select

from ..config import Config
from ..db.database import Database, upgrade
from ..db.models import TextMessage
from . import templates
from .exceptions import TemplateError


def check(cfg: Config, args) -> int:
    path = Path(args.file) if args.file else templates.DEFAULT_FILE
    try:
        texts = templates.load(path)
    except TemplateError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    print(f"{path}: {len(texts.texts)} texts in {', '.join(texts.languages)}, version {texts.version}")
    return 0


def outbox(cfg: Config, args) -> int:
    upgrade(cfg.database_url)
    db = Database(cfg.database_url)
    try:
        with db.session() as session:
            t = TextMessage
            rows = session.execute(select(t.direction, t.status, t.purpose, func.count())
                                   .group_by(t.direction, t.status, t.purpose)
                                   .order_by(t.direction, t.status, t.purpose)).all()
    finally:
        db.close()
    print(json.dumps([{"direction": d, "status": s, "purpose": p, "texts": n} for d, s, p, n in rows],
                     indent=2))
    return 0


def kannel_conf(cfg: Config, args) -> int:
    """The groups to add to kannel.conf (the core and smsc groups are the site's own)."""
    sms = cfg.sms
    if not sms.callback_key:
        print("error: set [sms] callback_key first (a long random key): Kannel presents it", file=sys.stderr)
        return 2
    port = sms.kannel_url.split("://", 1)[-1].split("/", 1)[0].rpartition(":")[2] or "13013"
    print(f"""group = sendsms-user
username = {sms.kannel_username or "callcenter"}
password = {sms.kannel_password or "CHANGE-ME"}
{f"default-sender = {sms.sender}" if sms.sender else "# default-sender = the hospital's number"}
max-messages = 3
concatenation = true

group = smsbox
# ... bearerbox-host and the rest of your smsbox group, with:
sendsms-port = {port}

group = sms-service
keyword = default
catch-all = true
send-sender = true
max-messages = 0
omit-empty = true
post-url = "{sms.callback_url.rstrip('/')}/sms/gateway/inbound?key={sms.callback_key}"
""")
    return 0

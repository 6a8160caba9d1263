"""`callcenter fastagi listen`: the FastAGI server alone, without the ARI controller and the console (which
`callcenter serve` runs with it when [fastagi] listen is set). `route` still needs a running `serve`: it hands
calls to the hotline application that serve holds."""
from __future__ import annotations

import signal
import threading

from ..config import Config, listen_address
from ..db.database import Database
from ..ivr.flow import Flow
from ..selfservice.actions import load_inbound_flow
from .server import FastAgiServer
from .services import HOTLINE_FLOW, FastAgiScripts


def build_server(cfg: Config, db: Database, flows: dict[str, Flow], listen: str) -> FastAgiServer:
    """The server for `listen` ("HOST:PORT"): the one wiring, shared with main.py."""
    scripts = FastAgiScripts(db, cfg.telephony.default_region, flows, cfg.ari.app)
    return FastAgiServer(scripts, *listen_address(listen))


def listen(cfg: Config, args) -> int:
    address = args.listen or cfg.fastagi.listen or "127.0.0.1:4573"
    db = Database(cfg.database_url)
    hotline = load_inbound_flow(cfg.path(cfg.telephony.hotline_flow))
    server = build_server(cfg, db, {HOTLINE_FLOW: hotline}, address)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    server.start()
    try:
        stopped.wait()
    finally:
        server.stop()
        db.close()
    return 0

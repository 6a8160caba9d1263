"""Builds the object graph (explicit wiring, no module-level singletons) and runs it inside aiohttp."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from .ari.client import AriClient
from .calls.services import CallDeps
from .calls.stasis import CallRouter
from .config import Config
from .db.database import Database
from .eventlog import EventLog
from .ivr.flow import Flow, load_flow
from .queues.services import QueueService
from .recording.services import RecordingService
from .screenpop.notifier import AgentNotifier
from .screenpop.services import ScreenPopService
from .web import SERVICES, auth_middleware, errors_middleware, setup_routes

log = logging.getLogger(__name__)


@dataclass
class Services:
    cfg: Config
    db: Database
    ari: AriClient
    events: EventLog
    queues: QueueService
    notifier: AgentNotifier
    pops: ScreenPopService
    recordings: RecordingService
    router: CallRouter
    flows: dict[str, Flow]
    ari_task: asyncio.Task | None = None


def build(cfg: Config, *, wrapup_seconds: float = 0.0) -> Services:
    db = Database(cfg.database_url)
    a = cfg.ari
    ari = AriClient(a.url, a.username, a.password, a.app, reconnect_max_delay=a.reconnect_max_delay)
    events = EventLog(db)
    queues = QueueService(db, events)
    notifier = AgentNotifier()
    pops = ScreenPopService(db, events, notifier)
    recordings = RecordingService(ari, events, cfg.path(cfg.recordings.dir), cfg.recordings.format,
                                  cfg.recordings.enabled)
    flows = {"hotline": load_flow(cfg.path(cfg.telephony.hotline_flow))}
    router = CallRouter(db, flows)
    router.deps = CallDeps(ari=ari, events=events, queues=queues, pops=pops, recordings=recordings,
                           settings=cfg.telephony, bind=router.bind, bind_bridge=router.bind_bridge,
                           forget=router.forget, wrapup_seconds=wrapup_seconds)
    return Services(cfg, db, ari, events, queues, notifier, pops, recordings, router, flows)


async def start(s: Services) -> None:
    await s.events.start()
    await s.queues.load()
    await s.ari.start()
    s.ari_task = asyncio.create_task(s.ari.run(s.router.on_event, s.router.reconcile), name="ari")


async def stop(s: Services) -> None:
    if s.ari_task:
        s.ari_task.cancel()
        await asyncio.gather(s.ari_task, return_exceptions=True)
    for call in list(s.router.calls.values()):
        if call.task:
            call.task.cancel()
    await s.recordings.wait_idle()
    await s.notifier.close_all()
    await s.ari.close()
    await s.events.close()
    s.db.close()


def init_app(cfg: Config, services: Services | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, auth_middleware])
    app[SERVICES] = services or build(cfg)

    async def lifecycle(app: web.Application):
        await start(app[SERVICES])
        yield
        await stop(app[SERVICES])

    app.cleanup_ctx.append(lifecycle)
    setup_routes(app)
    return app


def serve(cfg: Config) -> None:
    web.run_app(init_app(cfg), host=cfg.http.host, port=cfg.http.port, print=None)

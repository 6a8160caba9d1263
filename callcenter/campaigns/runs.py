"""One run of a campaign: plan its targets, then let the dialer of its mode dial until nothing is due.

Shared by the scheduler, the JSON API (`callcenter campaign run`) and the console, so one process never runs
a campaign twice at once whoever asked; several processes may (claims keep them off each other's patients).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Callable

from ..errors import Refused
from .exceptions import DialerUnavailable
from .services import CampaignService

log = logging.getLogger(__name__)


def default_worker(configured: str = "") -> str:
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class CampaignRuns:
    def __init__(self, campaigns: CampaignService, dialers: Callable[[str], object | None], worker: str):
        """`dialers(mode)` is the object with `async run(name, *, worker)` for 'automated' / 'progressive',
        or None when this server has none wired."""
        self.campaigns, self._dialers, self.worker = campaigns, dialers, worker
        self._tasks: dict[str, asyncio.Task] = {}

    def running(self) -> set[str]:
        return {name for name, task in self._tasks.items() if not task.done()}

    async def start(self, name: str) -> dict:
        """Plan now and dial in the background; the plan's figures."""
        dialer, report = await self._prepare(name)
        self._tasks[name] = asyncio.create_task(self._dial(dialer, name), name=f"campaign-run-{name}")
        return {"campaign": name, "started": True, "worker": self.worker, "plan": report.to_json()}

    async def run(self, name: str) -> dict:
        """Plan and dial, waiting for the end of the run (the scheduler's and `--wait`'s way)."""
        dialer, report = await self._prepare(name)
        task = asyncio.create_task(self._dial(dialer, name), name=f"campaign-run-{name}")
        self._tasks[name] = task
        return {"campaign": name, "worker": self.worker, "plan": report.to_json(), "run": await task}

    async def _prepare(self, name: str):
        dialer = await self._check(name)
        # Held from here (no await between the check and this line) so a second request waits its turn.
        placeholder = asyncio.get_running_loop().create_future()
        self._tasks[name] = placeholder
        try:
            return dialer, await self.campaigns.plan(name)
        except BaseException:
            placeholder.cancel()
            raise
        finally:
            if not placeholder.done():
                placeholder.set_result(None)

    async def _check(self, name: str):
        campaign = await self.campaigns.get(name)
        if name in self.running():
            raise Refused(409, f"campaign {name} is already running in this server")
        dialer = self._dialers(campaign.mode)
        if dialer is None:
            raise DialerUnavailable()
        return dialer

    async def _dial(self, dialer, name: str):
        log.info("campaign %s: run starts (worker %s)", name, self.worker)
        result = await dialer.run(name, worker=self.worker)
        log.info("campaign %s: run ended", name)
        return _jsonable(result)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)


def _jsonable(result):
    if hasattr(result, "to_json"):
        return result.to_json()
    if dataclasses.is_dataclass(result):
        return {k: v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else str(v)
                for k, v in dataclasses.asdict(result).items()}
    return result if isinstance(result, (dict, list, int, float, str, type(None))) else str(result)

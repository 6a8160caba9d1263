"""ARI entry points of campaign calls, automated and progressive: the patient's channel enters the app as
`<role>,<call id>` when it answers, and as `<role>-amd,<call id>,<AMDSTATUS>,<AMDCAUSE>` with AMD's verdict
(call.py: `campaign` for automated calls, `progressive` for progressive ones)."""
from __future__ import annotations

import logging

from ...ari.models import StasisStart
from ...calls.services import _quietly
from ...calls.stasis import CallRouter
from .call import CampaignCall

log = logging.getLogger(__name__)

ROLES = ("campaign", "campaign-amd", "progressive", "progressive-amd")


def register(router: CallRouter) -> None:
    async def on_stasis_start(start: StasisStart, event: dict) -> None:
        call = router.calls.get(start.args[1] if len(start.args) > 1 else "")
        if not isinstance(call, CampaignCall) or call.ended.is_set():
            log.warning("campaign channel %s entered for a call that is gone; hanging up", start.channel.id)
            await _quietly(router.deps.ari.hangup(start.channel.id))
            return
        call.post(event)

    for role in ROLES:
        router.register_role(role, on_stasis_start)

"""ARI entry points of campaign calls, automated and progressive: the patient's channel enters the app as
`<role>,<call id>` when it answers, and as `<role>-amd,<call id>,<AMDSTATUS>,<AMDCAUSE>` with AMD's verdict
(the flavour's roles, call.py: `campaign` for automated calls, `progressive` for progressive ones)."""
from __future__ import annotations

import logging

from ...ari.client import quietly
from ...ari.events import StasisStart
from ...calls.stasis import CallRouter
from .call import patient_dial

log = logging.getLogger(__name__)

ROLES = ("campaign", "campaign-amd", "progressive", "progressive-amd")


def register(router: CallRouter) -> None:
    async def on_stasis_start(start: StasisStart) -> None:
        call = router.find(start.call_id)
        if call is None or patient_dial(call.flavour) is None or call.ended.is_set():
            log.warning("campaign channel %s entered for a call that is gone; hanging up", start.channel.id)
            await quietly(router.deps.ari.hangup(start.channel.id))
            return
        call.post(start)

    for role in ROLES:
        router.register_role(role, on_stasis_start)

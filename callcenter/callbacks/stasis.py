"""ARI entry point of urgent callback calls: the patient's leg enters the app as `callback,<call id>` when it
answers (call.py)."""
from __future__ import annotations

from ..ari.events import StasisStart
from ..calls.stasis import CallRouter
from .call import ROLE


def register(router: CallRouter) -> None:
    async def on_stasis_start(start: StasisStart) -> None:
        await router.to_call(start, "callback channel")

    router.register_role(ROLE, on_stasis_start)

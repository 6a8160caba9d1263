"""The IVR engine's view of a live call: prompts through ARI playbacks, keys from the call's type-ahead
buffer."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .services import Call


class AriIvrPort:
    def __init__(self, call: "Call"):
        self._call = call

    @property
    def language(self) -> str:
        return self._call.language

    def set_language(self, language: str) -> None:
        self._call.language = language
        self._call.save(language=language)

    async def play(self, prompts: list[str], *, interruptible: bool) -> str | None:
        call = self._call
        if interruptible and not call.ivr.keys.empty():
            return call.ivr.keys.get_nowait()
        # A say node's numbers come as media URIs (`number:12`); everything else is a sound name.
        done = await call.media.play([p if ":" in p else "sound:" + p for p in prompts])
        if not interruptible:
            await done
            return None
        key = asyncio.ensure_future(call.ivr.keys.get())
        await asyncio.wait({done, key}, return_when=asyncio.FIRST_COMPLETED)
        if key.done():
            await call.media.stop_playback(done)
            return key.result()
        key.cancel()
        return None

    async def get_key(self, timeout: float) -> str | None:
        try:
            return await asyncio.wait_for(self._call.ivr.keys.get(), timeout)
        except TimeoutError:
            return None

    def record(self, event: str, **data) -> None:
        call = self._call
        call.log(event, **data)
        if event == "ivr_choice":  # the path so far, on the row too: the pop and a restart read it there
            call.ivr.path.append(data)
            call.save(ivr_path=list(call.ivr.path))

    async def action(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> str:
        """The action runner of the call's flavour does the work (a campaign call's carries one); a call
        without one cannot run actions, and its flow takes the action's `next`."""
        runner = self._call.flavour.actions
        if runner is None:
            self._call.log("ivr_action_unavailable", action=name)
            return "unavailable"
        return await runner.run(name, args, context)

    async def followup(self, questionnaire: str):
        """The session of a `followup` node, from the call's action runner (a campaign call's: the patient
        it dialed); a call without one cannot give a response."""
        runner = self._call.flavour.actions
        if runner is None:
            self._call.log("ivr_action_unavailable", action="followup")
            return None
        return await runner.followup(questionnaire)

    async def record_spoken(self, name: str, max_seconds: int) -> bool:
        recorded = await self._call.deps.recordings.record_spoken(self._call, name, max_seconds)
        self._drop_key("#")
        return recorded

    def _drop_key(self, dropped: str) -> None:
        """The '#' that ended a recording reached the buffer too: it answers nothing."""
        keys = self._call.ivr.keys
        kept = [key for key in iter(lambda: keys.get_nowait() if not keys.empty() else None, None)
                if key != dropped]
        for key in kept:
            keys.put_nowait(key)

    def agent_available(self, queue: str) -> bool:
        return self._call.deps.queues.free_agents(queue) > 0

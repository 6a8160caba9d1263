"""Simulated patient calls: a Local channel whose one half runs the hotline and whose other half plays the
patient (dialplan context `sim-patient` presses the keys and talks until it hangs up).

The hotline half is the channel the controller's call is on: naming it (`hotline_channel_id`) lets
`callcenter simulate-call` ask the running server which call it became."""
from __future__ import annotations

import asyncio

from .ari.client import AriClient, AriNotFound
from .ari.models import Channel
from .config import TelephonyConfig


async def place_call(ari: AriClient, settings: TelephonyConfig, *, caller: str, digits: str = "",
                     hangup_after: float = 60, first_delay: float = 3, digit_gap: float = 2,
                     channel_id: str | None = None, hotline_channel_id: str | None = None) -> Channel:
    """The patient's half (the returned channel, `channel_id`) runs `sim-patient`; the other half dials the
    hotline. Asterisk takes `hotline_channel_id` only with a `channel_id`."""
    endpoint = f"Local/{settings.hotline_extension}@{settings.hotline_context}/n"
    variables = {
        "SIM_DIGITS": digits, "SIM_HANGUP_AFTER": f"{hangup_after:g}",
        "SIM_FIRST_DELAY": f"{first_delay:g}", "SIM_DIGIT_GAP": f"{digit_gap:g}",
    }
    return await ari.originate(endpoint, channel_id=channel_id, context=settings.simulated_patient_context,
                               extension="s", caller_id=caller, timeout=30,
                               formats=settings.channel_formats, variables=variables,
                               other_channel_id=hotline_channel_id)


async def wait_for_hangup(ari: AriClient, channel_id: str, timeout: float) -> bool:
    """Poll until the simulated patient's channel is gone; False if it outlived the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            await ari.channel(channel_id)
        except AriNotFound:
            return True
        await asyncio.sleep(0.5)
    return False

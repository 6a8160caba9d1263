"""The offered load: which patient calls, what they press, and placing the calls at an exact rate."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callcenter.ari.client import AriClient
from callcenter.config import TelephonyConfig
from callcenter.simulate import place_call

# The patient presses 1 (English) one second after the answer, interrupting the language menu, then a main
# menu key 13 s later: the notices (11.7 s, not interruptible) have ended and the main menu is playing, so
# both the ARI flow and native Read() take the key at the same moment (Playback() in dialplan drops keys).
FIRST_DELAY = 1.0
DIGIT_GAP = 13.0
# Answer to agent connected, measured on an idle machine: keys at ~1.5 s and ~14.5 s, then 1 s of ringing.
CONNECT_AFTER = 16.0
MIN_TALK = 2.0
NATIVE_ENDPOINT = "Local/s@native-ivr/n"
NATIVE_PATIENT_CONTEXT = "sim-native"


@dataclass(frozen=True)
class PlannedCall:
    index: int
    caller: str
    digits: str


def plan(count: int, known_numbers: list[str]) -> list[PlannedCall]:
    """One call in three from a demo patient's number (the pop carries a candidate), the rest unknown numbers;
    main menu keys 1-5 in turn, so every queue gets calls."""
    unknown = [f"+1415555{n:04d}" for n in range(100, 200) if f"+1415555{n:04d}" not in known_numbers]
    calls = []
    for i in range(count):
        pool = known_numbers if (i % 3 == 0 and known_numbers) else unknown
        calls.append(PlannedCall(i, pool[(i // 3) % len(pool)], f"1,{i % 5 + 1}"))
    return calls


@dataclass
class Placed:
    index: int
    due: float              # wall clock (time.time()) when the originate should go out
    sent: float = 0.0       # when it did
    answered: float = 0.0   # when Asterisk replied to the originate request
    channel_id: str = ""
    error: str | None = None


Originate = Callable[[PlannedCall], Awaitable[str]]


async def place_paced(calls: list[PlannedCall], rate: float, originate: Originate,
                      request_timeout: float = 15) -> list[Placed]:
    """Start call i at start + i/rate exactly (absolute schedule: a slow originate never delays the next)."""
    loop = asyncio.get_running_loop()
    start_loop, start_wall = loop.time() + 0.2, time.time() + 0.2
    tasks = []
    for call in calls:
        offset = call.index / rate
        await asyncio.sleep(max(0.0, start_loop + offset - loop.time()))
        placed = Placed(call.index, start_wall + offset)
        tasks.append(asyncio.create_task(_place(call, placed, originate, request_timeout)))
    return list(await asyncio.gather(*tasks))


async def _place(call: PlannedCall, placed: Placed, originate: Originate, timeout: float) -> Placed:
    placed.sent = time.time()
    try:
        placed.channel_id = await asyncio.wait_for(originate(call), timeout)
    except Exception as exc:  # a refused or timed-out originate is a failed call, not a broken run
        placed.error = f"originate: {type(exc).__name__}: {exc}"[:200]
    placed.answered = time.time()
    return placed


def ari_originator(ari: AriClient, hangup_after: float) -> Originate:
    """Calls into the product: the hotline extension enters Stasis; the other half is the patient."""
    telephony = TelephonyConfig()

    async def originate(call: PlannedCall) -> str:
        channel = await place_call(ari, telephony, caller=call.caller, digits=call.digits,
                                   hangup_after=hangup_after, first_delay=FIRST_DELAY, digit_gap=DIGIT_GAP)
        return channel.id
    return originate


def native_originator(ari: AriClient, hangup_after: float, record: bool) -> Originate:
    """The same calls into the native dialplan IVR (context native-ivr), same patient behaviour and format."""
    async def originate(call: PlannedCall) -> str:
        variables = {"SIM_DIGITS": call.digits, "SIM_HANGUP_AFTER": f"{hangup_after:g}",
                     "SIM_FIRST_DELAY": f"{FIRST_DELAY:g}", "SIM_DIGIT_GAP": f"{DIGIT_GAP:g}",
                     "NATIVE_RECORD": "1" if record else "0"}
        channel = await ari.originate(NATIVE_ENDPOINT, context=NATIVE_PATIENT_CONTEXT, extension="s",
                                      caller_id=call.caller, timeout=30, formats="ulaw", variables=variables)
        return channel.id
    return originate

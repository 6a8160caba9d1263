"""The urgent dialer: dials the callbacks marked `autodial` as soon as they are due, one call each, and
settles each callback by what became of its call.

- A nurse talked with the patient: the callback is done, and the call it came from gets an
  `escalation_performed` (kind urgent_callback) that counts where the ladder says so (triage/escalation.py).
- Anything else (busy, no answer, the patient hung up before a nurse was free): the callback stays owed, due
  again after `retry_seconds`, its attempts and last result listed first on the nurses' desks; the call it
  came from gets an `escalation_callback_attempt` event, so the call page shows every try.

A callback whose call is still live (created while the caller was still on the line) waits for that call to
end: the patient's phone is busy with us until then. Claims (callbacks/services.py) keep two dialers, or a
dialer and a person, from calling the same patient twice.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from ..calls.services import Call, CallDeps
from ..calls.stasis import CallRouter
from ..db.models import Callback
from ..eventlog import EventLog, utcnow
from ..ivr.flow import Flow
from .call import UrgentCallback, new_call
from .services import CallbackService
from .state import DialingCallback

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0  # how often due callbacks are looked for without a kick (a retry coming due)


class UrgentDialer:
    def __init__(self, router: CallRouter, callbacks: CallbackService, events: EventLog, flow: Flow, *,
                 retry_seconds: float = 60.0, clock: Callable[[], datetime] = utcnow,
                 reached: Callable[[str, Call], Awaitable[None]] | None = None):
        self._router, self._callbacks, self._events, self._flow = router, callbacks, events, flow
        self.reached = reached
        self._retry = timedelta(seconds=retry_seconds)
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._calls: set[asyncio.Task] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="urgent-dialer")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._calls) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def kick(self) -> None:
        """A callback was just created: look now rather than at the next tick."""
        self._wake.set()

    async def _run(self) -> None:
        try:
            released = await self._callbacks.release_dialer_claims()
            if released:
                log.warning("urgent dialer: %d callbacks dialed before a restart are owed again", released)
        except Exception:
            log.exception("urgent dialer: giving back the claims of before the restart failed")
        while True:
            try:
                await self.dial_due()
            except Exception:  # one failed round must not end the dialer for every later callback
                log.exception("urgent dialer: a round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def dial_due(self) -> list[str]:
        """Dial every due callback whose own call is over; the ids of the calls started."""
        started = []
        for callback in await self._callbacks.due_to_dial():
            origin = self._router.find(callback.origin_call_id)
            if origin is not None and not origin.ended.is_set():
                continue  # the patient is still on that call
            if not await self._callbacks.claim(callback.id):
                continue  # someone else works it
            try:
                started.append(self._dial(callback))
            except Exception:  # never started: owed again, tried at the next retry time
                log.exception("urgent callback %s: the call could not be started", callback.id)
                await self._callbacks.retry(callback.id, result="failed", next_at=self.clock() + self._retry)
        return started

    def _dial(self, callback: Callback) -> str:
        call = new_call(self._deps, self._flow, callback_id=callback.id, phone_e164=callback.phone_e164,
                        patient_id=callback.patient_id, queue=callback.queue_name or "nurse",
                        priority=callback.priority, origin_call_id=callback.origin_call_id)
        self._router.start_call(call, DialingCallback)
        log.info("urgent callback %s: dialing, call %s", callback.id, call.id)
        task = asyncio.create_task(self._settle(call), name=f"callback-{callback.id}")
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return call.id

    @property
    def _deps(self) -> CallDeps:
        return self._router.deps

    async def _settle(self, call: Call) -> None:
        await call.ended.wait()
        callback: UrgentCallback = call.flavour  # type: ignore[assignment]
        if call.times.answered_at is not None:  # a nurse talked with the patient
            await self._performed(call)  # on the original call's record first: done means recorded
            await self._callbacks.complete(callback.callback_id, result_call_id=call.id)
            log.info("urgent callback %s: the patient talked with a nurse (call %s)", callback.callback_id,
                     call.id)
            return
        # Answered but gone before a nurse was free: 'no_nurse'; else busy, no_answer, failed.
        result = callback.result if callback.result != "answered" else "no_nurse"
        next_at = self.clock() + self._retry
        attempts = await self._callbacks.retry(callback.callback_id, result=result, next_at=next_at)
        if callback.origin_call_id:
            self._events.event(callback.origin_call_id, "escalation_callback_attempt",
                               callback_id=callback.callback_id, callback_call_id=call.id, result=result,
                               attempts=attempts, retry_in_seconds=self._retry.total_seconds())
        log.warning("urgent callback %s: attempt %d did not reach a nurse (%s); trying again in %gs",
                    callback.callback_id, attempts, result, self._retry.total_seconds())

    async def _performed(self, call: Call) -> None:
        """The escalation owed on the original call is performed now: a nurse talks with the patient (what the
        original call's record makes of it is the `reached` hook's: triage/escalation.py)."""
        origin = call.flavour.origin_call_id  # type: ignore[attr-defined]
        if origin and self.reached is not None:
            await self.reached(origin, call)

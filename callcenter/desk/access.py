"""Who may open which patient record at a desk, beyond the route's role and the own-desk check.

A full record (allergies, notes, recent calls) opens only from somewhere the user was entitled to look:
- "pop": a candidate of a call that is (or was) on the user's own desk; the view confirms the identity;
- "search": a patient that this user's own search returned recently (remembered here, server-side, so an id
  typed into a request is not enough);
- "callback": a patient on the desk's callback list (checked against the list in the view's transaction);
- "break_glass": anything else, with a written reason, audited as such for review.
Every view also counts against a per-user rate, which bounds what a misused account can read.
Both memories live in the running server: after a restart the agent searches again.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

RECENT_RESULTS_SECONDS = 30 * 60.0  # a search result can be opened for this long
MAX_TRACKED = 10_000  # users kept before the expired ones are swept


class RecentResults:
    """The patient ids each user's recent searches returned."""

    def __init__(self, keep_for: float = RECENT_RESULTS_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._keep_for = keep_for
        self._clock = clock
        self._until: dict[int, dict[int, float]] = {}  # user id -> patient id -> shown until

    def remember(self, user_id: int, patient_ids: Iterable[int]) -> None:
        until = self._clock() + self._keep_for
        shown = self._until.setdefault(user_id, {})
        shown.update(dict.fromkeys(patient_ids, until))
        if len(self._until) > MAX_TRACKED:
            self._sweep()

    def returned(self, user_id: int, patient_id: int) -> bool:
        return self._until.get(user_id, {}).get(patient_id, 0.0) > self._clock()

    def _sweep(self) -> None:
        now = self._clock()
        for user_id in list(self._until):
            live = {p: t for p, t in self._until[user_id].items() if t > now}
            if live:
                self._until[user_id] = live
            else:
                del self._until[user_id]


class ViewRate:
    """At most `limit` record views per user within any `window` seconds (a sliding window)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self._limit, self._window, self._clock = limit, window, clock
        self._views: dict[int, deque[float]] = {}

    def take(self, user_id: int) -> bool:
        """Count one view; False (and not counted) when the user is at the limit."""
        now = self._clock()
        views = self._views.setdefault(user_id, deque())
        while views and views[0] <= now - self._window:
            views.popleft()
        if len(views) >= self._limit:
            return False
        views.append(now)
        if len(self._views) > MAX_TRACKED:
            self._views = {u: v for u, v in self._views.items() if v and v[-1] > now - self._window}
        return True

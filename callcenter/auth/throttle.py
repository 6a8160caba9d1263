"""Sign-in throttling: online password guessing slowed per address and overall, without a lock-out that an
attacker could aim at a named user.

Each attempt costs an argon2id hash (64 MiB, tens of milliseconds of CPU), so three limits apply before it:
- per address and username: a few free failures, then a wait that doubles with each further failure (capped).
  Only the address that guesses waits: the user signs in from their own desk meanwhile. (An account-wide
  lock, as before, let anyone lock any named user out by failing five times.)
- per address: a cap on failures over a window, whatever the usernames (one source spraying many accounts).
  IPv6 addresses count by /64, the block one subscriber gets.
- overall: a cap on failures per window from all addresses (a distributed guess at one account), and at most
  `concurrent_hashes` hashes at a time, so a flood cannot exhaust memory.
Counters live in memory: they bound the guessing rate of a running server, which is what they are for.
"""
from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .exceptions import SignInThrottled

MAX_TRACKED = 10_000  # keys kept before the expired ones are swept


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 3          # per address and username, before the waits start
    first_wait: float = 2.0         # s after the first failure past the free ones; doubles each time
    max_wait: float = 15 * 60.0
    address_failures: int = 30      # per address (any usernames) within address_window
    address_window: float = 15 * 60.0
    global_failures: int = 300      # from all addresses within global_window
    global_window: float = 60.0
    concurrent_hashes: int = 2


@dataclass
class _Backoff:
    failures: int = 0
    last: float = 0.0


@dataclass
class SignInThrottle:
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._pairs: dict[tuple[str, str], _Backoff] = {}
        self._addresses: dict[str, deque[float]] = {}
        self._everyone: deque[float] = deque()
        self.hashing = asyncio.Semaphore(self.policy.concurrent_hashes)

    def check(self, address: str | None, username: str) -> None:
        """Raise SignInThrottled (with the seconds to wait) when this attempt must not be tried now."""
        now, p = self.clock(), self.policy
        source = _source(address)
        waits = [self._pair_wait(self._pairs.get((source, username)), now),
                 _window_wait(self._addresses.get(source), p.address_failures, p.address_window, now),
                 _window_wait(self._everyone, p.global_failures, p.global_window, now)]
        wait = max(waits)
        if wait > 0:
            raise SignInThrottled(math.ceil(wait), everyone=waits[2] > 0)

    def failed(self, address: str | None, username: str) -> None:
        now, source = self.clock(), _source(address)
        self._sweep(now)
        backoff = self._pairs.setdefault((source, username), _Backoff())
        backoff.failures, backoff.last = backoff.failures + 1, now
        _push(self._addresses.setdefault(source, deque()), now, self.policy.address_window)
        _push(self._everyone, now, self.policy.global_window)

    def succeeded(self, address: str | None, username: str) -> None:
        self._pairs.pop((_source(address), username), None)

    def _pair_wait(self, backoff: _Backoff | None, now: float) -> float:
        p = self.policy
        if backoff is None or backoff.failures < p.free_failures:
            return 0.0
        wait = min(p.max_wait, p.first_wait * 2 ** (backoff.failures - p.free_failures))
        return backoff.last + wait - now

    def _sweep(self, now: float) -> None:
        """Forget what limits nobody any more, once many sources were seen (a spray of addresses or names)."""
        if len(self._pairs) > MAX_TRACKED:
            self._pairs = {k: b for k, b in self._pairs.items() if now - b.last < self.policy.max_wait}
        if len(self._addresses) > MAX_TRACKED:
            window = self.policy.address_window
            self._addresses = {a: q for a, q in self._addresses.items() if q and now - q[-1] < window}


@dataclass
class AddressRate:
    """At most `limit` actions per address (IPv6 by /64, as above) within `window` seconds: what a public
    form takes from one source. `wait` says how long before the next is taken; `taken` counts one."""
    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._addresses: dict[str, deque[float]] = {}

    def wait(self, address: str | None) -> int:
        """Whole seconds to wait before this address may act again (0: now)."""
        return math.ceil(_window_wait(self._addresses.get(_source(address)), self.limit, self.window,
                                      self.clock()))

    def taken(self, address: str | None) -> None:
        now = self.clock()
        if len(self._addresses) > MAX_TRACKED:
            self._addresses = {a: q for a, q in self._addresses.items() if q and now - q[-1] < self.window}
        _push(self._addresses.setdefault(_source(address), deque()), now, self.window)


def _source(address: str | None) -> str:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "-"
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def _push(times: deque[float], now: float, window: float) -> None:
    times.append(now)
    while times and now - times[0] >= window:
        times.popleft()


def _window_wait(times: deque[float] | None, limit: int, window: float, now: float) -> float:
    """Seconds until fewer than `limit` failures remain within the window (0: the attempt may go ahead)."""
    if not times:
        return 0.0
    while times and now - times[0] >= window:
        times.popleft()
    if len(times) < limit:
        return 0.0
    return times[len(times) - limit] + window - now

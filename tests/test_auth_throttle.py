"""Sign-in throttling (auth/throttle.py) on a controlled monotonic clock: waits that double per address and
username, the caps per address and overall, and no hash spent on a refused attempt."""
from __future__ import annotations

import pytest

from callcenter.auth.exceptions import SignInFailed, SignInThrottled
from callcenter.auth.services import UserService, create_user
from callcenter.auth.throttle import SignInThrottle, ThrottlePolicy

from .browser.live import PASSWORD
from .test_auth import FAST, CountingHasher


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttled(db, clock) -> UserService:
    with db.session() as session:
        create_user(session, FAST, "Alice", "agent", "Alice Moreno", PASSWORD)
    policy = ThrottlePolicy(free_failures=3, first_wait=2.0, max_wait=60.0, address_failures=6,
                            address_window=600.0, global_failures=10, global_window=60.0)
    return UserService(db, CountingHasher(), throttle=SignInThrottle(policy, clock))


async def _fail(users: UserService, username: str, remote: str) -> None:
    with pytest.raises(SignInFailed):
        await users.authenticate(username, "wrong-password-123", remote)


async def test_given_failures_from_an_address_when_retrying_then_waits_double_without_hashing(throttled,
                                                                                              clock):
    for _ in range(3):
        await _fail(throttled, "alice", "203.0.113.9")
    hashed = throttled.hasher.verified

    waits = []
    for _ in range(3):
        with pytest.raises(SignInThrottled) as refused:
            await throttled.authenticate("alice", PASSWORD, "203.0.113.9")  # even the right password waits
        waits.append(refused.value.retry_after)
        clock.now += refused.value.retry_after
        await _fail(throttled, "alice", "203.0.113.9")

    assert waits == [2, 4, 8]
    assert throttled.hasher.verified == hashed + 3  # a refused attempt costs no hash
    assert (await throttled.authenticate("alice", PASSWORD, "10.0.0.7")).username == "alice"


async def test_given_success_after_failures_when_failing_again_then_free_failures_again(throttled, clock):
    for _ in range(3):
        await _fail(throttled, "alice", "10.0.0.7")
    clock.now += 2
    await throttled.authenticate("alice", PASSWORD, "10.0.0.7")

    await _fail(throttled, "alice", "10.0.0.7")

    await throttled.authenticate("alice", PASSWORD, "10.0.0.7")


async def test_given_one_address_spraying_usernames_when_over_its_cap_then_refused_there_only(throttled,
                                                                                               clock):
    for i in range(6):
        await _fail(throttled, f"user{i}", "2001:db8:1:2::10")

    with pytest.raises(SignInThrottled) as refused:
        await throttled.authenticate("alice", PASSWORD, "2001:db8:1:2::99")  # same /64: same source

    assert refused.value.retry_after == 600 and not refused.value.everyone
    assert (await throttled.authenticate("alice", PASSWORD, "2001:db8:1:3::10")).username == "alice"
    clock.now += 600
    assert (await throttled.authenticate("alice", PASSWORD, "2001:db8:1:2::99")).username == "alice"


async def test_given_failures_from_many_addresses_when_over_global_cap_then_everyone_waits(throttled, clock):
    for i in range(10):
        await _fail(throttled, "alice", f"198.51.100.{i}")

    with pytest.raises(SignInThrottled) as refused:
        await throttled.authenticate("alice", PASSWORD, "10.0.0.7")

    assert refused.value.everyone and refused.value.retry_after == 60
    clock.now += 60
    assert (await throttled.authenticate("alice", PASSWORD, "10.0.0.7")).username == "alice"

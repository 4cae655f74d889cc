"""The sliding-window limiter contract (what login throttling and the write limits rely
on), run against every implementation: the in-process `WindowLimiter` and the cluster
profile's `RedisWindowLimiter`, both on a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
import redis

from photoshare.infra.auth.ratelimit import WindowLimiter
from photoshare.infra.redis.ratelimit import RedisWindowLimiter

pytestmark = pytest.mark.cluster

WINDOW = 60.0

Limiter = WindowLimiter | RedisWindowLimiter
MakeLimiter = Callable[..., Limiter]


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_limiters(redis_url: str, redis_client: redis.Redis
                   ) -> Iterator[Callable[..., RedisWindowLimiter]]:
    """Makes Redis limiters under a prefix of this test's own; deletes its keys after."""
    prefix = f"photoshare-test-{uuid4().hex}:"
    made: list[RedisWindowLimiter] = []

    def make(*, max_hits: int, window_seconds: float = WINDOW, name: str = "login",
             clock: Callable[[], float] | None = None) -> RedisWindowLimiter:
        made.append(RedisWindowLimiter(redis_url, prefix=prefix, name=name, clock=clock,
                                        max_hits=max_hits,
                                        window_seconds=window_seconds))
        return made[-1]

    yield make
    for limiter in made:
        limiter.close()
    leftovers = list(redis_client.scan_iter(match=f"{prefix}*"))
    if leftovers:
        redis_client.delete(*leftovers)


@pytest.fixture(params=["in-process", "redis"])
def make_limiter(request: pytest.FixtureRequest, clock: FakeClock) -> MakeLimiter:
    """Makes limiters of one implementation on the test's fake clock."""
    if request.param == "in-process":
        return lambda **limits: WindowLimiter(clock=clock, **limits)
    redis_limiter = request.getfixturevalue("redis_limiters")
    return lambda **limits: redis_limiter(clock=clock, **limits)


# --- the contract ----------------------------------------------------------------------


def test_under_the_limit_a_key_may_try_now(make_limiter: MakeLimiter,
                                          clock: FakeClock) -> None:
    limiter = make_limiter(max_hits=3, window_seconds=WINDOW)
    assert limiter.retry_after("ann") == 0
    limiter.record("ann")
    clock.now += 10
    limiter.record("ann")
    assert limiter.retry_after("ann") == 0


def test_at_the_limit_the_wait_is_the_oldest_failures_remaining_window(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(max_hits=3, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record("ann")  # at 1000, 1010 and 1020
        clock.now += 10
    assert limiter.retry_after("ann") == 30.0  # 1000 + 60 - 1030
    clock.now = 1059.5
    assert limiter.retry_after("ann") == 0.5


def test_failures_leave_the_window(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(max_hits=3, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record("ann")  # at 1000, 1010 and 1020
        clock.now += 10
    clock.now = 1060.0  # the first failure is a full window old: it no longer counts
    assert limiter.retry_after("ann") == 0
    limiter.record("ann")  # the window now holds 1010, 1020 and 1060
    assert limiter.retry_after("ann") == 10.0
    clock.now = 1200.0
    assert limiter.retry_after("ann") == 0
    limiter.record("ann")
    limiter.record("ann")
    assert limiter.retry_after("ann") == 0  # only two count: the old ones are gone


def test_failures_at_the_same_instant_each_count(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(max_hits=3, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record("ann")
    assert limiter.retry_after("ann") == WINDOW


def test_reset_clears_a_key(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(max_hits=2, window_seconds=WINDOW)
    limiter.record("ann")
    limiter.record("ann")
    limiter.reset("ann")
    assert limiter.retry_after("ann") == 0
    limiter.record("ann")
    assert limiter.retry_after("ann") == 0  # counting starts again from nothing
    limiter.reset("nobody")  # resetting a key that never failed is fine


def test_keys_are_independent(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(max_hits=2, window_seconds=WINDOW)
    limiter.record("ann")
    limiter.record("bob")
    assert limiter.retry_after("ann") == limiter.retry_after("bob") == 0
    clock.now += 5
    limiter.record("ann")
    assert limiter.retry_after("ann") == 55.0
    assert limiter.retry_after("bob") == 0
    limiter.reset("ann")
    limiter.record("bob")
    assert limiter.retry_after("bob") == 55.0


def test_concurrent_failures_all_count(make_limiter: MakeLimiter) -> None:
    threads, each = 8, 5
    limiter = make_limiter(max_hits=threads * each, window_seconds=WINDOW)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: [limiter.record("ann") for _ in range(each)],
                      range(threads)))
    assert limiter.retry_after("ann") == WINDOW


def test_acquire_counts_only_under_the_limit(make_limiter: MakeLimiter,
                                             clock: FakeClock) -> None:
    limiter = make_limiter(max_hits=2, window_seconds=WINDOW)
    first = limiter.acquire("ann")
    clock.now += 10
    second = limiter.acquire("ann")
    refused = limiter.acquire("ann")
    assert first.admitted and second.admitted and not refused.admitted
    assert refused.retry_after == 50.0  # until the first leaves the window
    clock.now += 50
    assert limiter.acquire("ann").admitted


def test_a_released_attempt_no_longer_counts(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(max_hits=2, window_seconds=WINDOW)
    kept, given_back = limiter.acquire("ann"), limiter.acquire("ann")
    assert not limiter.acquire("ann").admitted
    limiter.release(given_back)
    limiter.release(given_back)  # twice is harmless
    limiter.release(limiter.acquire("bob"))
    assert limiter.acquire("ann").admitted and kept.admitted
    assert not limiter.acquire("ann").admitted


def test_of_many_concurrent_acquires_exactly_the_limit_are_admitted(
        make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(max_hits=5, window_seconds=WINDOW)
    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(lambda _: limiter.acquire("ann"), range(40)))
    assert sum(a.admitted for a in attempts) == 5
    assert all(a.retry_after > 0 for a in attempts if not a.admitted)


def test_recorded_hits_beyond_the_limit_wait_for_the_edge(make_limiter: MakeLimiter,
                                                        clock: FakeClock) -> None:
    limiter = make_limiter(max_hits=2, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record("ann")  # at 1000, 1010, 1020: three over a limit of two
        clock.now += 10
    # Under the limit again once two remain: when the second (1010) leaves.
    assert limiter.retry_after("ann") == 1010 + WINDOW - 1030


# --- Redis only: shared by processes, bounded in memory ---------------------------------


def test_limiters_in_different_processes_share_their_counts(
        redis_limiters: Callable[..., RedisWindowLimiter], clock: FakeClock) -> None:
    api_1 = redis_limiters(max_hits=3, clock=clock)
    api_2 = redis_limiters(max_hits=3, clock=clock)  # its own connections, as a process
    api_1.record("ann")
    clock.now += 10
    api_2.record("ann")
    assert api_1.retry_after("ann") == api_2.retry_after("ann") == 0
    api_2.record("ann")
    assert api_1.retry_after("ann") == api_2.retry_after("ann") == 50.0
    api_1.reset("ann")
    assert api_2.retry_after("ann") == 0


def test_limiters_with_different_names_never_share_keys(
        redis_limiters: Callable[..., RedisWindowLimiter], clock: FakeClock) -> None:
    accounts = redis_limiters(max_hits=1, name="login-account", clock=clock)
    clients = redis_limiters(max_hits=1, name="login-client", clock=clock)
    accounts.record("same-key")
    assert accounts.retry_after("same-key") == WINDOW
    assert clients.retry_after("same-key") == 0


def test_a_key_lives_in_redis_one_window_past_its_last_failure(
        redis_limiters: Callable[..., RedisWindowLimiter], redis_client: redis.Redis,
        clock: FakeClock) -> None:
    limiter = redis_limiters(max_hits=3, name="expiry", clock=clock)
    limiter.record("ann")
    [key] = redis_client.scan_iter(match="*ratelimit:expiry:ann")
    assert 0 < redis_client.pttl(key) <= WINDOW * 1000
    limiter.reset("ann")
    assert not redis_client.exists(key)


def test_a_quiet_key_leaves_redis(redis_limiters: Callable[..., RedisWindowLimiter],
                                  redis_client: redis.Redis) -> None:
    limiter = redis_limiters(max_hits=3, name="short", window_seconds=0.05)
    limiter.record("ann")
    [key] = redis_client.scan_iter(match="*ratelimit:short:ann")
    deadline = time.monotonic() + 2.0
    while redis_client.exists(key):
        assert time.monotonic() < deadline, "the key outlived its window"
        time.sleep(0.01)


def test_without_a_clock_the_redis_servers_time_is_used(
        redis_limiters: Callable[..., RedisWindowLimiter]) -> None:
    limiter = redis_limiters(max_hits=2)
    limiter.record("ann")
    limiter.record("ann")
    assert WINDOW - 5 < limiter.retry_after("ann") <= WINDOW

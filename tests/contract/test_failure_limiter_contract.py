"""The failed-attempt limiter contract (what login throttling relies on), run against
every implementation: the in-process `FailureLimiter` and the cluster profile's
`RedisFailureLimiter`, both on a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
import redis

from photoshare.infra.auth.ratelimit import FailureLimiter
from photoshare.infra.redis.ratelimit import RedisFailureLimiter

pytestmark = pytest.mark.cluster

WINDOW = 60.0

Limiter = FailureLimiter | RedisFailureLimiter
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
                   ) -> Iterator[Callable[..., RedisFailureLimiter]]:
    """Makes Redis limiters under a prefix of this test's own; deletes its keys after."""
    prefix = f"photoshare-test-{uuid4().hex}:"
    made: list[RedisFailureLimiter] = []

    def make(*, max_failures: int, window_seconds: float = WINDOW, name: str = "login",
             clock: Callable[[], float] | None = None) -> RedisFailureLimiter:
        made.append(RedisFailureLimiter(redis_url, prefix=prefix, name=name, clock=clock,
                                        max_failures=max_failures,
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
        return lambda **limits: FailureLimiter(clock=clock, **limits)
    redis_limiter = request.getfixturevalue("redis_limiters")
    return lambda **limits: redis_limiter(clock=clock, **limits)


# --- the contract ----------------------------------------------------------------------


def test_under_the_limit_a_key_may_try_now(make_limiter: MakeLimiter,
                                          clock: FakeClock) -> None:
    limiter = make_limiter(max_failures=3, window_seconds=WINDOW)
    assert limiter.retry_after("ann") == 0
    limiter.record_failure("ann")
    clock.now += 10
    limiter.record_failure("ann")
    assert limiter.retry_after("ann") == 0


def test_at_the_limit_the_wait_is_the_oldest_failures_remaining_window(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(max_failures=3, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record_failure("ann")  # at 1000, 1010 and 1020
        clock.now += 10
    assert limiter.retry_after("ann") == 30.0  # 1000 + 60 - 1030
    clock.now = 1059.5
    assert limiter.retry_after("ann") == 0.5


def test_failures_leave_the_window(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(max_failures=3, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record_failure("ann")  # at 1000, 1010 and 1020
        clock.now += 10
    clock.now = 1060.0  # the first failure is a full window old: it no longer counts
    assert limiter.retry_after("ann") == 0
    limiter.record_failure("ann")  # the window now holds 1010, 1020 and 1060
    assert limiter.retry_after("ann") == 10.0
    clock.now = 1200.0
    assert limiter.retry_after("ann") == 0
    limiter.record_failure("ann")
    limiter.record_failure("ann")
    assert limiter.retry_after("ann") == 0  # only two count: the old ones are gone


def test_failures_at_the_same_instant_each_count(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(max_failures=3, window_seconds=WINDOW)
    for _ in range(3):
        limiter.record_failure("ann")
    assert limiter.retry_after("ann") == WINDOW


def test_reset_clears_a_key(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(max_failures=2, window_seconds=WINDOW)
    limiter.record_failure("ann")
    limiter.record_failure("ann")
    limiter.reset("ann")
    assert limiter.retry_after("ann") == 0
    limiter.record_failure("ann")
    assert limiter.retry_after("ann") == 0  # counting starts again from nothing
    limiter.reset("nobody")  # resetting a key that never failed is fine


def test_keys_are_independent(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(max_failures=2, window_seconds=WINDOW)
    limiter.record_failure("ann")
    limiter.record_failure("bob")
    assert limiter.retry_after("ann") == limiter.retry_after("bob") == 0
    clock.now += 5
    limiter.record_failure("ann")
    assert limiter.retry_after("ann") == 55.0
    assert limiter.retry_after("bob") == 0
    limiter.reset("ann")
    limiter.record_failure("bob")
    assert limiter.retry_after("bob") == 55.0


def test_concurrent_failures_all_count(make_limiter: MakeLimiter) -> None:
    threads, each = 8, 5
    limiter = make_limiter(max_failures=threads * each, window_seconds=WINDOW)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: [limiter.record_failure("ann") for _ in range(each)],
                      range(threads)))
    assert limiter.retry_after("ann") == WINDOW


# --- Redis only: shared by processes, bounded in memory ---------------------------------


def test_limiters_in_different_processes_share_their_counts(
        redis_limiters: Callable[..., RedisFailureLimiter], clock: FakeClock) -> None:
    api_1 = redis_limiters(max_failures=3, clock=clock)
    api_2 = redis_limiters(max_failures=3, clock=clock)  # its own connections, as a process
    api_1.record_failure("ann")
    clock.now += 10
    api_2.record_failure("ann")
    assert api_1.retry_after("ann") == api_2.retry_after("ann") == 0
    api_2.record_failure("ann")
    assert api_1.retry_after("ann") == api_2.retry_after("ann") == 50.0
    api_1.reset("ann")
    assert api_2.retry_after("ann") == 0


def test_limiters_with_different_names_never_share_keys(
        redis_limiters: Callable[..., RedisFailureLimiter], clock: FakeClock) -> None:
    accounts = redis_limiters(max_failures=1, name="login-account", clock=clock)
    clients = redis_limiters(max_failures=1, name="login-client", clock=clock)
    accounts.record_failure("same-key")
    assert accounts.retry_after("same-key") == WINDOW
    assert clients.retry_after("same-key") == 0


def test_a_key_lives_in_redis_one_window_past_its_last_failure(
        redis_limiters: Callable[..., RedisFailureLimiter], redis_client: redis.Redis,
        clock: FakeClock) -> None:
    limiter = redis_limiters(max_failures=3, name="expiry", clock=clock)
    limiter.record_failure("ann")
    [key] = redis_client.scan_iter(match="*ratelimit:expiry:ann")
    assert 0 < redis_client.pttl(key) <= WINDOW * 1000
    limiter.reset("ann")
    assert not redis_client.exists(key)


def test_a_quiet_key_leaves_redis(redis_limiters: Callable[..., RedisFailureLimiter],
                                  redis_client: redis.Redis) -> None:
    limiter = redis_limiters(max_failures=3, name="short", window_seconds=0.05)
    limiter.record_failure("ann")
    [key] = redis_client.scan_iter(match="*ratelimit:short:ann")
    deadline = time.monotonic() + 2.0
    while redis_client.exists(key):
        assert time.monotonic() < deadline, "the key outlived its window"
        time.sleep(0.01)


def test_without_a_clock_the_redis_servers_time_is_used(
        redis_limiters: Callable[..., RedisFailureLimiter]) -> None:
    limiter = redis_limiters(max_failures=2)
    limiter.record_failure("ann")
    limiter.record_failure("ann")
    assert WINDOW - 5 < limiter.retry_after("ann") <= WINDOW

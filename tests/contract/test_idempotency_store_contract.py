"""The Idempotency-Key store contract (what `IdempotencyMiddleware` relies on), run against
every implementation: the SQLite file of the embedded profile (and of a cluster without
Redis) and the cluster profile's Redis store. "Two stores" stand for two processes: each
has its own connections to the same file or server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from photoshare.infra.http.idempotency import (
    Completed,
    IdempotencyStore,
    InFlight,
    Reserved,
    StoredAnswer,
)
from photoshare.infra.sqlite.idempotency import SqliteIdempotencyStore
from photoshare.infra.redis.idempotency import RedisIdempotencyStore

DAY = 24 * 3600.0
MakeStore = Callable[..., IdempotencyStore]

ANSWER = StoredAnswer(201, (("content-type", "application/json"),
                            ("x-event-position", "42")),
                      b'{"comment_id": "c-1"}\n\x00\xff binary and newlines survive')


@pytest.fixture
def sqlite_stores(tmp_path: Path) -> Iterator[MakeStore]:
    made: list[IdempotencyStore] = []

    def make(*, ttl_seconds: float = DAY, lock_seconds: float = 60.0) -> IdempotencyStore:
        made.append(SqliteIdempotencyStore(tmp_path / "data" / "idempotency.sqlite3",
                                           ttl_seconds=ttl_seconds,
                                           lock_seconds=lock_seconds))
        return made[-1]

    yield make
    for store in made:
        store.close()


@pytest.fixture
def redis_stores(redis_url: str, redis_client: redis.Redis) -> Iterator[MakeStore]:
    """Redis stores under a prefix of this test's own; its keys are deleted after."""
    prefix = f"photoshare-test-{uuid4().hex}:"
    made: list[IdempotencyStore] = []

    def make(*, ttl_seconds: float = DAY, lock_seconds: float = 60.0) -> IdempotencyStore:
        made.append(RedisIdempotencyStore(redis_url, prefix=prefix, ttl_seconds=ttl_seconds,
                                          lock_seconds=lock_seconds))
        return made[-1]

    yield make
    for store in made:
        store.close()
    leftovers = list(redis_client.scan_iter(match=f"{prefix}*"))
    if leftovers:
        redis_client.delete(*leftovers)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.cluster)])
def make_store(request: pytest.FixtureRequest) -> MakeStore:
    return request.getfixturevalue(f"{request.param}_stores")


def reserved(found: object) -> Reserved:
    assert isinstance(found, Reserved), found
    return found


def eventually(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


# --- the contract ----------------------------------------------------------------------


def test_a_free_key_is_reserved_and_then_in_flight(make_store: MakeStore) -> None:
    store = make_store()
    reservation = reserved(store.reserve("k", "fp-1"))
    assert reservation.fingerprint == "fp-1"
    assert store.reserve("k", "fp-1") == InFlight("fp-1")
    assert store.reserve("k", "fp-other") == InFlight("fp-1")  # the holder's fingerprint


def test_a_completed_key_gives_its_answer_back(make_store: MakeStore) -> None:
    store = make_store()
    reservation = reserved(store.reserve("k", "fp-1"))
    assert store.complete("k", reservation, ANSWER)
    assert store.reserve("k", "fp-1") == Completed("fp-1", ANSWER)
    assert store.reserve("k", "fp-2") == Completed("fp-1", ANSWER)  # the caller compares


def test_another_store_on_the_same_backing_sees_the_answer(make_store: MakeStore) -> None:
    api_1, api_2 = make_store(), make_store()
    reservation = reserved(api_1.reserve("k", "fp-1"))
    assert api_2.reserve("k", "fp-1") == InFlight("fp-1")
    api_1.complete("k", reservation, ANSWER)
    assert api_2.reserve("k", "fp-1") == Completed("fp-1", ANSWER)


def test_a_released_key_is_free_again(make_store: MakeStore) -> None:
    store = make_store()
    first = reserved(store.reserve("k", "fp-1"))
    store.release("k", first)
    second = reserved(store.reserve("k", "fp-2"))
    assert second.token != first.token
    assert not store.complete("k", first, ANSWER)  # the first holder lost it
    assert store.reserve("k", "fp-2") == InFlight("fp-2")


def test_only_the_holder_can_complete_or_release(make_store: MakeStore) -> None:
    store = make_store()
    holder = reserved(store.reserve("k", "fp-1"))
    impostor = Reserved("not-the-token", "fp-1")
    assert not store.complete("k", impostor, ANSWER)
    store.release("k", impostor)
    assert store.reserve("k", "fp-1") == InFlight("fp-1")
    assert store.complete("k", holder, ANSWER)
    store.release("k", holder)  # too late: an answer is never released
    assert store.reserve("k", "fp-1") == Completed("fp-1", ANSWER)


def test_keys_are_independent(make_store: MakeStore) -> None:
    store = make_store()
    reservation = reserved(store.reserve("a", "fp-1"))
    store.complete("a", reservation, ANSWER)
    reserved(store.reserve("b", "fp-1"))


def test_an_answer_expires_after_its_ttl(make_store: MakeStore) -> None:
    store = make_store(ttl_seconds=0.3)
    reservation = reserved(store.reserve("k", "fp-1"))
    store.complete("k", reservation, ANSWER)
    assert isinstance(store.reserve("k", "fp-1"), Completed)
    eventually(lambda: isinstance(store.reserve("k", "fp-2"), Reserved))


def test_a_reservation_left_behind_frees_itself(make_store: MakeStore) -> None:
    """A request whose process died: its key is in flight for `lock_seconds` only."""
    store = make_store(lock_seconds=0.3)
    crashed = reserved(store.reserve("k", "fp-1"))
    assert store.reserve("k", "fp-1") == InFlight("fp-1")
    eventually(lambda: isinstance(store.reserve("k", "fp-1"), Reserved))
    assert not store.complete("k", crashed, ANSWER)


def test_an_answer_outlives_the_lock(make_store: MakeStore) -> None:
    store = make_store(lock_seconds=0.2)
    reservation = reserved(store.reserve("k", "fp-1"))
    store.complete("k", reservation, ANSWER)
    time.sleep(0.4)
    assert store.reserve("k", "fp-1") == Completed("fp-1", ANSWER)


def test_of_concurrent_reservations_exactly_one_wins(make_store: MakeStore) -> None:
    threads = 8
    stores = [make_store() for _ in range(threads)]  # one per "process"
    start = threading.Barrier(threads)
    found: list[object] = [None] * threads

    def reserve(index: int) -> None:
        start.wait()
        found[index] = stores[index].reserve("k", "fp-1")

    workers = [threading.Thread(target=reserve, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(isinstance(f, Reserved) for f in found) == 1
    assert sum(f == InFlight("fp-1") for f in found) == threads - 1


# --- each implementation -----------------------------------------------------------------


def test_the_sqlite_file_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "idempotency.sqlite3"
    before = SqliteIdempotencyStore(path, ttl_seconds=DAY, lock_seconds=60)
    reservation = reserved(before.reserve("k", "fp-1"))
    before.complete("k", reservation, ANSWER)
    before.close()
    assert path.stat().st_mode & 0o777 == 0o600
    after = SqliteIdempotencyStore(path, ttl_seconds=DAY, lock_seconds=60)
    try:
        assert after.reserve("k", "fp-1") == Completed("fp-1", ANSWER)
    finally:
        after.close()


@pytest.mark.cluster
def test_redis_keys_live_under_the_prefix_with_a_ttl(redis_url: str,
                                                     redis_client: redis.Redis) -> None:
    prefix = f"photoshare-test-{uuid4().hex}:"
    store = RedisIdempotencyStore(redis_url, prefix=prefix, ttl_seconds=DAY, lock_seconds=60)
    try:
        reservation = reserved(store.reserve("k", "fp-1"))
        assert 0 < redis_client.pttl(f"{prefix}idempotency:k") <= 60_000
        store.complete("k", reservation, ANSWER)
        assert 60_000 < redis_client.pttl(f"{prefix}idempotency:k") <= DAY * 1000
    finally:
        store.close()
        redis_client.delete(f"{prefix}idempotency:k")

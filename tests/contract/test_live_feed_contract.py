"""The live feed contract (what SSE streams rely on), run against every implementation:
the in-process `LiveBroadcaster` and the cluster profile's `RedisLiveFeed`.

A subscription counts once `subscriber_count` says so; from then on it receives its own
user's notices, in the order published, until its consumer stops iterating.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis

from photoshare.infra.redis.live_feed import RedisLiveFeed
from photoshare.streams.live import LiveBroadcaster
from photoshare.streams.runner import Notice

pytestmark = [pytest.mark.cluster, pytest.mark.anyio]

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 5.0

Feed = LiveBroadcaster | RedisLiveFeed


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def prefix() -> str:
    return f"photoshare-test-{uuid4().hex}:"


@asynccontextmanager
async def open_redis_feed(url: str, client: redis.Redis,
                          prefix: str) -> AsyncIterator[RedisLiveFeed]:
    live = RedisLiveFeed(url, prefix=prefix)
    try:
        yield live
    finally:
        await live.aclose()
    # Every subscription the test made is gone from the server too, not just counted out.
    await until(lambda: not client.pubsub_channels(f"{prefix}*"),
                "subscriptions left on the Redis server")


@pytest.fixture(params=["in-process", "redis"])
async def feed(request: pytest.FixtureRequest, anyio_backend: str,
               prefix: str) -> AsyncIterator[Feed]:
    if request.param == "in-process":
        broadcaster = LiveBroadcaster()
        broadcaster.bind(asyncio.get_running_loop())
        yield broadcaster
        return
    async with open_redis_feed(request.getfixturevalue("redis_url"),
                               request.getfixturevalue("redis_client"), prefix) as live:
        yield live


@pytest.fixture
async def redis_feed(anyio_backend: str, redis_url: str, redis_client: redis.Redis,
                     prefix: str) -> AsyncIterator[RedisLiveFeed]:
    async with open_redis_feed(redis_url, redis_client, prefix) as live:
        yield live


@pytest.fixture
async def listen(anyio_backend: str) -> AsyncIterator[Callable[..., Listener]]:
    """Start a listener; whatever a test leaves running is stopped afterwards (before
    its feed is checked for leftovers: list this fixture after the feed)."""
    started: list[Listener] = []

    def start(feed: Feed, user_id: str, *, reads: int | None = None) -> Listener:
        started.append(Listener(feed, user_id, reads=reads))
        return started[-1]

    yield start
    for listener in started:
        await listener.stop()


class Listener:
    """One subscription, consumed on a task of its own the way an SSE stream does;
    with `reads`, the consumer leaves its loop after that many notices."""

    def __init__(self, feed: Feed, user_id: str, *, reads: int | None = None) -> None:
        self.subscription = feed.subscribe(user_id)
        self.reads = reads
        self.received: list[Notice] = []
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for notice in self.subscription:
            self.received.append(notice)
            if len(self.received) == self.reads:
                break

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.wait([self.task])


async def until(condition: Callable[[], object], failure: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{failure} (after {WAIT_SECONDS} s)")
        await asyncio.sleep(0.005)


async def subscribed(feed: Feed, user_id: str, count: int = 1) -> None:
    await until(lambda: feed.subscriber_count(user_id) == count,
                f"{user_id} never had {count} subscriber(s)")


async def received(listener: Listener, count: int) -> list[Notice]:
    await until(lambda: len(listener.received) >= count,
                f"received {listener.received} while waiting for {count} notices")
    return listener.received


def notice(user_id: str, number: int, kind: str = "timeline") -> Notice:
    return Notice(user_id=user_id, kind=kind, data={"photo_id": f"photo-{number}",
                                                    "position": number})


def publish_from_a_thread(feed: Feed, notices: list[Notice]) -> object:
    # Projections publish from worker threads, never from the event loop.
    return asyncio.to_thread(feed.publish, notices)


# --- the contract ----------------------------------------------------------------------


async def test_a_subscriber_gets_its_users_notices_published_after_it_subscribed_in_order(
        feed: Feed, listen: Callable[..., Listener]) -> None:
    ann, bob = f"ann-{uuid4().hex}", f"bob-{uuid4().hex}"
    await publish_from_a_thread(feed, [notice(ann, 0)])  # before anyone listens: missed
    listener = listen(feed, ann)
    await subscribed(feed, ann)
    await publish_from_a_thread(feed, [notice(ann, 1), notice(bob, 2), notice(ann, 3)])
    await publish_from_a_thread(feed, [notice(ann, 4, kind="notification")])
    # Bob's notice came second: had it been delivered to Ann, it would show here.
    assert (await received(listener, 3))[:3] == [notice(ann, 1), notice(ann, 3),
                                                 notice(ann, 4, kind="notification")]


async def test_every_subscriber_of_a_user_gets_each_notice(
        feed: Feed, listen: Callable[..., Listener]) -> None:
    ann = f"ann-{uuid4().hex}"
    phone, laptop = listen(feed, ann), listen(feed, ann)
    await subscribed(feed, ann, count=2)
    await publish_from_a_thread(feed, [notice(ann, 1), notice(ann, 2)])
    assert (await received(phone, 2))[:2] == [notice(ann, 1), notice(ann, 2)]
    assert (await received(laptop, 2))[:2] == [notice(ann, 1), notice(ann, 2)]


async def test_a_posts_notices_to_many_users_reach_each_subscriber_once_in_order(
        feed: Feed, listen: Callable[..., Listener]) -> None:
    """A post's fan-out: 2,500 followers' notices sharing one `data` (the Redis feed
    sends such a run as one message to many channels, a thousand at a time), between
    other notices of the same users."""
    tag = uuid4().hex[:8]
    followers = [f"follower-{n:04d}-{tag}" for n in range(2500)]
    watched = [followers[0], followers[999], followers[1000], followers[-1]]
    listeners = {user: listen(feed, user) for user in watched}
    for user in watched:
        await subscribed(feed, user)
    post = {"photo_id": "photo-7", "owner_id": "owner", "position": 7}
    notices = [notice(followers[1000], 6, kind="notification"),
               *(Notice(user_id=user, kind="timeline", data=post) for user in followers),
               notice(followers[1000], 8, kind="notification"),
               Notice(user_id=followers[0], kind="timeline", data=post)]
    await publish_from_a_thread(feed, notices)
    want = {user: [n for n in notices if n.user_id == user] for user in watched}
    for user, listener in listeners.items():
        assert (await received(listener, len(want[user])))[:len(want[user])] == want[user]
    await asyncio.sleep(0.2)  # nothing more arrives (no notice twice)
    assert {user: len(listener.received) for user, listener in listeners.items()} == \
        {user: len(want[user]) for user in watched}


async def _cancel_the_read(listener: Listener) -> None:
    # How the SSE route stops: it cancels the task awaiting the next notice.
    listener.task.cancel()
    await asyncio.wait([listener.task])


async def _close_between_reads(listener: Listener) -> None:
    await asyncio.wait([listener.task])  # it took one notice and left the loop
    await listener.subscription.aclose()


async def _forget_between_reads(listener: Listener) -> None:
    # Left the loop and dropped the iterator: the event loop's async-generator
    # finaliser closes the subscription.
    await asyncio.wait([listener.task])
    del listener.subscription


@pytest.mark.parametrize(("stop", "reads"), [(_cancel_the_read, None),
                                             (_close_between_reads, 1),
                                             (_forget_between_reads, 1)])
async def test_a_consumer_that_stops_iterating_is_unsubscribed(
        feed: Feed, listen: Callable[..., Listener], stop: Callable[[Listener], Any],
        reads: int | None) -> None:
    ann = f"ann-{uuid4().hex}"
    leaving, staying = listen(feed, ann, reads=reads), listen(feed, ann)
    await subscribed(feed, ann, count=2)
    await publish_from_a_thread(feed, [notice(ann, 1)])
    await received(leaving, 1)
    await stop(leaving)
    await subscribed(feed, ann, count=1)
    await publish_from_a_thread(feed, [notice(ann, 2)])
    assert (await received(staying, 2))[:2] == [notice(ann, 1), notice(ann, 2)]
    assert leaving.received == [notice(ann, 1)]
    await staying.stop()
    await subscribed(feed, ann, count=0)


# --- Redis only: across processes and failures ------------------------------------------


PUBLISHER = """
import sys
from photoshare.infra.redis.live_feed import RedisLiveFeed
from photoshare.streams.runner import Notice
url, prefix, user_id = sys.argv[1:]
feed = RedisLiveFeed(url, prefix=prefix)
feed.publish([Notice(user_id, "notification", {"notification_id": "n-1", "position": 7})])
feed.close()
"""


async def test_a_notice_published_by_another_process_reaches_the_subscriber(
        redis_feed: RedisLiveFeed, listen: Callable[..., Listener],
        prefix: str, redis_url: str) -> None:
    ann = f"ann-{uuid4().hex}"
    listener = listen(redis_feed, ann)
    await subscribed(redis_feed, ann)
    worker = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", PUBLISHER, redis_url, prefix, ann],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr
    assert await received(listener, 1) == [
        Notice(ann, "notification", {"notification_id": "n-1", "position": 7})]


async def test_a_stray_message_on_the_channel_is_skipped_not_fatal(
        redis_feed: RedisLiveFeed, listen: Callable[..., Listener],
        redis_client: redis.Redis) -> None:
    ann = f"ann-{uuid4().hex}"
    listener = listen(redis_feed, ann)
    await subscribed(redis_feed, ann)
    for stray in (b"not json", b'{"kind": "timeline"}', b'{"kind": 1, "data": {}}'):
        redis_client.publish(redis_feed.channel(ann), stray)
    await publish_from_a_thread(redis_feed, [notice(ann, 1)])
    assert await received(listener, 1) == [notice(ann, 1)]
    assert not listener.task.done()


async def test_a_dropped_connection_ends_the_subscription_with_the_error(
        redis_feed: RedisLiveFeed, listen: Callable[..., Listener],
        redis_client: redis.Redis, prefix: str) -> None:
    ann = f"ann-{uuid4().hex}"
    listener = listen(redis_feed, ann)
    await subscribed(redis_feed, ann)
    ours = [c for c in redis_client.client_list(_type="pubsub")
            if c["name"] == f"{prefix}live"]
    assert len(ours) == 1
    redis_client.client_kill_filter(_id=ours[0]["id"])
    # Not silently resumed after a gap: the SSE stream ends, and its client re-reads.
    with pytest.raises(redis.ConnectionError):
        await asyncio.wait_for(listener.task, WAIT_SECONDS)
    assert redis_feed.subscriber_count(ann) == 0


async def test_closing_the_feed_ends_its_subscriptions(
        redis_feed: RedisLiveFeed, listen: Callable[..., Listener]) -> None:
    ann = f"ann-{uuid4().hex}"
    listener = listen(redis_feed, ann)
    await subscribed(redis_feed, ann)
    await redis_feed.aclose()
    await asyncio.wait_for(listener.task, WAIT_SECONDS)  # the iteration ended, no error
    assert redis_feed.subscriber_count(ann) == 0


async def test_publishing_without_redis_loses_the_notices_but_does_not_raise(
        caplog: pytest.LogCaptureFixture, prefix: str) -> None:
    unreachable = RedisLiveFeed("redis://127.0.0.1:1/0", prefix=prefix, timeout_seconds=0.5)
    with caplog.at_level(logging.WARNING, logger="photoshare.live"):
        await publish_from_a_thread(unreachable, [notice("ann", 1)])
    assert "live notices lost" in caplog.text
    unreachable.close()

"""A post's fan-out into the Redis heads (`CassandraTimelineStore.fan_out`), on the real
Cassandra and Redis: the followers read a page at a time while the heads of the page
before are written, every page reached; only heads that exist and still follow the
owner get the post; a head is trimmed to the cap when the post made it longer."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
import redis
from photoshare.infra.cassandra.timelines import (
    SENTINEL,
    CassandraTimelineStore,
    TimelineTables,
    entry_of,
)
from photoshare.infra.redis.counters import RedisCounters
from photoshare.projections.timelines import TimelineEntry
from photoshare.streams.delivery import Delivery

pytestmark = pytest.mark.cluster

CAP = 3


def test_a_post_reaches_every_page_of_followers_and_only_heads_that_follow(
        session: Any, client: redis.Redis) -> None:
    prefix = f"photoshare-test-{uuid4().hex[:8]}:"
    tables = TimelineTables(session, client, prefix)
    tables.followers.fetch_size = 5  # 12 followers: three pages
    delivery = Delivery()
    outbox: list[Any] = []
    store = CassandraTimelineStore(tables, RedisCounters(client, prefix, delivery), delivery,
                                   outbox)
    owner = f"owner-{uuid4().hex[:8]}"
    followers = [f"{owner}-follower-{n:02d}" for n in range(12)]
    without_head, unfollowed, full = followers[3], followers[7], followers[11]
    try:
        for user in followers:
            session.execute(tables.put_follower, (owner, user, 1))
            if user != without_head:
                client.zadd(tables.head(user), {SENTINEL: 0})
            # The follow register: an unfollow that raced with the post (the fan-out
            # list read just before it) has moved it to a negative position.
            tables.set_register(user, owner, 5 if user == unfollowed else 1,
                                followed=user != unfollowed)
        client.zadd(tables.head(full), {f"other/old-{n}": n + 1 for n in range(CAP)})

        delivery.at("t:0", 10)
        post = TimelineEntry(photo_id="photo-10", owner_id=owner, position=10)
        store.fan_out(post, CAP)

        def head(user: str) -> list[TimelineEntry]:
            return [entry_of(member, score) for member, score
                    in client.zrevrange(tables.head(user), 0, -1, withscores=True)
                    if member != SENTINEL.encode()]

        for user in followers:
            if user in (without_head, unfollowed):
                assert head(user) == [], user
            elif user == full:
                # Trimmed to the cap: the post, then the newest of the old ones.
                assert [e.photo_id for e in head(user)] == ["photo-10", "old-2", "old-1"]
            else:
                assert head(user) == [post], user
        assert not client.exists(tables.head(without_head))  # no head is made by a post
        # Every follower is told (the live notices; the read API filters what it shows).
        assert sorted(notice.user_id for notice in outbox) == followers
        # Delivered again (a replay), nothing changes and nothing is trimmed further.
        store.fan_out(post, CAP)
        assert [e.photo_id for e in head(full)] == ["photo-10", "old-2", "old-1"]
        assert head(followers[0]) == [post]
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)

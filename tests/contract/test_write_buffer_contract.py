"""The cluster worker's per-batch write buffer (infra/cassandra/write_buffer.py), on the
session's real Cassandra and Redis: staged writes are durable before the checkpoints
move and never after a crash that stopped the batch; a store's reads within a batch see
what the batch staged; the second phase waits for the first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
import redis
from photoshare.events import Envelope, UserFollowed, UserRegistered, UserUnfollowed
from photoshare.infra.cassandra.checkpoints import CassandraCheckpoints
from photoshare.infra.cassandra.graph import CassandraGraphQueries, CassandraGraphStore
from photoshare.infra.cassandra.schema import keyspace_of
from photoshare.infra.cassandra.write_buffer import WriteBuffer
from photoshare.infra.redis.counters import RedisCounters
from photoshare.infra.roots.view_stores import (
    ClusterCheckpoints,
    cluster_bindings,
    cluster_queries,
)
from photoshare.infra.settings import Settings
from photoshare.streams.delivery import Delivery
from photoshare.streams.partitioned import ClusterApplier
from support.histories import envelopes, uid

pytestmark = pytest.mark.cluster


class Crash(Exception):
    pass


class Worker:
    """A worker's applier on every cluster store but search, with a write buffer and a
    crash point just before the buffer's flush (armed by `crash_before_flush`)."""

    def __init__(self, session: Any, client: redis.Redis) -> None:
        self.settings = Settings(timeline_cap=3, celebrity_threshold=2,
                                 redis_prefix=f"photoshare-test-{uuid4().hex[:8]}:")
        self.client = client
        delivery = Delivery()
        counters = RedisCounters(client, self.settings.redis_prefix, delivery)
        self.buffer = WriteBuffer(session)
        bindings = cluster_bindings(session, client, self.settings, delivery, counters, None,
                                    self.buffer)
        self.crash_before_flush = False
        self.checkpoints = ClusterCheckpoints(
            counters, CassandraCheckpoints(session, scope=self.settings.redis_prefix))
        self.applier = ClusterApplier(self.checkpoints, bindings, delivery,
                                      flushes=[self._maybe_crash, self.buffer.flush],
                                      discards=[self.buffer.discard, counters.discard])
        self.queries = cluster_queries(session, client, self.settings, None)

    def _maybe_crash(self) -> None:
        if self.crash_before_flush:
            raise Crash("between staging and flush")

    def close(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.settings.redis_prefix}*"))
        if keys:
            self.client.delete(*keys)


def registered(*names: str) -> list[tuple[Any, str]]:
    return [(UserRegistered(user_id=uid("user", n), username=f"{name}-{uuid4().hex[:6]}",
                            display_name=name), uid("user", n))
            for n, name in enumerate(names)]


def fresh(items: list[Envelope]) -> tuple[list[Envelope], str]:
    """The envelopes with a fresh suffix on their user ids (tests share one keyspace)."""
    suffix = f"-{uuid4().hex[:8]}"
    out = []
    for envelope in items:
        data = {key: value + suffix if key.endswith("_id") else value
                for key, value in envelope.data.items()}
        out.append(replace(envelope, data=data))
    return out, suffix


def test_a_crash_between_staging_and_flush_leaves_checkpoints_and_views_unmoved(
        session: Any, client: redis.Redis) -> None:
    worker = Worker(session, client)
    try:
        ann, bob = uid("user", 0), uid("user", 1)
        items, suffix = fresh(envelopes([*registered("ann", "bob"),
                                         (UserFollowed(follower_id=ann, followee_id=bob), ann)]))
        ann, bob = ann + suffix, bob + suffix
        worker.applier.apply([("t:0", envelope) for envelope in items[:2]])
        before = worker.checkpoints.load()
        worker.crash_before_flush = True
        with pytest.raises(Crash):
            worker.applier.apply([("t:0", items[2])])
        # Nothing the follow staged reached Cassandra, nothing was checkpointed, and
        # the buffer forgot the batch (a later flush must not write it either).
        assert worker.checkpoints.load() == before
        assert worker.buffer.pending() == 0
        assert worker.queries.graph.followers(bob, None, 10) == []
        assert not worker.queries.graph.follows(ann, bob)
        # Kafka delivers the batch again: applied in full, then checkpointed.
        worker.crash_before_flush = False
        assert worker.applier.apply([("t:0", items[2])]) == 1
        assert worker.checkpoints.load()["t:0"] == items[2].position
        assert [edge.user_id for edge in worker.queries.graph.followers(bob, None, 10)] == [ann]
        assert worker.queries.graph.follows(ann, bob)
        assert worker.buffer.flushed_writes > 0
    finally:
        worker.close()


def test_events_of_one_batch_see_what_earlier_ones_staged(
        session: Any, client: redis.Redis) -> None:
    """Follow, unfollow and follow again of one pair, and a second follower, in one
    batch: each step reads the pair's edge, timeline row and notification staged by the
    step before (from Cassandra, all three would find the pair never followed, and the
    last follow would leave the first's list rows behind)."""
    worker = Worker(session, client)
    try:
        ann, bob, cy = (uid("user", n) for n in range(3))
        items, suffix = fresh(envelopes([
            *registered("ann", "bob", "cy"),
            (UserFollowed(follower_id=ann, followee_id=bob), ann),
            (UserUnfollowed(follower_id=ann, followee_id=bob), ann),
            (UserFollowed(follower_id=ann, followee_id=bob), ann),
            (UserFollowed(follower_id=cy, followee_id=bob), cy)]))
        ann, bob, cy = ann + suffix, bob + suffix, cy + suffix
        worker.applier.apply([("t:0", envelope) for envelope in items])
        followers = worker.queries.graph.followers(bob, None, 10)
        assert [(edge.user_id, edge.position) for edge in followers] == \
            [(cy, items[6].position), (ann, items[5].position)]
        assert [edge.user_id for edge in worker.queries.graph.following(ann, None, 10)] == [bob]
        profile = worker.queries.profiles.many([bob])[bob]
        assert profile is not None and profile.followers == 2
        # The notifications' id rows are staged too: the unfollow hides the first
        # follow's, and the follow again is notified anew.
        notified = worker.queries.notifications.for_user(bob, None, 10)
        assert [(n.actor_id, n.position) for n in notified] == \
            [(cy, items[6].position), (ann, items[5].position)]
        follow_id = notified[1].notification_id
        assert worker.queries.notifications.by_id(bob, follow_id) == notified[1]
    finally:
        worker.close()


def test_the_second_phase_waits_for_the_first(session: Any) -> None:
    """A write staged `last` is not sent when the first phase fails: the graph drops an
    unfollowed pair's edge last, since a replay needs it to find the rows to unlink."""
    ks = keyspace_of(session)
    follower, followee = f"f-{uuid4().hex[:8]}", f"g-{uuid4().hex[:8]}"
    CassandraGraphStore(session).follow(follower, followee, 3)  # durable, no buffer
    buffer = WriteBuffer(session)
    store = CassandraGraphStore(session, buffer)
    store.unfollow(follower, followee, 5)
    assert buffer.recall(("follow_edges", follower, followee), "nothing") is None
    failing = session.prepare(f"INSERT INTO {ks}.follow_edges (follower_id, followee_id, "
                              "position) VALUES (?, ?, ?) USING TTL ?")
    buffer.stage([(failing, ("x", "y", 1, -1))])  # a negative TTL: the server refuses it
    with pytest.raises(Exception, match="(?i)ttl"):
        buffer.flush()
    queries = CassandraGraphQueries(session)
    assert queries.follows(follower, followee)  # the edge's drop was never sent
    # Applied again, the unfollow finds the edge and completes.
    store = CassandraGraphStore(session, WriteBuffer(session))
    store.unfollow(follower, followee, 5)
    store.buffer.flush()  # type: ignore[union-attr]
    assert not queries.follows(follower, followee)
    assert queries.followers(followee, None, 10) == []
    assert queries.following(follower, None, 10) == []


def test_staged_writes_are_grouped_into_fewer_requests(session: Any) -> None:
    buffer = WriteBuffer(session)
    store = CassandraGraphStore(session, buffer)
    followee = f"star-{uuid4().hex[:8]}"
    followers = [f"fan-{n}-{uuid4().hex[:6]}" for n in range(40)]
    for position, follower in enumerate(followers, start=100):
        store.follow(follower, followee, position)
    staged = buffer.pending()
    # Per follow: its two list rows, the follower's bucket mark and the edge; the
    # followee's bucket mark once for all of them.
    assert staged == 40 * 4 + 1
    buffer.flush()
    assert buffer.flushed_writes == staged
    assert buffer.flushed_requests <= staged // 8
    queries = CassandraGraphQueries(session)
    assert sorted(edge.user_id for edge in queries.followers(followee, None, 100)) == \
        sorted(followers)

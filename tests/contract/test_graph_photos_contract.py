"""Contract of the graph and photos views, run against every backend that can start here.

Events go through the real projections into each backend's stores, and the query ports
must answer alike: SQLite (a temporary view database) and Cassandra (the session's real
server, tests/support/engines.py, in a keyspace `photoshare_test_<random>` dropped
afterwards).

In the cluster profile events arrive through Kafka: at least once, in order per
aggregate, in any order across aggregates. Every backend must converge to the views of
the log applied once, in order, under that delivery too.
"""

from __future__ import annotations

import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from photoshare.events import (
    CommentAdded,
    CommentDeleted,
    Envelope,
    Event,
    PhotoAltTextChanged,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    event_from_data,
)
from photoshare.infra.cassandra.graph import CassandraGraphQueries, CassandraGraphStore
from photoshare.infra.cassandra.photos import CassandraPhotoQueries, CassandraPhotoStore
from photoshare.infra.cassandra.schema import BUCKET_SPAN, connect, create_schema
from photoshare.infra.redis.counters import RedisCounters
from photoshare.infra.sqlite import graph as sqlite_graph
from photoshare.infra.sqlite import photos as sqlite_photos
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.graph import Edge, GraphProjection, GraphQueries, GraphStore
from photoshare.projections.photos import (
    CommentRecord,
    LikeRecord,
    PhotoQueries,
    PhotoRecord,
    PhotosProjection,
    PhotoStore,
)
from photoshare.streams.delivery import Delivery
from support.histories import START, envelopes, histories
from support.logged import (
    PLACEHOLDER,
    SIZES,
    at,
    comment,
    delete,
    describe,
    follow,
    like,
    new_id,
    post,
    uncomment,
    unfollow,
    unlike,
)
from support.views import contract_views, fresh_keyspace

pytestmark = pytest.mark.cluster

SQLITE = pytest.param("sqlite", id="sqlite")
CASSANDRA = pytest.param("cassandra", id="cassandra")


GRAPH = GraphProjection()
PHOTOS = PhotosProjection()


# --- the backends -----------------------------------------------------------------------


class Views(ABC):
    """One backend's graph and photos views, fed through the real projections."""

    graph: GraphQueries
    photos: PhotoQueries

    @abstractmethod
    def _stores(self) -> AbstractContextManager[tuple[GraphStore, PhotoStore]]: ...

    delivery = Delivery()  # the event being applied, for stores that read it

    def deliver(self, *items: Envelope) -> None:
        """Apply `items` in the order given, as a consumer would receive them."""
        with self._stores() as (graph, photos):
            for envelope in items:
                partition = self.partition_of(envelope)
                self.delivery.at(partition, envelope.position)
                event = event_from_data(envelope.event_type, envelope.schema_version,
                                        envelope.data)
                GRAPH.apply(event, envelope, graph)
                PHOTOS.apply(event, envelope, photos)
                self.applied(partition, envelope.position)

    def partition_of(self, envelope: Envelope) -> str:
        return "topic:0"

    def applied(self, partition: str, position: int) -> None:
        """After each event: a store that saves per batch saves a batch of one."""

    def close(self) -> None:
        pass


class SqliteViews(Views):
    def __init__(self, path: Path) -> None:
        self.db = ViewDatabase(path, [sqlite_graph.SCHEMA, sqlite_photos.SCHEMA])
        self.graph = sqlite_graph.SqliteGraphQueries(self.db.reader())
        self.photos = sqlite_photos.SqlitePhotoQueries(self.db.reader())

    @contextmanager
    def _stores(self) -> Iterator[tuple[GraphStore, PhotoStore]]:
        with self.db.transaction() as connection:
            yield (sqlite_graph.SqliteGraphStore(connection),
                   sqlite_photos.SqlitePhotoStore(connection))

    def close(self) -> None:
        self.db.close()


class CassandraViews(Views):
    """Cassandra's stores, with the like and comment counters in Redis, saved (with their
    checkpoints) after each event, as a worker does at the end of a batch."""

    def __init__(self, session: Any, client: redis.Redis) -> None:
        self.delivery = Delivery()
        self.counters = RedisCounters(client, f"photoshare_test_{uuid4().hex[:8]}:",
                                      self.delivery)
        self.stores = (CassandraGraphStore(session),
                       CassandraPhotoStore(session, self.delivery, self.counters))
        self.graph = CassandraGraphQueries(session)
        self.photos = CassandraPhotoQueries(
            session, RedisCounters(client, self.counters.prefix, Delivery()))

    def partition_of(self, envelope: Envelope) -> str:
        # The counters skip an event at or below its partition's checkpoint. The tests
        # here reuse positions from 1 and deliver aggregates in any order, so each
        # event's own content (its ids are fresh) is its partition: a redelivery (or an
        # older event of the same content, a like before a like again) is skipped, as
        # Kafka's in-order partitions would have it.
        content = json.dumps([envelope.event_type, envelope.data], sort_keys=True)
        return "contract:" + hashlib.sha1(content.encode()).hexdigest()

    def applied(self, partition: str, position: int) -> None:
        self.counters.save({partition: position})

    @contextmanager
    def _stores(self) -> Iterator[tuple[GraphStore, PhotoStore]]:
        yield self.stores


@pytest.fixture(scope="module")
def cassandra_views(cassandra_hosts: str, redis_url: str) -> Iterator[CassandraViews]:
    """Views on a test keyspace and Redis prefix. Tests never collide in them: their ids
    are fresh UUIDs."""
    client = redis.Redis.from_url(redis_url)
    with fresh_keyspace(cassandra_hosts) as session:
        views = CassandraViews(session, client)
        yield views
    for key in client.scan_iter(match=f"{views.counters.prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=[SQLITE, CASSANDRA])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_views(backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], Views]]:
    """Builds empty views on `backend` (see `contract_views`)."""
    yield from contract_views(backend, request, SqliteViews)


@pytest.fixture
def views(make_views: Callable[[], Views]) -> Views:
    return make_views()


# --- building events --------------------------------------------------------------------


def newest_first_walk(page: Callable[[int | None, int], list[Any]], size: int = 2) -> list[Any]:
    """Every item of a newest-first list, read `size` at a time with `before`."""
    items: list[Any] = []
    before = None
    while True:
        got = page(before, size)
        items += got
        if len(got) < size:
            return items
        before = got[-1].position


def oldest_first_walk(page: Callable[[int | None, int], list[Any]], size: int = 2) -> list[Any]:
    items: list[Any] = []
    after = None
    while True:
        got = page(after, size)
        items += got
        if len(got) < size:
            return items
        after = got[-1].position


# --- the social graph -------------------------------------------------------------------


def test_a_follow_shows_at_both_ends(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)), at(2, follow(cy, bob)), at(3, follow(ann, cy)))

    assert views.graph.followers(bob, None, 10) == [Edge(cy, 2), Edge(ann, 1)]
    assert views.graph.following(ann, None, 10) == [Edge(cy, 3), Edge(bob, 1)]
    assert views.graph.followers(ann, None, 10) == []
    assert views.graph.following(bob, None, 10) == []


def test_follows_says_whether_one_follows_another_now(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)), at(2, follow(cy, bob)), at(3, unfollow(cy, bob)))
    assert views.graph.follows(ann, bob)
    assert not views.graph.follows(bob, ann)
    assert not views.graph.follows(cy, bob)
    views.deliver(at(4, follow(cy, bob)), at(2, follow(cy, bob)))
    assert views.graph.follows(cy, bob)


def test_pages_are_newest_first_below_before(views: Views) -> None:
    star = new_id()
    fans = [new_id() for _ in range(5)]
    views.deliver(*(at(10 + i, follow(fan, star)) for i, fan in enumerate(fans)))

    assert views.graph.followers(star, None, 2) == [Edge(fans[4], 14), Edge(fans[3], 13)]
    assert views.graph.followers(star, 13, 2) == [Edge(fans[2], 12), Edge(fans[1], 11)]
    assert views.graph.followers(star, 11, 2) == [Edge(fans[0], 10)]
    assert views.graph.followers(star, 10, 2) == []
    assert views.graph.followers(star, None, 0) == []


def test_pages_run_across_position_buckets(views: Views) -> None:
    """Busy stretches (many follows close together) and quiet ones (one follow in a
    long while) page the same way: Cassandra stores them in different partitions."""
    star = new_id()
    positions = [3, 4, 5, BUCKET_SPAN + 1, 3 * BUCKET_SPAN, 3 * BUCKET_SPAN + 2,
                 7 * BUCKET_SPAN - 1, 9 * BUCKET_SPAN, 12 * BUCKET_SPAN + 5]
    fans = {position: new_id() for position in positions}
    views.deliver(*(at(position, follow(fan, star)) for position, fan in fans.items()))

    expected = [Edge(fans[p], p) for p in sorted(positions, reverse=True)]
    assert views.graph.followers(star, None, 100) == expected
    for size in (1, 2, 3, 4):
        assert newest_first_walk(
            lambda before, n: views.graph.followers(star, before, n), size) == expected
    assert views.graph.followers(star, 3 * BUCKET_SPAN + 1, 3) == expected[4:7]


def test_an_unfollow_removes_both_ends(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)), at(2, follow(cy, bob)), at(3, unfollow(ann, bob)))

    assert views.graph.followers(bob, None, 10) == [Edge(cy, 2)]
    assert views.graph.following(ann, None, 10) == []


def test_a_refollow_moves_to_its_new_position(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)), at(2, unfollow(ann, bob)),
                  at(3, follow(cy, bob)), at(2 * BUCKET_SPAN, follow(ann, bob)))

    assert views.graph.followers(bob, None, 10) == [Edge(ann, 2 * BUCKET_SPAN), Edge(cy, 3)]
    assert views.graph.following(ann, None, 10) == [Edge(bob, 2 * BUCKET_SPAN)]


def test_an_unfollow_of_a_pair_that_never_followed_changes_nothing(views: Views) -> None:
    ann, bob = new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)), at(2, unfollow(bob, ann)))

    assert views.graph.followers(bob, None, 10) == [Edge(ann, 1)]
    assert views.graph.following(bob, None, 10) == []


def test_follows_answers_for_one_pair_and_one_direction(views: Views) -> None:
    ann, bob = new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)))
    assert views.graph.follows(ann, bob) and not views.graph.follows(bob, ann)
    views.deliver(at(2, unfollow(ann, bob)))
    assert not views.graph.follows(ann, bob)
    views.deliver(at(3, follow(ann, bob)), at(2, unfollow(ann, bob)))  # a stale redelivery
    assert views.graph.follows(ann, bob)


def test_graph_events_delivered_again_change_nothing(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    log = [at(1, follow(ann, bob)), at(2, follow(cy, bob)), at(3, unfollow(ann, bob)),
           at(4, follow(ann, bob)), at(5, follow(bob, cy))]
    views.deliver(*(envelope for envelope in log for _ in range(2)))  # each twice
    views.deliver(*log)  # and the whole log again, as after a consumer restart

    assert views.graph.followers(bob, None, 10) == [Edge(ann, 4), Edge(cy, 2)]
    assert views.graph.following(ann, None, 10) == [Edge(bob, 4)]
    assert views.graph.followers(cy, None, 10) == [Edge(bob, 5)]
    assert views.graph.following(cy, None, 10) == [Edge(bob, 2)]


def test_a_stale_unfollow_after_a_refollow_changes_nothing(views: Views) -> None:
    """Found by the crash test on Cassandra: an unfollow delivered again once the pair
    was followed anew (a worker still applying it while another took the partition
    over) must not remove the newer follow."""
    ann, bob = new_id(), new_id()
    views.deliver(at(1, follow(ann, bob)), at(2, unfollow(ann, bob)), at(3, follow(ann, bob)),
                  at(2, unfollow(ann, bob)))

    assert views.graph.followers(bob, None, 10) == [Edge(ann, 3)]
    assert views.graph.following(ann, None, 10) == [Edge(bob, 3)]


# --- photos -----------------------------------------------------------------------------


def expected_photo(photo_id: str, owner: str, position: int, likes: int = 0,
                   comments: int = 0) -> PhotoRecord:
    return PhotoRecord(
        photo_id=photo_id, owner_id=owner, caption="sun on the #beach", location="Nice",
        hashtags=["beach"], tagged_user_ids=[],
        variants={"large": f"{photo_id}-l.jpg", "small": f"{photo_id}-s.jpg"},
        width=1080, height=720,
        posted_at=(START + timedelta(seconds=position)).isoformat(), position=position,
        likes=likes, comments=comments, variant_sizes=SIZES, placeholder=PLACEHOLDER,
        original_key="o.jpg")


def test_a_posted_photo_has_its_details(views: Views) -> None:
    ann, p1, p2 = new_id(), new_id(), new_id()
    tagged = PhotoPosted(photo_id=p2, owner_id=ann, caption="", location="",
                         hashtags=[], tagged_user_ids=[ann], original_key="o.png",
                         format="png", width=1, height=2, variants={})
    views.deliver(at(1, post(p1, ann)), at(2, tagged))

    assert views.photos.photo(p1) == expected_photo(p1, ann, 1)
    assert views.photos.photo(p2) == PhotoRecord(
        photo_id=p2, owner_id=ann, caption="", location="", hashtags=[],
        tagged_user_ids=[ann], variants={}, width=1, height=2,
        posted_at=(START + timedelta(seconds=2)).isoformat(), position=2,
        original_key="o.png")
    assert views.photos.photo(new_id()) is None
    assert views.photos.many([p1, new_id(), p1]) == {p1: expected_photo(p1, ann, 1)}
    assert views.photos.many([]) == {}


def test_a_users_photos_come_newest_first(views: Views) -> None:
    ann, bob = new_id(), new_id()
    mine = {position: new_id() for position in (1, 3, BUCKET_SPAN + 2, 5 * BUCKET_SPAN)}
    theirs = {position: new_id() for position in (2, 4 * BUCKET_SPAN)}
    views.deliver(*(at(p, post(photo, ann)) for p, photo in mine.items()),
                  *(at(p, post(photo, bob)) for p, photo in theirs.items()))

    newest = [mine[p] for p in sorted(mine, reverse=True)]
    assert [r.photo_id for r in views.photos.by_owner(ann, None, 10)] == newest
    assert [r.photo_id for r in newest_first_walk(
        lambda before, n: views.photos.by_owner(ann, before, n))] == newest
    assert [r.photo_id for r in views.photos.by_owner(ann, BUCKET_SPAN + 2, 10)] == newest[2:]
    both = {**mine, **theirs}
    assert [r.photo_id for r in views.photos.recent_by_owners([ann, bob], None, 4)] == [
        both[p] for p in sorted(both, reverse=True)[:4]]
    assert [r.photo_id for r in views.photos.recent_by_owners([bob, ann], 3, 10)] == [
        both[2], both[1]]
    assert views.photos.recent_by_owners([], None, 10) == []


def test_likes_count_each_user_once(views: Views) -> None:
    ann, bob, cy, p1, p2 = (new_id() for _ in range(5))
    views.deliver(at(1, post(p1, ann)), at(2, post(p2, ann)), at(3, like(p1, ann, bob)),
                  at(4, like(p1, ann, cy)), at(5, like(p2, ann, bob)))

    assert views.photos.photo(p1).likes == 2
    assert views.photos.liked_by(bob, [p1, p2, new_id()]) == {p1, p2}
    assert views.photos.liked_by(cy, [p1, p2]) == {p1}
    assert views.photos.liked_by(ann, [p1, p2]) == set()
    assert views.photos.liked_by(bob, []) == set()

    # Delivered twice (at least once delivery): it counts once. (An unlike of a like
    # never made is no history the write side makes: see PhotoStore.)
    views.deliver(at(6, unlike(p1, ann, bob)), at(6, unlike(p1, ann, bob)))
    assert views.photos.photo(p1).likes == 1
    assert views.photos.photo(p2).likes == 1
    assert views.photos.liked_by(bob, [p1, p2]) == {p2}


def test_comments_come_oldest_first_after_a_position(views: Views) -> None:
    ann, bob, p1 = new_id(), new_id(), new_id()
    ids = {position: new_id() for position in (2, 3, 4, BUCKET_SPAN, 2 * BUCKET_SPAN + 1)}
    views.deliver(at(1, post(p1, ann)),
                  *(at(p, comment(c, p1, ann, bob, text=f"n°{p}")) for p, c in ids.items()))

    listed = views.photos.comments(p1, None, 10)
    assert listed == [CommentRecord(comment_id=c, photo_id=p1, author_id=bob, text=f"n°{p}",
                                    created_at=(START + timedelta(seconds=p)).isoformat(),
                                    position=p) for p, c in ids.items()]
    assert oldest_first_walk(lambda after, n: views.photos.comments(p1, after, n)) == listed
    assert views.photos.comments(p1, 3, 2) == listed[2:4]
    assert views.photos.photo(p1).comments == 5

    views.deliver(at(2 * BUCKET_SPAN + 2, uncomment(ids[3], p1, bob)))
    assert [c.comment_id for c in views.photos.comments(p1, None, 10)] == [
        ids[2], ids[4], ids[BUCKET_SPAN], ids[2 * BUCKET_SPAN + 1]]
    assert views.photos.photo(p1).comments == 4
    assert views.photos.comments(new_id(), None, 10) == []


def test_a_users_likes_come_newest_first_on_live_photos_only(views: Views) -> None:
    """The export's list of what a person liked: likes of deleted photos, undone likes
    and other people's likes never show; a like again moves to its new position."""
    ann, bob, cy = new_id(), new_id(), new_id()
    p1, p2, p3, p4 = (new_id() for _ in range(4))
    views.deliver(at(1, post(p1, ann)), at(2, post(p2, ann)), at(3, post(p3, cy)),
                  at(4, post(p4, cy)), at(5, like(p1, ann, bob)), at(6, like(p3, cy, bob)),
                  at(BUCKET_SPAN + 1, like(p2, ann, bob)), at(BUCKET_SPAN + 2, like(p4, cy, bob)),
                  at(BUCKET_SPAN + 3, like(p4, cy, cy)), at(BUCKET_SPAN + 4, delete(p4, cy)),
                  at(2 * BUCKET_SPAN, unlike(p1, ann, bob)),
                  at(2 * BUCKET_SPAN + 1, unlike(p3, cy, bob)),
                  at(3 * BUCKET_SPAN, like(p3, cy, bob)))

    expected = [LikeRecord(p3, 3 * BUCKET_SPAN), LikeRecord(p2, BUCKET_SPAN + 1)]
    assert views.photos.likes_by_user(bob, None, 10) == expected
    for size in (1, 2, 3):
        assert newest_first_walk(
            lambda before, n: views.photos.likes_by_user(bob, before, n), size) == expected
    assert views.photos.likes_by_user(bob, 3 * BUCKET_SPAN, 10) == expected[1:]
    assert views.photos.likes_by_user(cy, None, 10) == []
    assert views.photos.likes_by_user(new_id(), None, 10) == []
    # A stale unlike, delivered again after the like again, changes nothing.
    views.deliver(at(2 * BUCKET_SPAN + 1, unlike(p3, cy, bob)))
    assert views.photos.likes_by_user(bob, None, 10) == expected


def test_a_users_comments_come_newest_first_on_live_photos_only(views: Views) -> None:
    """The export's list of what a person wrote, on anyone's photos: deleted comments,
    comments on deleted photos and other people's comments never show."""
    ann, bob, cy = new_id(), new_id(), new_id()
    p1, p2, p3 = new_id(), new_id(), new_id()
    c = {position: new_id() for position in (4, 5, 6, 7, BUCKET_SPAN, 2 * BUCKET_SPAN + 3)}
    views.deliver(at(1, post(p1, ann)), at(2, post(p2, cy)), at(3, post(p3, cy)),
                  at(4, comment(c[4], p1, ann, bob, text="first")),
                  at(5, comment(c[5], p2, cy, bob, text="on cy's")),
                  at(6, comment(c[6], p3, cy, bob, text="gone with p3")),
                  at(7, comment(c[7], p1, ann, cy, text="not bob's")),
                  at(BUCKET_SPAN, comment(c[BUCKET_SPAN], p1, ann, bob, text="deleted")),
                  at(2 * BUCKET_SPAN, uncomment(c[BUCKET_SPAN], p1, bob)),
                  at(2 * BUCKET_SPAN + 1, delete(p3, cy)),
                  at(2 * BUCKET_SPAN + 3, comment(c[2 * BUCKET_SPAN + 3], p2, cy, bob,
                                                  text="latest")))

    def written(position: int, photo_id: str, text: str) -> CommentRecord:
        return CommentRecord(comment_id=c[position], photo_id=photo_id, author_id=bob,
                             text=text, position=position,
                             created_at=(START + timedelta(seconds=position)).isoformat())

    expected = [written(2 * BUCKET_SPAN + 3, p2, "latest"), written(5, p2, "on cy's"),
                written(4, p1, "first")]
    assert views.photos.comments_by_author(bob, None, 10) == expected
    for size in (1, 2):
        assert newest_first_walk(
            lambda before, n: views.photos.comments_by_author(bob, before, n), size) == expected
    assert views.photos.comments_by_author(bob, 5, 10) == expected[2:]
    assert [r.comment_id for r in views.photos.comments_by_author(cy, None, 10)] == [c[7]]
    assert views.photos.comments_by_author(ann, None, 10) == []


def test_a_stale_unlike_after_a_like_again_changes_nothing(views: Views) -> None:
    ann, bob, p1 = new_id(), new_id(), new_id()
    views.deliver(at(1, post(p1, ann)), at(2, like(p1, ann, bob)), at(3, unlike(p1, ann, bob)),
                  at(4, like(p1, ann, bob)), at(3, unlike(p1, ann, bob)))

    assert views.photos.photo(p1).likes == 1
    assert views.photos.liked_by(bob, [p1]) == {p1}


def test_a_deleted_photo_takes_its_likes_and_comments(views: Views) -> None:
    ann, bob, p1, p2, c1 = (new_id() for _ in range(5))
    views.deliver(at(1, post(p1, ann)), at(2, post(p2, ann)), at(3, like(p1, ann, bob)),
                  at(4, comment(c1, p1, ann, bob)), at(5, delete(p1, ann)))

    assert views.photos.photo(p1) is None
    assert views.photos.many([p1, p2]) == {p2: expected_photo(p2, ann, 2)}
    assert [r.photo_id for r in views.photos.by_owner(ann, None, 10)] == [p2]
    assert views.photos.liked_by(bob, [p1, p2]) == set()
    assert views.photos.comments(p1, None, 10) == []


def test_photo_events_delivered_again_change_nothing(views: Views) -> None:
    ann, bob, cy, p1, p2, c1, c2 = (new_id() for _ in range(7))
    log = [at(1, post(p1, ann)), at(2, post(p2, ann)), at(3, like(p1, ann, bob)),
           at(4, like(p1, ann, cy)), at(5, unlike(p1, ann, cy)), at(6, comment(c1, p1, ann, bob)),
           at(7, comment(c2, p1, ann, cy)), at(8, uncomment(c2, p1, cy)),
           at(9, like(p2, ann, bob)), at(10, delete(p2, ann))]
    views.deliver(*(envelope for envelope in log for _ in range(2)))  # each twice

    assert views.photos.photo(p1) == expected_photo(p1, ann, 1, likes=1, comments=1)
    assert [c.comment_id for c in views.photos.comments(p1, None, 10)] == [c1]
    assert views.photos.liked_by(bob, [p1, p2]) == {p1}
    assert views.photos.photo(p2) is None


def test_card_states_follow_likes_comments_alt_text_and_deletion(views: Views) -> None:
    """What can change in a photo's card, and the reader's like, read without the rest
    of the row (the read API caches the rest: readapi/cards.py)."""
    ann, bob, p1, p2, c1 = (new_id() for _ in range(5))
    views.deliver(at(1, post(p1, ann, alt_text="A dog")), at(2, post(p2, ann)))
    assert views.photos.card_states([p1, new_id(), p2, p1]) == {
        p1: (0, 0, "A dog", False), p2: (0, 0, None, False)}
    assert views.photos.card_states([]) == {} == views.photos.card_states([], bob)
    views.deliver(at(3, like(p1, ann, bob)), at(4, comment(c1, p1, ann, bob)),
                  at(5, describe(p1, ann, "Two dogs")), at(6, like(p2, ann, bob)),
                  at(7, unlike(p2, ann, bob)))
    assert views.photos.card_states([p1, p2], bob) == {p1: (1, 1, "Two dogs", True),
                                                       p2: (0, 0, None, False)}
    assert views.photos.start_liked_by(bob, [p1, p2])() == {p1} \
        == views.photos.liked_by(bob, [p1, p2])
    assert views.photos.card_states([p1, p2], ann) == {p1: (1, 1, "Two dogs", False),
                                                       p2: (0, 0, None, False)}
    assert views.photos.card_states([p1, p2]) == {p1: (1, 1, "Two dogs", False),
                                                  p2: (0, 0, None, False)}
    views.deliver(at(8, delete(p1, ann)))
    assert views.photos.card_states([p1, p2], bob) == {p2: (0, 0, None, False)}
    # Begun before they are answered (as a page begins its reads together), in any order.
    first, empty, second = (views.photos.start_card_states([p1, p2], bob),
                            views.photos.start_card_states([], bob),
                            views.photos.start_card_states([p2, p1], ann))
    assert second() == {p2: (0, 0, None, False)} == first()
    assert empty() == {}


# --- photos: alt text --------------------------------------------------------------------


def test_alt_text_comes_with_the_post_and_follows_each_edit(views: Views) -> None:
    ann, p1, p2 = new_id(), new_id(), new_id()
    views.deliver(at(1, post(p1, ann, alt_text="A dog\non the beach")), at(2, post(p2, ann)))
    assert views.photos.photo(p1).alt_text == "A dog\non the beach"
    assert views.photos.photo(p2).alt_text is None

    views.deliver(at(3, describe(p2, ann, "Waves")), at(4, describe(p1, ann, None)))
    assert views.photos.many([p1, p2]) == {
        p1: expected_photo(p1, ann, 1),
        p2: replace(expected_photo(p2, ann, 2), alt_text="Waves")}
    assert [r.alt_text for r in views.photos.by_owner(ann, None, 10)] == ["Waves", None]


def test_a_stale_alt_text_edit_never_undoes_a_newer_one(views: Views) -> None:
    ann, p1 = new_id(), new_id()
    first, second = at(2, describe(p1, ann, "first")), at(3, describe(p1, ann, "second"))
    views.deliver(at(1, post(p1, ann, alt_text="posted")), first, second,
                  first, at(1, post(p1, ann, alt_text="posted")))  # redelivered, stale
    assert views.photos.photo(p1).alt_text == "second"

    views.deliver(at(4, describe(p1, ann, None)), second)
    assert views.photos.photo(p1).alt_text is None


def test_an_alt_text_edit_after_the_deletion_stays_hidden(views: Views) -> None:
    ann, p1 = new_id(), new_id()
    views.deliver(at(1, post(p1, ann)), at(3, delete(p1, ann)), at(2, describe(p1, ann, "late")))
    assert views.photos.photo(p1) is None
    assert views.photos.by_owner(ann, None, 10) == []
    assert views.photos.many([p1]) == {}


def test_an_alt_text_edit_on_a_photo_never_posted_shows_nothing(views: Views) -> None:
    ann, p1 = new_id(), new_id()
    views.deliver(at(2, describe(p1, ann, "orphan")))
    assert views.photos.photo(p1) is None
    assert views.photos.by_owner(ann, None, 10) == []


# --- photos: events of different aggregates in any order (Kafka delivery) ----------------


def test_a_like_before_the_post_counts_once_posted(views: Views) -> None:
    ann, bob, p1 = new_id(), new_id(), new_id()
    views.deliver(at(2, like(p1, ann, bob)))
    assert views.photos.photo(p1) is None

    views.deliver(at(1, post(p1, ann)))
    assert views.photos.photo(p1) == expected_photo(p1, ann, 1, likes=1)
    assert views.photos.liked_by(bob, [p1]) == {p1}


def test_a_comment_before_the_post_shows_once_posted(views: Views) -> None:
    ann, bob, p1, c1 = (new_id() for _ in range(4))
    views.deliver(at(2, comment(c1, p1, ann, bob)))
    assert views.photos.photo(p1) is None

    views.deliver(at(1, post(p1, ann)))
    assert [c.comment_id for c in views.photos.comments(p1, None, 10)] == [c1]
    assert views.photos.photo(p1).comments == 1


def test_a_post_redelivered_after_its_deletion_stays_deleted(views: Views) -> None:
    ann, p1 = new_id(), new_id()
    views.deliver(at(1, post(p1, ann)), at(2, delete(p1, ann)), at(1, post(p1, ann)))

    assert views.photos.photo(p1) is None
    assert views.photos.by_owner(ann, None, 10) == []


def test_likes_and_comments_after_the_deletion_stay_hidden(views: Views) -> None:
    ann, bob, p1, c1 = (new_id() for _ in range(4))
    views.deliver(at(1, post(p1, ann)), at(4, delete(p1, ann)),
                  at(2, like(p1, ann, bob)), at(3, comment(c1, p1, ann, bob)),
                  at(5, unlike(p1, ann, bob)), at(6, uncomment(c1, p1, bob)))

    assert views.photos.photo(p1) is None
    assert views.photos.liked_by(bob, [p1]) == set()
    assert views.photos.comments(p1, None, 10) == []


# --- every random history: the views equal a brute-force reference ----------------------


class MemoryGraph(GraphStore):
    """The port's semantics in plain dicts: the reference the backends must match."""

    def __init__(self) -> None:
        self.follows: dict[tuple[str, str], int] = {}

    def follow(self, follower_id: str, followee_id: str, position: int) -> None:
        self.follows[follower_id, followee_id] = position

    def unfollow(self, follower_id: str, followee_id: str, position: int) -> None:
        if self.follows.get((follower_id, followee_id), position) < position:
            del self.follows[follower_id, followee_id]

    def edges(self, user_id: str, end: int) -> list[Edge]:
        found = [Edge(pair[1 - end], position) for pair, position in self.follows.items()
                 if pair[end] == user_id]
        return sorted(found, key=lambda edge: edge.position, reverse=True)


@dataclass
class MemoryPhotos(PhotoStore):
    photos: dict[str, PhotoRecord] = field(default_factory=dict)
    likes: set[tuple[str, str]] = field(default_factory=set)
    comments: dict[str, CommentRecord] = field(default_factory=dict)
    like_positions: dict[tuple[str, str], int] = field(default_factory=dict)

    def add_photo(self, photo: PhotoRecord) -> None:
        self.photos.setdefault(photo.photo_id, photo)

    def set_alt_text(self, photo_id: str, alt_text: str | None, position: int) -> None:
        # The log order is the reference: each edit is newer than what it replaces.
        if photo_id in self.photos:
            self.photos[photo_id] = replace(self.photos[photo_id], alt_text=alt_text)

    def remove_photo(self, photo_id: str) -> None:
        self.photos.pop(photo_id, None)
        self.likes = {(p, u) for p, u in self.likes if p != photo_id}
        self.comments = {c: r for c, r in self.comments.items() if r.photo_id != photo_id}

    def like(self, photo_id: str, user_id: str, position: int) -> None:
        if photo_id in self.photos:
            self.likes.add((photo_id, user_id))
            self.like_positions[photo_id, user_id] = position

    def unlike(self, photo_id: str, user_id: str, position: int) -> None:
        self.likes.discard((photo_id, user_id))

    def add_comment(self, comment: CommentRecord) -> None:
        if comment.photo_id in self.photos:
            self.comments[comment.comment_id] = comment

    def remove_comment(self, comment_id: str, photo_id: str) -> None:
        self.comments.pop(comment_id, None)

    def record(self, photo_id: str) -> PhotoRecord:
        return replace(self.photos[photo_id],
                       likes=sum(1 for p, _ in self.likes if p == photo_id),
                       comments=sum(1 for c in self.comments.values() if c.photo_id == photo_id))

    def newest(self, owners: Sequence[str]) -> list[PhotoRecord]:
        return sorted((self.record(p) for p, r in self.photos.items() if r.owner_id in owners),
                      key=lambda record: record.position, reverse=True)

    def likes_of(self, user_id: str) -> list[LikeRecord]:
        return sorted((LikeRecord(p, self.like_positions[p, u]) for p, u in self.likes
                       if u == user_id), key=lambda like: like.position, reverse=True)

    def written_by(self, user_id: str) -> list[CommentRecord]:
        return sorted((c for c in self.comments.values() if c.author_id == user_id),
                      key=lambda c: c.position, reverse=True)

    def thread(self, photo_id: str) -> list[CommentRecord]:
        return sorted((c for c in self.comments.values() if c.photo_id == photo_id),
                      key=lambda c: c.position)


def check_views_match_the_reference(views: Views, log: list[Envelope]) -> None:
    graph, photos = MemoryGraph(), MemoryPhotos()
    for envelope in log:
        event = event_from_data(envelope.event_type, envelope.schema_version, envelope.data)
        GRAPH.apply(event, envelope, graph)
        PHOTOS.apply(event, envelope, photos)
    users = [e.data["user_id"] for e in log if e.event_type == UserRegistered.event_type()]
    photo_ids = [e.data["photo_id"] for e in log if e.event_type == PhotoPosted.event_type()]

    for user in users:
        for end, page in ((1, views.graph.followers), (0, views.graph.following)):
            expected = graph.edges(user, end)
            assert page(user, None, 1000) == expected
            assert newest_first_walk(lambda before, n: page(user, before, n)) == expected
        mine = photos.newest([user])
        assert views.photos.by_owner(user, None, 1000) == mine
        assert newest_first_walk(lambda b, n: views.photos.by_owner(user, b, n), 3) == mine
        assert views.photos.liked_by(user, photo_ids) == {
            p for p, u in photos.likes if u == user}
        assert newest_first_walk(lambda b, n: views.photos.likes_by_user(user, b, n),
                                 3) == photos.likes_of(user)
        assert newest_first_walk(lambda b, n: views.photos.comments_by_author(user, b, n),
                                 3) == photos.written_by(user)
    assert views.photos.recent_by_owners(users[:3], None, 1000) == photos.newest(users[:3])
    assert views.photos.many(photo_ids) == {p: photos.record(p) for p in photos.photos}
    # What the read API's cached cards read on every page (readapi/cards.py).
    for liker in (None, *users[:3]):
        assert views.photos.card_states(photo_ids, liker) == {
            p: (photos.record(p).likes, photos.record(p).comments, photos.record(p).alt_text,
                (p, liker) in photos.likes) for p in photos.photos}
    for photo_id in photo_ids:
        live = photo_id in photos.photos
        assert views.photos.photo(photo_id) == (photos.record(photo_id) if live else None)
        thread = photos.thread(photo_id)
        assert views.photos.comments(photo_id, None, 1000) == thread
        assert oldest_first_walk(lambda a, n: views.photos.comments(photo_id, a, n)) == thread


def spread_log(history: list[tuple[Event, str]], gaps: list[int]) -> list[Envelope]:
    """The history as a log whose positions leave gaps (some a whole position bucket
    wide), and whose ids are fresh, so examples never collide in a shared keyspace."""
    salt = uuid4()
    log: list[Envelope] = []
    position = 0
    for envelope, gap in zip(envelopes(history), gaps, strict=True):
        position += gap
        log.append(replace(envelope, position=position,
                           occurred_at=START + timedelta(seconds=position),
                           data=_salted(envelope.data, salt)))
    return log


def _salted(value: Any, salt: UUID) -> Any:
    if isinstance(value, dict):
        return {key: _salted(item, salt) for key, item in value.items()}
    if isinstance(value, list):
        return [_salted(item, salt) for item in value]
    if isinstance(value, str):
        try:
            return str(uuid5(salt, str(UUID(value))))
        except ValueError:
            return value
    return value


AGGREGATE_OF: dict[str, Callable[[dict[str, Any]], tuple[str, ...]]] = {
    UserFollowed.event_type(): lambda d: ("follow", d["follower_id"], d["followee_id"]),
    UserUnfollowed.event_type(): lambda d: ("follow", d["follower_id"], d["followee_id"]),
    PhotoPosted.event_type(): lambda d: ("photo", d["photo_id"]),
    PhotoDeleted.event_type(): lambda d: ("photo", d["photo_id"]),
    PhotoAltTextChanged.event_type(): lambda d: ("photo", d["photo_id"]),
    PhotoLiked.event_type(): lambda d: ("like", d["photo_id"], d["user_id"]),
    PhotoUnliked.event_type(): lambda d: ("like", d["photo_id"], d["user_id"]),
    CommentAdded.event_type(): lambda d: ("comment", d["comment_id"]),
    CommentDeleted.event_type(): lambda d: ("comment", d["comment_id"]),
}


def kafka_delivery(log: list[Envelope], chance: random.Random) -> list[Envelope]:
    """The log as a consumer may receive it: each aggregate's events in order, the
    aggregates interleaved at random, then a redelivered tail (a restart from an older
    committed offset)."""
    queues: dict[tuple[str, ...], deque[Envelope]] = defaultdict(deque)
    for envelope in log:
        aggregate = AGGREGATE_OF.get(envelope.event_type, lambda _: ("other",))(envelope.data)
        queues[aggregate].append(envelope)
    delivered: list[Envelope] = []
    while queues:
        aggregate = chance.choice(sorted(queues))
        delivered.append(queues[aggregate].popleft())
        if not queues[aggregate]:
            del queues[aggregate]
    return delivered + delivered[chance.randrange(len(delivered) + 1):]


PROFILE = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          # make_views gives each example fresh views
                                          HealthCheck.function_scoped_fixture])
GAPS = st.lists(st.sampled_from([1, 1, 1, 2, BUCKET_SPAN]), min_size=200, max_size=200)


@PROFILE
@given(history=histories(), gaps=GAPS)
def test_a_history_in_log_order_gives_the_reference_views(make_views, history, gaps) -> None:
    log = spread_log(history, gaps[:len(history)])
    views = make_views()
    views.deliver(*log)
    check_views_match_the_reference(views, log)


@PROFILE
@given(history=histories(), gaps=GAPS)
def test_each_event_delivered_twice_gives_the_reference_views(make_views, history,
                                                              gaps) -> None:
    log = spread_log(history, gaps[:len(history)])
    views = make_views()
    views.deliver(*(envelope for envelope in log for _ in range(2)))
    check_views_match_the_reference(views, log)


@PROFILE
@given(history=histories(), gaps=GAPS, chance=st.randoms(use_true_random=False))
def test_kafka_delivery_gives_the_reference_views(make_views, history, gaps, chance) -> None:
    log = spread_log(history, gaps[:len(history)])
    views = make_views()
    views.deliver(*kafka_delivery(log, chance))
    check_views_match_the_reference(views, log)


# --- views made before variant sizes and placeholders -------------------------------------

# The photos table as released before variant sizes and placeholders.
OLD_SQLITE_PHOTOS = """CREATE TABLE photos (
    photo_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, caption TEXT NOT NULL,
    location TEXT NOT NULL, hashtags TEXT NOT NULL, tagged_user_ids TEXT NOT NULL,
    variants TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    posted_at TEXT NOT NULL, position INTEGER NOT NULL,
    likes INTEGER NOT NULL DEFAULT 0, comments INTEGER NOT NULL DEFAULT 0)"""
OLD_CASSANDRA_PHOTOS = """CREATE TABLE {keyspace}.photos (
    photo_id text PRIMARY KEY, owner_id text, caption text, location text,
    hashtags frozen<list<text>>, tagged_user_ids frozen<list<text>>,
    variants frozen<map<text, text>>,
    width int, height int, posted_at text, position bigint, deleted boolean)"""
OLD_ROW = ("sunset", "", [], [], {"large": "l.jpg", "medium": "m.jpg", "square": "s.jpg"},
           1080, 1920, START.isoformat(), 7)
# What the pipeline made of a 1080x1920 photo before the feed variants.
OLD_SIZES = {"large": {"width": 608, "height": 1080}, "medium": {"width": 360, "height": 640},
             "square": {"width": 320, "height": 320}}


def test_an_old_sqlite_photos_view_gains_the_sizes_its_events_tell(tmp_path: Path) -> None:
    from photoshare.infra.sqlite.catalog import open_views
    from photoshare.infra.sqlite.util import to_json
    from photoshare.infra.sqlite.viewdb import connect as sqlite_connect

    path, photo_id, owner = tmp_path / "views.sqlite3", new_id(), new_id()
    old = sqlite_connect(path)
    old.execute(OLD_SQLITE_PHOTOS)
    caption, location, hashtags, tagged, variants, *rest = OLD_ROW
    old.execute("INSERT INTO photos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                (photo_id, owner, caption, location, to_json(hashtags), to_json(tagged),
                 to_json(variants), *rest))
    old.close()

    views = open_views(path)
    try:
        record = sqlite_photos.SqlitePhotoQueries(views.reader()).photo(photo_id)
    finally:
        views.close()
    assert record is not None
    assert (record.variant_sizes, record.placeholder, record.alt_text) == (OLD_SIZES, None, None)
    assert record.original_key is None  # until `projections rebuild photos`
    views = open_views(path)  # a second start changes nothing; an old row takes edits
    try:
        with views.transaction() as connection:
            store = sqlite_photos.SqlitePhotoStore(connection)
            store.set_alt_text(photo_id, "a sunset", 8)
            store.set_alt_text(photo_id, "stale", 6)  # older than the post (7)
        record = sqlite_photos.SqlitePhotoQueries(views.reader()).photo(photo_id)
    finally:
        views.close()
    assert (record.variant_sizes, record.alt_text) == (OLD_SIZES, "a sunset")


def test_an_old_cassandra_keyspace_gains_the_new_columns(cassandra_hosts: str,
                                                        redis_url: str) -> None:
    keyspace = f"photoshare_test_{uuid4().hex[:12]}"
    session = connect(cassandra_hosts)
    photo_id, owner = new_id(), new_id()
    try:
        session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute(OLD_CASSANDRA_PHOTOS.format(keyspace=keyspace))
        session.execute(f"INSERT INTO {keyspace}.photos (photo_id, owner_id, caption, "
                        "location, hashtags, tagged_user_ids, variants, width, height, "
                        "posted_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                        "%s, %s)", (photo_id, owner, *OLD_ROW))
        for _ in range(2):  # adding the columns again is no error
            create_schema(session, keyspace, {"class": "SimpleStrategy",
                                              "replication_factor": 1})
        session.set_keyspace(keyspace)
        client = redis.Redis.from_url(redis_url)
        counters = RedisCounters(client, f"photoshare_test_{uuid4().hex[:8]}:", Delivery())
        record = CassandraPhotoQueries(session, counters).photo(photo_id)
        client.close()
        assert record is not None
        assert (record.variant_sizes, record.placeholder, record.alt_text,
                record.original_key) == (OLD_SIZES, None, None, None)
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        session.cluster.shutdown()

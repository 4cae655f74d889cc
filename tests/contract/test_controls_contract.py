"""Contract of the block and mute sets (projections/controls.py), run against SQLite and
Cassandra (the session's real server, in a keyspace `photoshare_test_<random>` dropped
afterwards): events go through the real projection into each backend's store, and the
query ports must answer alike, also under redelivery and partitioned interleaving."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoshare.events import (
    Envelope,
    UserBlocked,
    UserMuted,
    UserUnblocked,
    UserUnmuted,
    event_from_data,
)
from photoshare.infra.cassandra.controls import CassandraControlQueries, CassandraControlStore
from photoshare.infra.sqlite import controls as sqlite_controls
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.controls import (
    ControlQueries,
    Controls,
    ControlsProjection,
    ControlStore,
)
from photoshare.projections import controls as controls_module
from photoshare.projections.graph import Edge
from support.logged import at, new_id
from support.partitions import deliveries
from support.views import contract_views, fresh_keyspace

pytestmark = pytest.mark.cluster

PROJECTION = ControlsProjection()


def block(a: str, b: str) -> UserBlocked:
    return UserBlocked(blocker_id=a, blocked_id=b)


def unblock(a: str, b: str) -> UserUnblocked:
    return UserUnblocked(blocker_id=a, blocked_id=b)


def mute(a: str, b: str) -> UserMuted:
    return UserMuted(muter_id=a, muted_id=b)


def unmute(a: str, b: str) -> UserUnmuted:
    return UserUnmuted(muter_id=a, muted_id=b)


class Views:
    store: ControlStore
    queries: ControlQueries

    def deliver(self, *items: Envelope) -> None:
        for envelope in items:
            event = event_from_data(envelope.event_type, envelope.schema_version, envelope.data)
            self._apply(event, envelope)

    def _apply(self, event: Any, envelope: Envelope) -> None:
        PROJECTION.apply(event, envelope, self.store)

    def close(self) -> None:
        pass


class SqliteViews(Views):
    def __init__(self, path: Path) -> None:
        self.db = ViewDatabase(path, [sqlite_controls.SCHEMA])
        self.queries = sqlite_controls.SqliteControlQueries(self.db.reader())

    def _apply(self, event: Any, envelope: Envelope) -> None:
        with self.db.transaction() as connection:
            PROJECTION.apply(event, envelope, sqlite_controls.SqliteControlStore(connection))

    def close(self) -> None:
        self.db.close()


class CassandraViews(Views):
    def __init__(self, session: Any) -> None:
        self.store = CassandraControlStore(session)
        self.queries = CassandraControlQueries(session)


@pytest.fixture(scope="module")
def cassandra_views(cassandra_hosts: str) -> Iterator[CassandraViews]:
    """Views on a test keyspace. Tests never collide in it: their ids are fresh UUIDs."""
    with fresh_keyspace(cassandra_hosts) as session:
        yield CassandraViews(session)


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("cassandra", id="cassandra")])
def make_views(request: pytest.FixtureRequest) -> Iterator[Callable[[], Views]]:
    yield from contract_views(request.param, request, SqliteViews)


@pytest.fixture
def views(make_views: Callable[[], Views]) -> Views:
    return make_views()


def test_blocks_show_from_both_sides_and_mutes_from_the_muters(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    views.deliver(at(1, block(ann, bob)), at(2, mute(ann, cy)), at(3, block(cy, ann)))
    assert views.queries.of(ann) == Controls(blocking=frozenset({bob}),
                                             blocked_by=frozenset({cy}), muting=frozenset({cy}))
    assert views.queries.of(bob) == Controls(blocked_by=frozenset({ann}))
    assert views.queries.of(cy) == Controls(blocking=frozenset({ann}))
    assert views.queries.of(new_id()) == Controls()
    # Begun together, answered in the other order: the same sets.
    begun = [views.queries.start_of(person) for person in (ann, bob, cy)]
    assert [answer() for answer in reversed(begun)] == \
        [views.queries.of(person) for person in (cy, bob, ann)]


def test_a_person_blocked_by_more_than_a_read_loads_is_asked_about_the_rest(
        views: Views, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controls_module, "BLOCKERS_LOADED", 2)
    me, friend, *blockers = (new_id() for _ in range(7))
    gone = blockers.pop()  # blocked me, then unblocked
    views.deliver(*(at(1 + n, block(b, me)) for n, b in enumerate(blockers)),
                  at(10, block(gone, me)), at(11, unblock(gone, me)), at(12, block(me, friend)))
    mine = views.queries.of(me)
    assert not mine.complete and len(mine.blocked_by) == 3  # the bound and one more
    assert mine.blocked_by < set(blockers) and mine.hides_anyone
    assert views.queries.blockers_among(me, [friend, gone, *blockers]) == set(blockers)
    assert views.queries.blockers_among(me, []) == set()
    mine.learn([gone, *blockers])
    assert [mine.is_blocked_by(p) for p in (*blockers, gone, friend)] == \
        [True, True, True, True, False, False]
    assert mine.hides(friend) and not mine.hides(gone)
    # Within the bound, the read is whole and asks nothing.
    monkeypatch.setattr(controls_module, "BLOCKERS_LOADED", 4)
    assert views.queries.of(me) == Controls(blocking=frozenset({friend}),
                                            blocked_by=frozenset(blockers))


def test_lists_are_newest_first_below_before(views: Views) -> None:
    me, *others = (new_id() for _ in range(4))
    views.deliver(*(at(10 + n, block(me, other)) for n, other in enumerate(others)),
                  at(20, mute(me, others[0])))
    assert views.queries.listed("block", me, None, 2) == [Edge(others[2], 12),
                                                          Edge(others[1], 11)]
    assert views.queries.listed("block", me, 11, 5) == [Edge(others[0], 10)]
    assert views.queries.listed("mute", me, None, 5) == [Edge(others[0], 20)]
    assert views.queries.listed("mute", others[0], None, 5) == []


def test_undoing_removes_and_doing_again_moves_to_the_new_position(views: Views) -> None:
    ann, bob = new_id(), new_id()
    views.deliver(at(1, block(ann, bob)), at(2, mute(ann, bob)), at(3, unblock(ann, bob)),
                  at(4, unmute(ann, bob)))
    assert views.queries.of(ann) == Controls() and views.queries.of(bob) == Controls()
    assert views.queries.listed("block", ann, None, 5) == []
    views.deliver(at(7, block(ann, bob)))
    assert views.queries.listed("block", ann, None, 5) == [Edge(bob, 7)]


def test_redelivered_and_stale_events_change_nothing(views: Views) -> None:
    ann, bob, cy = new_id(), new_id(), new_id()
    log = [at(1, block(ann, bob)), at(2, mute(ann, cy)), at(3, unblock(ann, bob)),
           at(4, unmute(ann, cy)), at(5, mute(ann, cy))]
    views.deliver(*(envelope for envelope in log for _ in range(2)))
    views.deliver(*log)  # the whole log again, as after a consumer restart
    views.deliver(log[0])  # a stale block, delivered after its unblock
    assert views.queries.of(ann) == Controls(muting=frozenset({cy}))
    assert views.queries.of(bob) == Controls()
    assert views.queries.listed("mute", ann, None, 5) == [Edge(cy, 5)]


@st.composite
def control_logs(draw: st.DrawFn, people: list[str]) -> list[Envelope]:
    """A valid history of blocks and mutes among `people` (no self-block, no double
    block: what the command side allows)."""
    active: set[tuple[str, str, str]] = set()
    items: list[Envelope] = []
    for position in range(1, draw(st.integers(1, 30)) + 1):
        a, b = draw(st.sampled_from(people)), draw(st.sampled_from(people))
        kind = draw(st.sampled_from(["block", "mute"]))
        if a == b:
            continue
        if (kind, a, b) in active:
            active.discard((kind, a, b))
            items.append(at(position, (unblock if kind == "block" else unmute)(a, b)))
        else:
            active.add((kind, a, b))
            items.append(at(position, (block if kind == "block" else mute)(a, b)))
    return items


def expected(items: list[Envelope], people: list[str]) -> dict[str, Any]:
    clean = SqliteViews(Path(tempfile.mkdtemp(prefix="photoshare-contract-")) / "v.db")
    try:
        clean.deliver(*items)
        return answers(clean, people)
    finally:
        clean.close()


def answers(views: Views, people: list[str]) -> dict[str, Any]:
    return {person: (views.queries.of(person),
                     views.queries.listed("block", person, None, 100),
                     views.queries.listed("mute", person, None, 100)) for person in people}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_partitioned_delivery_gives_the_views_of_log_order(
        make_views: Callable[[], Views], data: Any) -> None:
    # The history and its delivery are drawn over fixed ids (the partitions follow from
    # the ids, so Hypothesis must see the same ones when it replays an example), then
    # given fresh ids per example: the keyspace is shared.
    drawn_people = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    drawn = data.draw(control_logs(drawn_people))
    delivered = data.draw(deliveries(drawn))
    fresh = {person: new_id() for person in drawn_people}

    def refreshed(envelope: Envelope) -> Envelope:
        return dataclasses.replace(envelope, data={
            key: fresh.get(value, value) for key, value in envelope.data.items()})

    people = list(fresh.values())
    items = [refreshed(envelope) for envelope in drawn]
    views = make_views()
    views.deliver(*(refreshed(envelope) for _, envelope in delivered))
    assert answers(views, people) == expected(items, people)

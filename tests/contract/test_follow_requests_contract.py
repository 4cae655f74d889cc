"""Contract of the follow requests view, on SQLite and on Cassandra (the session's real
server, in a keyspace `photoshare_test_<random>` dropped afterwards).

Events go through the real projection into each backend's store; the query ports must
answer alike. One account's request events come from one aggregate (in order, on one
Kafka partition) but may be delivered again, and a rebuild replays them: every backend
must end with the view of the log applied once, in order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from photoshare.events import (
    Envelope,
    Event,
    FollowRequestApproved,
    FollowRequestCancelled,
    FollowRequestDeclined,
    FollowRequested,
    event_from_data,
)
from photoshare.infra.cassandra.follow_requests import (
    CassandraFollowRequestQueries,
    CassandraFollowRequestStore,
)
from photoshare.infra.sqlite import follow_requests as sqlite_requests
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.follow_requests import (
    FollowRequestQueries,
    FollowRequestsProjection,
    FollowRequestStore,
)
from support.logged import at, new_id
from support.views import contract_views, fresh_keyspace

pytestmark = pytest.mark.cluster

PROJECTION = FollowRequestsProjection()
ENDS = (FollowRequestApproved, FollowRequestDeclined, FollowRequestCancelled)


class Views(ABC):
    queries: FollowRequestQueries

    @abstractmethod
    def _store(self) -> AbstractContextManager[FollowRequestStore]: ...

    def deliver(self, *items: Envelope) -> None:
        with self._store() as store:
            for envelope in items:
                event = event_from_data(envelope.event_type, envelope.schema_version,
                                        envelope.data)
                PROJECTION.apply(event, envelope, store)

    def pending_ids(self, followee: str, size: int = 2) -> list[tuple[str, int]]:
        """Every pending request to `followee` as (follower, position), read in pages."""
        found, before = [], None
        while True:
            page = self.queries.pending(followee, before, size)
            found += [(r.follower_id, r.position) for r in page]
            if len(page) < size:
                return found
            before = page[-1].position

    def close(self) -> None:
        pass


class SqliteViews(Views):
    def __init__(self, path: Path) -> None:
        self.db = ViewDatabase(path, [sqlite_requests.SCHEMA])
        self.queries = sqlite_requests.SqliteFollowRequestQueries(self.db.reader())

    @contextmanager
    def _store(self) -> Iterator[FollowRequestStore]:
        with self.db.transaction() as connection:
            yield sqlite_requests.SqliteFollowRequestStore(connection)

    def close(self) -> None:
        self.db.close()


class CassandraViews(Views):
    def __init__(self, session: Any) -> None:
        self.store = CassandraFollowRequestStore(session)
        self.queries = CassandraFollowRequestQueries(session)

    @contextmanager
    def _store(self) -> Iterator[FollowRequestStore]:
        yield self.store


@pytest.fixture(scope="module")
def cassandra_views(cassandra_hosts: str) -> Iterator[CassandraViews]:
    """Views on a test keyspace; tests stay apart by their fresh ids."""
    with fresh_keyspace(cassandra_hosts) as session:
        yield CassandraViews(session)


@pytest.fixture(params=["sqlite", "cassandra"])
def make_views(request: pytest.FixtureRequest) -> Iterator[Callable[[], Views]]:
    yield from contract_views(request.param, request, SqliteViews)


@pytest.fixture
def views(make_views: Callable[[], Views]) -> Views:
    return make_views()


def asked(follower: str, followee: str) -> FollowRequested:
    return FollowRequested(follower_id=follower, followee_id=followee)


def ended(kind: type[Event], follower: str, followee: str) -> Event:
    return kind(follower_id=follower, followee_id=followee)  # type: ignore[call-arg]


def test_pending_requests_are_listed_newest_first(views: Views) -> None:
    owner, fans = new_id(), [new_id() for _ in range(5)]
    views.deliver(*(at(10 + i, asked(fan, owner)) for i, fan in enumerate(fans)))
    assert views.pending_ids(owner) == [(fans[i], 10 + i) for i in reversed(range(5))]
    [newest] = views.queries.pending(owner, None, 1)
    assert (newest.followee_id, newest.follower_id) == (owner, fans[4])
    assert newest.requested_at.startswith("20")
    assert [r.follower_id for r in views.queries.pending(owner, 12, 10)] == fans[1::-1]
    assert views.queries.is_pending(owner, fans[0])
    assert not views.queries.is_pending(fans[0], owner)
    assert views.queries.pending(fans[0], None, 10) == []


@pytest.mark.parametrize("kind", ENDS)
def test_an_ended_request_leaves_the_list(views: Views, kind: type[Event]) -> None:
    owner, fan, other = new_id(), new_id(), new_id()
    views.deliver(at(1, asked(fan, owner)), at(2, asked(other, owner)),
                  at(3, ended(kind, fan, owner)))
    assert views.pending_ids(owner) == [(other, 2)]
    assert not views.queries.is_pending(owner, fan)


def test_redelivery_changes_nothing(views: Views) -> None:
    owner, fan, other = new_id(), new_id(), new_id()
    log = [at(1, asked(fan, owner)), at(2, asked(other, owner)),
           at(3, ended(FollowRequestDeclined, fan, owner)), at(4, asked(fan, owner))]
    views.deliver(*log)
    views.deliver(*log)        # the whole batch again (a crash before its checkpoint)
    views.deliver(log[0])      # an old request alone, after it was declined and asked anew
    views.deliver(log[2])      # a stale end of the older request
    assert views.pending_ids(owner) == [(fan, 4), (other, 2)]


def test_an_old_request_delivered_again_after_its_end_stays_ended(views: Views) -> None:
    owner, fan = new_id(), new_id()
    views.deliver(at(5, asked(fan, owner)), at(6, ended(FollowRequestApproved, fan, owner)))
    views.deliver(at(5, asked(fan, owner)))
    assert views.pending_ids(owner) == []
    assert not views.queries.is_pending(owner, fan)


@st.composite
def request_histories(draw: st.DrawFn) -> list[tuple[int, str]]:
    """One account's request events as its aggregate would record them: per follower,
    asking only when nothing is pending and ending only what is."""
    steps = draw(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["ask", *ENDS])),
                          max_size=25))
    pending: set[int] = set()
    history = []
    for fan, action in steps:
        if action == "ask" and fan not in pending:
            pending.add(fan)
            history.append((fan, "ask"))
        elif action != "ask" and fan in pending:
            pending.discard(fan)
            history.append((fan, action))
    return history


@settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(history=request_histories(), data=st.data())
def test_any_history_with_redeliveries_ends_as_the_log_says(
        make_views: Callable[[], Views], history: list[tuple[int, Any]],
        data: st.DataObject) -> None:
    views = make_views()
    owner, fans = new_id(), [new_id() for _ in range(4)]
    log = [at(i + 1, asked(fans[fan], owner) if action == "ask"
              else ended(action, fans[fan], owner)) for i, (fan, action) in enumerate(history)]
    # In order, each event possibly followed by a redelivery of an earlier one (Kafka
    # redelivers after a crash; the partition's order holds for the first delivery).
    for index, envelope in enumerate(log):
        views.deliver(envelope)
        if data.draw(st.booleans()):
            views.deliver(log[data.draw(st.integers(0, index))])
    expected: dict[str, int] = {}
    for envelope in log:
        if envelope.event_type == "FollowRequested":
            expected[envelope.data["follower_id"]] = envelope.position
        else:
            expected.pop(envelope.data["follower_id"], None)
    assert views.pending_ids(owner) == sorted(expected.items(), key=lambda kv: -kv[1])
    for fan in fans:
        assert views.queries.is_pending(owner, fan) == (fan in expected)

"""Social graph view on Cassandra: followers and following, most recent follow first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassandra.cluster import Session
from photoshare.infra.cassandra.schema import (
    FOLLOWERS,
    FOLLOWING,
    BucketedList,
    Write,
    keyspace_of,
)
from photoshare.infra.cassandra.write_buffer import DirectWrites, WriteBuffer
from photoshare.projections.graph import Edge, GraphQueries, GraphStore


class CassandraGraphStore(GraphStore):
    """Follows as rows at both ends, clustered by the follow's position.

    The position is part of each row's key, so an unfollow or a refollow first reads
    where the pair's rows are from `follow_edges`. A pair's events come from one Follow
    aggregate, hence in order; a redelivery replays them in order too, so reading
    before writing converges. Every write is timestamped with its event's position, so
    a worker still applying a stale batch of the pair's events (its partition moved on
    to another worker in a rebalance) cannot undo what the newer events wrote.

    In a worker, the writes are staged in the batch's `WriteBuffer` and the edge is
    recalled from it first: a later event of the same batch on the same pair sees the
    edge the earlier one staged (infra/cassandra/write_buffer.py)."""

    def __init__(self, session: Session, buffer: WriteBuffer | None = None) -> None:
        self.session = session
        self.buffer: WriteBuffer | DirectWrites = buffer or DirectWrites(session)
        self.followers = BucketedList(session, FOLLOWERS)
        self.following = BucketedList(session, FOLLOWING)
        ks = keyspace_of(session)
        self._edge = session.prepare(
            f"SELECT position FROM {ks}.follow_edges WHERE follower_id = ? AND followee_id = ?")
        self._put_edge = session.prepare(
            f"INSERT INTO {ks}.follow_edges (follower_id, followee_id, position) "
            "VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._drop_edge = session.prepare(
            f"DELETE FROM {ks}.follow_edges USING TIMESTAMP ? WHERE follower_id = ? "
            "AND followee_id = ?")

    def follow(self, follower_id: str, followee_id: str, position: int) -> None:
        current = self._position(follower_id, followee_id)
        if current is not None and current > position:
            return  # a redelivered older follow: the pair was followed again since
        writes = [*self.followers.writes_to_add(followee_id, position, follower_id, position),
                  *self.following.writes_to_add(follower_id, position, followee_id, position)]
        once = [*self.followers.names_to_add(followee_id, position),
                *self.following.names_to_add(follower_id, position)]
        edge = (self._put_edge, (follower_id, followee_id, position, position))
        self.buffer.remember(("follow_edges", follower_id, followee_id), position, position)
        if current is not None and current != position:
            # The edge last: it is what locates the older rows this unlinks, if this
            # crashes first and the follow is applied again.
            self.buffer.stage(writes + self._unlink(follower_id, followee_id, current, position),
                              once=once)
            self.buffer.stage([edge], last=True)
        else:
            # All at once: applied again after a crash part-way, the follow finds the
            # edge at its own position or missing, and writes everything again.
            self.buffer.stage([*writes, edge], once=once)

    def unfollow(self, follower_id: str, followee_id: str, position: int) -> None:
        current = self._position(follower_id, followee_id)
        if current is None or current > position:
            return  # not followed, or followed again after this (stale) unfollow
        # The edge last: if this crashes first, the unfollow applied again finds it.
        self.buffer.remember(("follow_edges", follower_id, followee_id), None, position)
        self.buffer.stage(self._unlink(follower_id, followee_id, current, position))
        self.buffer.stage([(self._drop_edge, (position, follower_id, followee_id))], last=True)

    def _position(self, follower_id: str, followee_id: str) -> int | None:
        staged: Any = self.buffer.recall(("follow_edges", follower_id, followee_id),
                                         _NOT_STAGED)
        if staged is not _NOT_STAGED:
            return staged  # type: ignore[no-any-return]
        row = self.session.execute(self._edge, (follower_id, followee_id)).one()
        return row.position if row else None

    def _unlink(self, follower_id: str, followee_id: str, position: int,
                at: int) -> list[Write]:
        return [*self.followers.writes_to_remove(followee_id, position, follower_id, at),
                *self.following.writes_to_remove(follower_id, position, followee_id, at)]


_NOT_STAGED = object()


class CassandraGraphQueries(GraphQueries):
    """Pages of followers and following, newest follow first (see BucketedList)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._followers = BucketedList(session, FOLLOWERS)
        self._following = BucketedList(session, FOLLOWING)
        self._edge = session.prepare(
            f"SELECT position FROM {keyspace_of(session)}.follow_edges "
            "WHERE follower_id = ? AND followee_id = ?")

    def followers(self, user_id: str, before: int | None, limit: int) -> list[Edge]:
        return [Edge(other, position)
                for other, position in self._followers.newest(user_id, before, limit)]

    def following(self, user_id: str, before: int | None, limit: int) -> list[Edge]:
        return [Edge(other, position)
                for other, position in self._following.newest(user_id, before, limit)]

    def follows(self, follower_id: str, followee_id: str) -> bool:
        return self.start_follows(follower_id, followee_id)()

    def start_follows(self, follower_id: str, followee_id: str) -> Callable[[], bool]:
        # follow_edges holds exactly the pairs that follow now (see CassandraGraphStore).
        pending = self.session.execute_async(self._edge, (follower_id, followee_id))
        return lambda: pending.result().one() is not None

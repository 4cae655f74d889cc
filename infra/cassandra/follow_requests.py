"""Follow requests view on Cassandra.

`follow_requests_by_user` lists one account's pending requests newest first (the
request's position is part of the key); `follow_request_pairs` says where a pair's
pending request is, for an end that only knows the pair, and answers "is it pending".
Every write is timestamped with its event's position, so a redelivered request older
than the end that removed it stays removed (its rows' tombstones are newer), and a stale
end cannot remove a newer request (it reads the newer position and leaves it). One
account's request events come from one aggregate, hence in order on one partition: the
read before an end's writes sees what the earlier events wrote.
"""

from __future__ import annotations

from collections.abc import Callable

from cassandra.cluster import Session
from photoshare.infra.cassandra.schema import keyspace_of
from photoshare.projections.follow_requests import (
    FollowRequest,
    FollowRequestQueries,
    FollowRequestStore,
)

TABLES_CQL = (
    # The pending requests to one account, newest first.
    # Bound: the account's pending requests (ended ones are deleted), tombstones aside.
    """CREATE TABLE IF NOT EXISTS {keyspace}.follow_requests_by_user (
        followee_id text, position bigint, follower_id text, requested_at text,
        PRIMARY KEY ((followee_id), position, follower_id))
        WITH CLUSTERING ORDER BY (position DESC, follower_id ASC)""",
    # Where a pair's pending request is. Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.follow_request_pairs (
        followee_id text, follower_id text, position bigint,
        PRIMARY KEY ((followee_id, follower_id)))""",
)

_NO_LIMIT = 2**62


class CassandraFollowRequestStore(FollowRequestStore):
    def __init__(self, session: Session) -> None:
        self.session = session
        ks = keyspace_of(session)
        self._pair = session.prepare(
            f"SELECT position FROM {ks}.follow_request_pairs "
            "WHERE followee_id = ? AND follower_id = ?")
        self._put_row = session.prepare(
            f"INSERT INTO {ks}.follow_requests_by_user (followee_id, position, follower_id,"
            " requested_at) VALUES (?, ?, ?, ?) USING TIMESTAMP ?")
        self._put_pair = session.prepare(
            f"INSERT INTO {ks}.follow_request_pairs (followee_id, follower_id, position)"
            " VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._drop_row = session.prepare(
            f"DELETE FROM {ks}.follow_requests_by_user USING TIMESTAMP ? "
            "WHERE followee_id = ? AND position = ? AND follower_id = ?")
        self._drop_pair = session.prepare(
            f"DELETE FROM {ks}.follow_request_pairs USING TIMESTAMP ? "
            "WHERE followee_id = ? AND follower_id = ?")

    def add(self, request: FollowRequest) -> None:
        at = request.position
        # The list's row first, the locator last: a crash in between is mended when the
        # request is applied again.
        self.session.execute(self._put_row, (request.followee_id, at, request.follower_id,
                                             request.requested_at, at))
        self.session.execute(self._put_pair, (request.followee_id, request.follower_id,
                                              at, at))

    def end(self, followee_id: str, follower_id: str, position: int) -> None:
        row = self.session.execute(self._pair, (followee_id, follower_id)).one()
        if row is None or row.position > position:
            return  # nothing pending, or a newer request than this (stale) end
        self.session.execute(self._drop_row, (position, followee_id, row.position, follower_id))
        self.session.execute(self._drop_pair, (position, followee_id, follower_id))


class CassandraFollowRequestQueries(FollowRequestQueries):
    def __init__(self, session: Session) -> None:
        self.session = session
        ks = keyspace_of(session)
        self._page = session.prepare(
            f"SELECT followee_id, follower_id, requested_at, position "
            f"FROM {ks}.follow_requests_by_user WHERE followee_id = ? AND position < ? LIMIT ?")
        self._pair = session.prepare(
            f"SELECT position FROM {ks}.follow_request_pairs "
            "WHERE followee_id = ? AND follower_id = ?")

    def pending(self, followee_id: str, before: int | None, limit: int) -> list[FollowRequest]:
        rows = self.session.execute(self._page, (followee_id, before if before is not None
                                                 else _NO_LIMIT, limit))
        return [FollowRequest(followee_id=row.followee_id, follower_id=row.follower_id,
                              requested_at=row.requested_at, position=row.position)
                for row in rows]

    def is_pending(self, followee_id: str, follower_id: str) -> bool:
        return self.start_is_pending(followee_id, follower_id)()

    def start_is_pending(self, followee_id: str, follower_id: str) -> Callable[[], bool]:
        pending = self.session.execute_async(self._pair, (followee_id, follower_id))
        return lambda: pending.result().one() is not None

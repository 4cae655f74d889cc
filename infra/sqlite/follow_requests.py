"""Follow requests view on SQLite: one row per (followee, follower) pair, pending or
ended, with the position of the event that last changed it (the guard against
redelivered or stale events; see `projections.follow_requests`)."""

from __future__ import annotations

import sqlite3

from photoshare.infra.settings import Settings
from photoshare.projections.follow_requests import (
    FollowRequest,
    FollowRequestQueries,
    FollowRequestsProjection,
    FollowRequestStore,
)
from photoshare.streams.runner import Binding

SCHEMA = """
CREATE TABLE IF NOT EXISTS follow_requests (
    followee_id TEXT NOT NULL,
    follower_id TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    PRIMARY KEY (followee_id, follower_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS follow_requests_pending
    ON follow_requests (followee_id, pending, position);
"""

_NO_LIMIT = 2**62


class SqliteFollowRequestStore(FollowRequestStore):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def add(self, request: FollowRequest) -> None:
        self.db.execute(
            "INSERT INTO follow_requests (followee_id, follower_id, requested_at, position,"
            " pending) VALUES (?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET pending = 1,"
            " requested_at = excluded.requested_at, position = excluded.position"
            " WHERE excluded.position > follow_requests.position",
            (request.followee_id, request.follower_id, request.requested_at, request.position))

    def end(self, followee_id: str, follower_id: str, position: int) -> None:
        # An ended row stays as a tombstone, so an older request delivered later stays ended.
        self.db.execute(
            "INSERT INTO follow_requests (followee_id, follower_id, requested_at, position,"
            " pending) VALUES (?, ?, '', ?, 0) ON CONFLICT DO UPDATE SET pending = 0,"
            " position = excluded.position WHERE excluded.position > follow_requests.position",
            (followee_id, follower_id, position))


class SqliteFollowRequestQueries(FollowRequestQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def pending(self, followee_id: str, before: int | None, limit: int) -> list[FollowRequest]:
        rows = self.db.execute(
            "SELECT followee_id, follower_id, requested_at, position FROM follow_requests"
            " WHERE followee_id = ? AND pending = 1 AND position < ?"
            " ORDER BY position DESC LIMIT ?",
            (followee_id, before if before is not None else _NO_LIMIT, limit))
        return [FollowRequest(**dict(row)) for row in rows]

    def is_pending(self, followee_id: str, follower_id: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM follow_requests WHERE followee_id = ? AND follower_id = ?"
            " AND pending = 1", (followee_id, follower_id)).fetchone() is not None


def binding(_: Settings) -> Binding:
    return Binding(FollowRequestsProjection(),
                   lambda connection, _outbox: SqliteFollowRequestStore(connection))


def queries(connection: sqlite3.Connection, _: Settings) -> SqliteFollowRequestQueries:
    return SqliteFollowRequestQueries(connection)

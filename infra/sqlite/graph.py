"""Social graph view on SQLite."""

from __future__ import annotations

import sqlite3

from photoshare.infra.settings import Settings
from photoshare.streams.runner import Binding

from photoshare.projections.graph import GraphProjection, Edge, GraphQueries, GraphStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    follower_id TEXT NOT NULL,
    followee_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS follows_by_follower ON follows (follower_id, position);
CREATE INDEX IF NOT EXISTS follows_by_followee ON follows (followee_id, position);
"""


class SqliteGraphStore(GraphStore):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def follow(self, follower_id: str, followee_id: str, position: int) -> None:
        self.db.execute(
            "INSERT INTO follows (follower_id, followee_id, position) VALUES (?, ?, ?) "
            "ON CONFLICT DO UPDATE SET position = excluded.position",
            (follower_id, followee_id, position))

    def unfollow(self, follower_id: str, followee_id: str, position: int) -> None:
        self.db.execute("DELETE FROM follows WHERE follower_id = ? AND followee_id = ? "
                        "AND position < ?", (follower_id, followee_id, position))


class SqliteGraphQueries(GraphQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def _edges(self, mine: str, other: str, user_id: str, before: int | None,
               limit: int) -> list[Edge]:
        rows = self.db.execute(
            f"SELECT {other} AS user_id, position FROM follows WHERE {mine} = ? "
            "AND position < ? ORDER BY position DESC LIMIT ?",
            (user_id, before if before is not None else 2**62, limit))
        return [Edge(row["user_id"], row["position"]) for row in rows]

    def followers(self, user_id: str, before: int | None, limit: int) -> list[Edge]:
        return self._edges("followee_id", "follower_id", user_id, before, limit)

    def following(self, user_id: str, before: int | None, limit: int) -> list[Edge]:
        return self._edges("follower_id", "followee_id", user_id, before, limit)

    def follows(self, follower_id: str, followee_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM follows WHERE follower_id = ? AND followee_id = ?",
                               (follower_id, followee_id)).fetchone() is not None


def binding(_: Settings) -> Binding:
    return Binding(GraphProjection(), lambda connection, _outbox: SqliteGraphStore(connection))


def queries(connection: sqlite3.Connection, _: Settings) -> SqliteGraphQueries:
    return SqliteGraphQueries(connection)

"""Block and mute sets on SQLite (projections/controls.py)."""

from __future__ import annotations

import functools
import sqlite3

from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.util import placeholders
from photoshare.projections.controls import (
    Controls,
    ControlQueries,
    ControlsProjection,
    ControlStore,
    Kind,
    blockers_limit,
    controls_read,
)
from photoshare.projections.graph import Edge
from photoshare.streams.runner import Binding

# Inactive rows (unblocked, unmuted) stay: their position guards the pair against a
# redelivered older event.
SCHEMA = """
CREATE TABLE IF NOT EXISTS people_controls (
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    active INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (kind, user_id, other_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS people_controls_by_user
    ON people_controls (user_id, kind, active, position);
CREATE INDEX IF NOT EXISTS people_controls_by_other
    ON people_controls (other_id, kind, active);
"""


class SqliteControlStore(ControlStore):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def set(self, kind: Kind, user_id: str, other_id: str, active: bool,
            position: int) -> None:
        self.db.execute(
            "INSERT INTO people_controls (kind, user_id, other_id, active, position) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET active = excluded.active, "
            "position = excluded.position WHERE excluded.position > people_controls.position",
            (kind, user_id, other_id, int(active), position))


class SqliteControlQueries(ControlQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def of(self, user_id: str) -> Controls:
        mine: dict[str, set[str]] = {"block": set(), "mute": set()}
        for row in self.db.execute(
                "SELECT kind, other_id FROM people_controls WHERE user_id = ? AND kind IN "
                "('block', 'mute') AND active = 1", (user_id,)):
            mine[row[0]].add(row[1])
        blockers = [row[0] for row in self.db.execute(
            "SELECT user_id FROM people_controls WHERE other_id = ? AND kind = 'block' "
            "AND active = 1 LIMIT ?", (user_id, blockers_limit()))]
        return controls_read(mine["block"], mine["mute"], blockers,
                             functools.partial(self.blockers_among, user_id))

    def blockers_among(self, user_id: str, candidates: list[str]) -> set[str]:
        if not candidates:
            return set()
        # Primary-key probes, (kind, blocker, blocked) each; a page's people at a time.
        return {row[0] for row in self.db.execute(
            "SELECT user_id FROM people_controls WHERE kind = 'block' AND user_id IN "
            f"({placeholders(candidates)}) AND other_id = ? AND active = 1",
            (*candidates, user_id))}

    def listed(self, kind: Kind, user_id: str, before: int | None, limit: int) -> list[Edge]:
        rows = self.db.execute(
            "SELECT other_id, position FROM people_controls WHERE user_id = ? AND kind = ? "
            "AND active = 1 AND position < ? ORDER BY position DESC LIMIT ?",
            (user_id, kind, before if before is not None else 2**62, limit))
        return [Edge(row[0], row[1]) for row in rows]


def binding(_: Settings) -> Binding:
    return Binding(ControlsProjection(), lambda connection, _outbox: SqliteControlStore(connection))


def queries(connection: sqlite3.Connection, _: Settings) -> SqliteControlQueries:
    return SqliteControlQueries(connection)

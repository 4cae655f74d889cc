"""Block and mute sets on Cassandra (projections/controls.py).

Every write carries `USING TIMESTAMP <position of its event>`: a block is an insert, an
unblock a delete of the same rows, so whichever of a pair's events is newest in the log
wins whatever the delivery order, and a redelivered older event changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent

from photoshare.infra.cassandra.schema import NO_POSITION_LIMIT, keyspace_of
from photoshare.projections.controls import (
    Controls,
    ControlQueries,
    ControlStore,
    Kind,
    blockers_limit,
    controls_read,
)
from photoshare.projections.graph import Edge

TABLES_CQL = (
    # Whom user_id blocks or mutes (kind), with when (the event's position). Read whole:
    # a person's blocks and mutes are what each of their reads filters by.
    # Bound: one row (~100 bytes) per person the user blocks or mutes.
    """CREATE TABLE IF NOT EXISTS {keyspace}.controls_by_user (
        user_id text, kind text, other_id text, position bigint,
        PRIMARY KEY ((user_id), kind, other_id))""",
    # Who blocks user_id: so that the blocked person's reads leave the blocker out. Read
    # up to BLOCKERS_LOADED rows at a time, past that by the ids of a page's people.
    # Bound: one row per person blocking the user.
    """CREATE TABLE IF NOT EXISTS {keyspace}.blockers_by_user (
        user_id text, blocker_id text,
        PRIMARY KEY ((user_id), blocker_id))""",
)


class CassandraControlStore(ControlStore):
    def __init__(self, session: Session) -> None:
        self.session = session
        ks = keyspace_of(session)
        self._put = session.prepare(
            f"INSERT INTO {ks}.controls_by_user (user_id, kind, other_id, position) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?")
        self._drop = session.prepare(
            f"DELETE FROM {ks}.controls_by_user USING TIMESTAMP ? WHERE user_id = ? "
            "AND kind = ? AND other_id = ?")
        self._put_blocker = session.prepare(
            f"INSERT INTO {ks}.blockers_by_user (user_id, blocker_id) VALUES (?, ?) "
            "USING TIMESTAMP ?")
        self._drop_blocker = session.prepare(
            f"DELETE FROM {ks}.blockers_by_user USING TIMESTAMP ? WHERE user_id = ? "
            "AND blocker_id = ?")

    def set(self, kind: Kind, user_id: str, other_id: str, active: bool,
            position: int) -> None:
        if active:
            writes = [(self._put, (user_id, kind, other_id, position, position))]
            if kind == "block":
                writes.append((self._put_blocker, (other_id, user_id, position)))
        else:
            writes = [(self._drop, (position, user_id, kind, other_id))]
            if kind == "block":
                writes.append((self._drop_blocker, (position, other_id, user_id)))
        # Two partitions: concurrent single-partition writes; each is idempotent, so a
        # crash between them is repaired by the redelivery.
        for result in execute_concurrent(self.session, writes, raise_on_first_error=True):
            result.result_or_exc  # noqa: B018 - raised above on failure


class CassandraControlQueries(ControlQueries):
    def __init__(self, session: Session) -> None:
        self.session = session
        ks = keyspace_of(session)
        self._mine = session.prepare(
            f"SELECT kind, other_id, position FROM {ks}.controls_by_user WHERE user_id = ?")
        self._blockers = session.prepare(
            f"SELECT blocker_id FROM {ks}.blockers_by_user WHERE user_id = ? LIMIT ?")
        self._blockers_among = session.prepare(
            f"SELECT blocker_id FROM {ks}.blockers_by_user WHERE user_id = ? "
            "AND blocker_id IN ?")
        self._of_kind = session.prepare(
            f"SELECT other_id, position FROM {ks}.controls_by_user WHERE user_id = ? "
            "AND kind = ?")

    def of(self, user_id: str) -> Controls:
        return self.start_of(user_id)()

    def start_of(self, user_id: str) -> Callable[[], Controls]:
        mine = self.session.execute_async(self._mine, (user_id,))
        blockers = self.session.execute_async(self._blockers, (user_id, blockers_limit()))

        def answer() -> Controls:
            rows = list(mine.result())
            return controls_read((r.other_id for r in rows if r.kind == "block"),
                                 (r.other_id for r in rows if r.kind == "mute"),
                                 [r.blocker_id for r in blockers.result()],
                                 functools.partial(self.blockers_among, user_id))
        return answer

    def blockers_among(self, user_id: str, candidates: list[str]) -> set[str]:
        if not candidates:
            return set()
        # One partition, its rows named by clustering key: one request for a page.
        return {row.blocker_id for row in self.session.execute(
            self._blockers_among, (user_id, candidates))}

    def listed(self, kind: Kind, user_id: str, before: int | None, limit: int) -> list[Edge]:
        # Clustered by other_id, so ordered by position here: the partition is one
        # person's blocks or mutes, read whole.
        below = NO_POSITION_LIMIT if before is None else before
        edges = [Edge(row.other_id, row.position)
                 for row in self.session.execute(self._of_kind, (user_id, kind))
                 if row.position < below]
        edges.sort(key=lambda edge: edge.position, reverse=True)
        return edges[:limit]

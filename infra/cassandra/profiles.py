"""Profiles view on Cassandra, with its counters (followers, following, photos) in Redis.

A profile row is written `USING TIMESTAMP <position>`, so the newest event's values win
whatever the delivery order, and a replayed registration never undoes a later edit.
Counts are Redis counters staged per event and applied exactly once (see
`infra.redis.counters`): a follow may be counted before its followee's registration
arrives, which needs no special case here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassandra.cluster import Session
from photoshare.infra.cassandra.schema import (
    FOLLOWERS,
    FOLLOWING,
    PHOTOS_BY_OWNER,
    BucketedList,
    keyspace_of,
    rows_in,
    rows_in_started,
)
from photoshare.infra.redis.counters import RedisCounters
from photoshare.projections.profiles import Profile, ProfileQueries, ProfileStore
from photoshare.streams.delivery import Delivery

TABLES_CQL = (
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.profiles (
        user_id text PRIMARY KEY, username text, display_name text, bio text,
        location text, avatar_key text, private boolean)""",  # private: null is false
    # Usernames are unique case-insensitively (the write side guarantees it).
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.profiles_by_username (
        username_key text PRIMARY KEY, user_id text)""",
)

COUNTERS = ("followers", "following", "photos")
_UPDATABLE = frozenset({"display_name", "bio", "location", "avatar_key", "private"})
_COLUMNS = "user_id, username, display_name, bio, location, avatar_key, private"


def counter_name(counter: str) -> str:
    return f"profiles.{counter}"


class CassandraProfileStore(ProfileStore):
    def __init__(self, session: Session, counters: RedisCounters, delivery: Delivery) -> None:
        self.session, self.counters, self.delivery = session, counters, delivery
        self._ks = keyspace_of(session)
        self._insert = session.prepare(
            f"INSERT INTO {self._ks}.profiles (user_id, username, display_name, bio, location)"
            " VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._claim = session.prepare(
            f"INSERT INTO {self._ks}.profiles_by_username (username_key, user_id) "
            "VALUES (?, ?) USING TIMESTAMP ?")
        self._updates: dict[tuple[str, ...], Any] = {}
        self._username_of = session.prepare(
            f"SELECT username FROM {self._ks}.profiles WHERE user_id = ?")
        self._remove = session.prepare(
            f"DELETE FROM {self._ks}.profiles USING TIMESTAMP ? WHERE user_id = ?")
        self._unclaim = session.prepare(
            f"DELETE FROM {self._ks}.profiles_by_username USING TIMESTAMP ? "
            "WHERE username_key = ?")

    def add(self, profile: Profile) -> None:
        at = self.delivery.position
        # The name's index first: a profile found by id is always found by name too.
        self.session.execute(self._claim, (profile.username.lower(), profile.user_id, at))
        self.session.execute(self._insert, (profile.user_id, profile.username,
                                            profile.display_name, profile.bio,
                                            profile.location, at))

    def update(self, user_id: str, **fields: object) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        names = tuple(sorted(fields))
        statement = self._updates.get(names)
        if statement is None:
            assignments = ", ".join(f"{name} = ?" for name in names)
            statement = self._updates[names] = self.session.prepare(
                f"UPDATE {self._ks}.profiles USING TIMESTAMP ? SET {assignments} "
                "WHERE user_id = ?")
        self.session.execute(statement, (self.delivery.position,
                                         *(fields[name] for name in names), user_id))

    def count(self, user_id: str, counter: str, delta: int) -> None:
        if counter not in COUNTERS:
            raise ValueError(f"unknown counter {counter}")
        self.counters.add(counter_name(counter), user_id, delta)

    def remove(self, user_id: str) -> None:
        # At the deletion's position: a later registration of the same username (it was
        # released) has a higher one, so its index row survives whatever the order.
        at = self.delivery.position
        row = self.session.execute(self._username_of, (user_id,)).one()
        if row is not None and row.username:
            self.session.execute(self._unclaim, (at, row.username.lower()))
        self.session.execute(self._remove, (at, user_id))


class CassandraProfileQueries(ProfileQueries):
    """Profiles with their counts from Redis; while Redis has lost its data (found with
    the counters themselves: `RedisCounters.saved_table`), the counts are counted from
    the graph and photos views' rows in Cassandra instead (slower, but right)."""

    def __init__(self, session: Session, counters: RedisCounters) -> None:
        self.session, self.counters = session, counters
        self._lists = {"followers": BucketedList(session, FOLLOWERS),
                       "following": BucketedList(session, FOLLOWING),
                       "photos": BucketedList(session, PHOTOS_BY_OWNER)}
        ks = keyspace_of(session)
        self._by_ids = session.prepare(
            f"SELECT {_COLUMNS} FROM {ks}.profiles WHERE user_id IN ?")
        self._summaries = session.prepare(
            f"SELECT user_id, username, display_name, avatar_key FROM {ks}.profiles "
            "WHERE user_id IN ?")
        self._by_name = session.prepare(
            f"SELECT user_id FROM {ks}.profiles_by_username WHERE username_key = ?")

    def by_id(self, user_id: str) -> Profile | None:
        return self.many([user_id]).get(user_id)

    def by_username(self, username: str) -> Profile | None:
        row = self.session.execute(self._by_name, (username.lower(),)).one()
        return self.by_id(row.user_id) if row else None

    def many(self, user_ids: list[str]) -> dict[str, Profile]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        [found_rows] = rows_in(self.session, [(self._by_ids, ids, ())])
        # A row with no username is an edit that arrived before its registration.
        by_id = {row.user_id: row for row in found_rows if row.username is not None}
        rows = [by_id[user_id] for user_id in ids if user_id in by_id]
        found = [row.user_id for row in rows]
        table = self.counters.saved_table([counter_name(c) for c in COUNTERS], found)
        if table is None:  # Redis has lost its data: count the rows
            counts = {counter: {user: self._lists[counter].count(user) for user in found}
                      for counter in COUNTERS}
        else:
            counts = {counter: table[counter_name(counter)] for counter in COUNTERS}
        return {row.user_id: Profile(
            user_id=row.user_id, username=row.username, display_name=row.display_name or "",
            bio=row.bio or "", location=row.location or "", avatar_key=row.avatar_key,
            private=bool(row.private),
            **{counter: counts[counter][row.user_id] for counter in COUNTERS})
            for row in rows}

    def summaries(self, user_ids: list[str]) -> dict[str, tuple[str, str, str | None]]:
        return self.start_summaries(user_ids)()

    def start_summaries(self, user_ids: list[str]
                        ) -> Callable[[], dict[str, tuple[str, str, str | None]]]:
        pending = rows_in_started(self.session,
                                  [(self._summaries, list(dict.fromkeys(user_ids)), ())])

        def answer() -> dict[str, tuple[str, str, str | None]]:
            [rows] = pending()
            return {row.user_id: (row.username, row.display_name or "", row.avatar_key)
                    for row in rows if row.username is not None}
        return answer

"""Profiles view on SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import fields

from photoshare.infra.settings import Settings
from photoshare.streams.runner import Binding

from photoshare.infra.sqlite.util import placeholders
from photoshare.projections.profiles import ProfilesProjection, Profile, ProfileQueries, ProfileStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    bio TEXT NOT NULL,
    location TEXT NOT NULL,
    avatar_key TEXT,
    followers INTEGER NOT NULL DEFAULT 0,
    following INTEGER NOT NULL DEFAULT 0,
    photos INTEGER NOT NULL DEFAULT 0,
    private INTEGER NOT NULL DEFAULT 0
);
-- Accounts deleted: a late redelivery of a registration (or of a count) adds nothing.
CREATE TABLE IF NOT EXISTS profile_deleted_users (
    user_id TEXT PRIMARY KEY
) WITHOUT ROWID;
-- Counts for a profile that has not arrived yet (a follow of a user can be delivered
-- before the registration, from another Kafka partition); folded in by `add`.
CREATE TABLE IF NOT EXISTS profile_early_counts (
    user_id TEXT NOT NULL,
    counter TEXT NOT NULL,
    delta INTEGER NOT NULL,
    PRIMARY KEY (user_id, counter)
) WITHOUT ROWID;
"""

_COUNTERS = frozenset({"followers", "following", "photos"})
_UPDATABLE = frozenset({"display_name", "bio", "location", "avatar_key", "private"})
_COLUMNS = ("user_id, username, display_name, bio, location, avatar_key, followers, following, "
            "photos, private")
# Columns added to `profiles` after it was first released: a view database made before
# them gains them at start (`migrate`), with the value a rebuild would give its rows.
_ADDED_COLUMNS = {"private": "INTEGER NOT NULL DEFAULT 0"}


class SqliteProfileStore(ProfileStore):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def add(self, profile: Profile) -> None:
        if self._deleted(profile.user_id):
            return
        added = self.db.execute(
            "INSERT INTO profiles (user_id, username, username_key, display_name, bio, location,"
            " avatar_key) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
            (profile.user_id, profile.username, profile.username.lower(), profile.display_name,
             profile.bio, profile.location, profile.avatar_key)).rowcount
        if added:
            early = self.db.execute(
                "DELETE FROM profile_early_counts WHERE user_id = ? RETURNING counter, delta",
                (profile.user_id,)).fetchall()
            for row in early:
                self.count(profile.user_id, row["counter"], row["delta"])

    def update(self, user_id: str, **fields: object) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE profiles SET {assignments} WHERE user_id = ?",
                        (*fields.values(), user_id))

    def count(self, user_id: str, counter: str, delta: int) -> None:
        if counter not in _COUNTERS:
            raise ValueError(f"unknown counter {counter}")
        counted = self.db.execute(
            f"UPDATE profiles SET {counter} = max(0, {counter} + ?) WHERE user_id = ?",
            (delta, user_id)).rowcount
        if not counted and not self._deleted(user_id):
            self.db.execute(
                "INSERT INTO profile_early_counts (user_id, counter, delta) VALUES (?, ?, ?) "
                "ON CONFLICT DO UPDATE SET delta = delta + excluded.delta",
                (user_id, counter, delta))

    def remove(self, user_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO profile_deleted_users VALUES (?)", (user_id,))
        self.db.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
        self.db.execute("DELETE FROM profile_early_counts WHERE user_id = ?", (user_id,))


    def _deleted(self, user_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM profile_deleted_users WHERE user_id = ?",
                               (user_id,)).fetchone() is not None


def _profile(row: sqlite3.Row) -> Profile:
    # _COLUMNS are Profile's fields, in order (checked below); `private` is stored 0 / 1.
    *rest, private = row
    return Profile(*rest, private=bool(private))


assert _COLUMNS.split(", ") == [field.name for field in fields(Profile)]


class SqliteProfileQueries(ProfileQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def by_id(self, user_id: str) -> Profile | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM profiles WHERE user_id = ?",
                              (user_id,)).fetchone()
        return _profile(row) if row else None

    def by_username(self, username: str) -> Profile | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM profiles WHERE username_key = ?",
                              (username.lower(),)).fetchone()
        return _profile(row) if row else None

    def many(self, user_ids: list[str]) -> dict[str, Profile]:
        if not user_ids:
            return {}
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM profiles WHERE user_id IN ({placeholders(user_ids)})",
            list(user_ids))
        return {row["user_id"]: _profile(row) for row in rows}

    def summaries(self, user_ids: list[str]) -> dict[str, tuple[str, str, str | None]]:
        if not user_ids:
            return {}
        rows = self.db.execute(
            "SELECT user_id, username, display_name, avatar_key FROM profiles "
            f"WHERE user_id IN ({placeholders(user_ids)})", list(user_ids))
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def migrate(connection: sqlite3.Connection) -> None:
    """Give a `profiles` table made before private accounts its `private` column (every
    profile public: no event could have made one private before). Run it in a
    transaction."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(profiles)")}
    for name, definition in _ADDED_COLUMNS.items():
        if name not in present:
            connection.execute(f"ALTER TABLE profiles ADD COLUMN {name} {definition}")


def binding(_: Settings) -> Binding:
    return Binding(ProfilesProjection(), lambda connection, _outbox: SqliteProfileStore(connection))


def queries(connection: sqlite3.Connection, _: Settings) -> SqliteProfileQueries:
    return SqliteProfileQueries(connection)

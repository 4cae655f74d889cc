"""The embedded profile's key store (`infra.crypto.sealing.PersonalKeys`): a table in
the event store's own SQLite file, so the log and its keys are backed up and moved
together, and deleting an account needs no second file.

`secure_delete` makes SQLite overwrite a destroyed key's bytes with zeros instead of
leaving them in a free page of the file; the write-ahead log is checkpointed right after,
so no copy of the key remains in it either.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from photoshare.infra.crypto.sealing import new_key

_SCHEMA = ("CREATE TABLE IF NOT EXISTS personal_keys ("
           " subject TEXT PRIMARY KEY, key BLOB, created_at REAL NOT NULL,"
           " destroyed_at REAL)")


class SqlitePersonalKeys:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, timeout=10, check_same_thread=False,
                                           isolation_level=None)
        self._connection.execute("PRAGMA secure_delete=ON")
        self._connection.execute(_SCHEMA)

    def lookup(self, subject: str, *, create: bool) -> tuple[bytes | None, bool]:
        with self._lock:
            row = self._row(subject)
            if row is None and create:
                self._connection.execute(
                    "INSERT OR IGNORE INTO personal_keys (subject, key, created_at)"
                    " VALUES (?, ?, ?)", (subject, new_key(), time.time()))
                row = self._row(subject)
        if row is None:
            return None, False
        return (bytes(row[0]) if row[0] is not None else None), row[1] is not None

    def destroy(self, subject: str) -> None:
        with self._lock:
            now = time.time()
            self._connection.execute(
                "INSERT INTO personal_keys (subject, key, created_at, destroyed_at)"
                " VALUES (?, NULL, ?, ?) ON CONFLICT (subject) DO UPDATE"
                " SET key = NULL, destroyed_at = coalesce(destroyed_at, excluded.destroyed_at)",
                (subject, now, now))
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _row(self, subject: str) -> tuple | None:
        return self._connection.execute(
            "SELECT key, destroyed_at FROM personal_keys WHERE subject = ?",
            (subject,)).fetchone()

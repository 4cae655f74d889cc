"""Revoked access tokens (`DELETE /v1/sessions/current`), checked by both APIs.

A token is stateless until its owner logs out: then its id (`jti`) is kept here until
the token would have expired anyway, and every API refuses it. `SqliteRevocations` keeps
them in a file of the data dir (the embedded profile, or every process of one machine);
`infra.redis.revocation` keeps them in Redis for the cluster.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from photoshare.infra.sqlite.viewdb import make_private_sqlite_file


class TokenRevocations(Protocol):
    def revoke(self, token_id: str, expires_at: int) -> None:
        """Refuse token `token_id` from now until `expires_at` (Unix seconds)."""

    def is_revoked(self, token_id: str) -> bool: ...

    def close(self) -> None: ...


class SqliteRevocations:
    """Revoked token ids in a SQLite file, one connection per thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        make_private_sqlite_file(path)  # like every file of the data dir
        self._path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._connection() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS revoked_tokens ("
                               " token_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)")

    def revoke(self, token_id: str, expires_at: int) -> None:
        with self._connection() as connection:
            # Expired ids can never be presented again: forget them while here.
            connection.execute("DELETE FROM revoked_tokens WHERE expires_at < ?",
                               (int(time.time()),))
            connection.execute("INSERT OR IGNORE INTO revoked_tokens VALUES (?, ?)",
                               (token_id, expires_at))

    def is_revoked(self, token_id: str) -> bool:
        row = self._connection().execute(
            "SELECT 1 FROM revoked_tokens WHERE token_id = ?", (token_id,)).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=10, check_same_thread=False,
                                         isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

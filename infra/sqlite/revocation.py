"""Revoked token ids in a SQLite file of the data dir (`infra.auth.revocation`)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from photoshare.infra.sqlite.viewdb import make_private_sqlite_file


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

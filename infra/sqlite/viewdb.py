"""The embedded profile's view database: one SQLite file for every read view.

One writer (the projection runner) changes views in transactions that also record each
projection's position; readers get their own connection per thread and, thanks to WAL,
never wait for the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_POSITIONS = """
CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
-- The cluster profile's workers: per Kafka partition ("topic:partition"), the position
-- of the last event applied from it, committed with the view changes it caused.
CREATE TABLE IF NOT EXISTS partition_checkpoints (
    partition TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""
_BOOKKEEPING = ("projection_positions", "partition_checkpoints")


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=30)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=OFF")
    return connection


class ViewDatabase:
    """Schema, transactions, positions and per-thread read connections of the views."""

    def __init__(self, path: Path, schemas: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = connect(path)
        self._write_lock = threading.Lock()
        self._readers = threading.local()
        self._all_readers: list[sqlite3.Connection] = []
        self._writer.executescript(_POSITIONS + "".join(schemas))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of view changes: all of them and their positions, or none."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        connection = getattr(self._readers, "connection", None)
        if connection is None:
            connection = connect(self.path)
            self._readers.connection = connection
            self._all_readers.append(connection)
        return connection

    def positions(self) -> dict[str, int]:
        return self.read_positions(self.reader())

    @staticmethod
    def read_positions(connection: sqlite3.Connection) -> dict[str, int]:
        rows = connection.execute("SELECT name, position FROM projection_positions")
        return {row[0]: row[1] for row in rows}

    def checkpoints(self) -> dict[str, int]:
        return self.read_checkpoints(self.reader())

    @staticmethod
    def read_checkpoints(connection: sqlite3.Connection) -> dict[str, int]:
        rows = connection.execute("SELECT partition, position FROM partition_checkpoints")
        return {row[0]: row[1] for row in rows}

    @staticmethod
    def set_checkpoints(connection: sqlite3.Connection, checkpoints: dict[str, int]) -> None:
        connection.executemany(
            "INSERT INTO partition_checkpoints (partition, position) VALUES (?, ?) "
            "ON CONFLICT (partition) DO UPDATE SET position = excluded.position",
            checkpoints.items())

    @staticmethod
    def set_position(connection: sqlite3.Connection, name: str, position: int) -> None:
        connection.execute(
            "INSERT INTO projection_positions (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every view table's rows, sorted: for comparing views in tests and rebuilds."""
        connection = self.reader()
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT IN ('projection_positions', 'partition_checkpoints') "
            "AND name NOT LIKE '%\\_fts\\_%' ESCAPE '\\' ORDER BY name")]
        return {table: sorted(tuple(row) for row in connection.execute(f'SELECT * FROM "{table}"'))
                for table in tables}

    def close(self) -> None:
        for connection in [self._writer, *self._all_readers]:
            connection.close()

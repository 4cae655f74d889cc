"""The embedded profile's view database: one SQLite file for every read view.

One writer (the projection runner) changes views in transactions that also record each
projection's position; readers get their own connection per thread and, thanks to WAL,
never wait for the writer. The file (and its -wal/-shm side files) is the owner's alone.
"""

from __future__ import annotations

import logging
import os
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

# Views and the event store hold personal data (emails, password hashes): owner-only files in
# an owner-only directory.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_SIDE_FILES = ("-wal", "-shm", "-journal")

log = logging.getLogger("photoshare.sqlite")


def make_private_sqlite_file(path: Path) -> None:
    """Create the SQLite database file ``path`` with mode 0600 unless it exists, and tighten
    it and its side files to 0600 if they are looser (files made before this rule).

    Call it before SQLite opens the file: SQLite makes the -wal, -shm and -journal files with
    the database file's own mode, so those come out 0600 too.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    for file in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(PRIVATE_FILE_MODE)
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's file: not ours to change; say so, go on
            log.warning("cannot make %s private (mode 0600): permission denied", file)


# Reads of the views through memory-mapped I/O, up to this many bytes of the file: a page
# of the timeline reads random rows of several tables, and through SQLite's default 2 MB
# page cache each B-tree page read was a read() system call (mmap took a timeline page's
# queries from ~250 to ~175 us on the 20,000-user bench graph). Address space only: the
# pages are the OS's file cache, shared by every connection and process. As much as
# SQLite maps (it lowers the request to its compile-time SQLITE_MAX_MMAP_SIZE, 2 GB in
# the usual builds): a 1 GB window left half of the 100,000-user graph's 1.97 GB of views
# to read() calls (timeline 1.04x, photo page 1.06x, notifications 1.08x the requests/s
# at 32 connections with all of it mapped, side by side in the same rounds).
MMAP_BYTES = 1 << 40


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=30)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=OFF")
    connection.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return connection


class ViewDatabase:
    """Schema, transactions, positions and per-thread read connections of the views."""

    def __init__(self, path: Path, schemas: Sequence[str]) -> None:
        path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        make_private_sqlite_file(path)
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

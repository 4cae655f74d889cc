"""Idempotency-Key answers in a SQLite file of the data dir (`infra.http.idempotency`)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from photoshare.infra.http.idempotency import (
    IdempotencyStore,
    Reservation,
    Reserved,
    StoredAnswer,
    decode_entry,
    encode_entry,
    new_reservation,
    reservation_entry,
)
from photoshare.infra.sqlite.viewdb import make_private_sqlite_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    entry BLOB NOT NULL,       -- encode_entry(): a reservation or an answer
    token TEXT,                -- the holder's token while in flight, NULL once answered
    expires_at REAL NOT NULL   -- seconds since the epoch
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
"""


class SqliteIdempotencyStore(IdempotencyStore):
    """Answers in a SQLite file of the data dir (readable by its owner only), shared by
    every process of one machine; `BEGIN IMMEDIATE` makes `reserve` atomic across them.
    Expired rows are ignored at once and deleted about once a minute."""

    PURGE_EVERY_SECONDS = 60.0

    def __init__(self, path: Path, *, ttl_seconds: float, lock_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(ttl_seconds=ttl_seconds, lock_seconds=lock_seconds)
        path.parent.mkdir(parents=True, exist_ok=True)
        make_private_sqlite_file(path)  # like every file of the data dir
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._clock = clock
        self._next_purge = 0.0

    def reserve(self, key: str, fingerprint: str) -> Reservation:
        now = self._clock()
        with self._lock, self._transaction():
            if now >= self._next_purge:
                self._db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (now,))
                self._next_purge = now + self.PURGE_EVERY_SECONDS
            row = self._db.execute(
                "SELECT entry FROM idempotency_keys WHERE key = ? AND expires_at > ?",
                (key, now)).fetchone()
            if row is not None:
                return decode_entry(row[0])
            reservation = new_reservation(fingerprint)
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency_keys (key, entry, token, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (key, reservation_entry(reservation), reservation.token,
                 now + self.lock_seconds))
            return reservation

    def complete(self, key: str, reservation: Reserved, answer: StoredAnswer) -> bool:
        now = self._clock()
        with self._lock:
            return self._db.execute(
                "UPDATE idempotency_keys SET entry = ?, token = NULL, expires_at = ? "
                "WHERE key = ? AND token = ? AND expires_at > ?",
                (encode_entry(reservation.fingerprint, answer=answer),
                 now + self.ttl_seconds, key, reservation.token, now)).rowcount == 1

    def release(self, key: str, reservation: Reserved) -> None:
        with self._lock:
            self._db.execute("DELETE FROM idempotency_keys WHERE key = ? AND token = ?",
                             (key, reservation.token))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE: the write lock is taken before the read, so two processes
        # reserving one key cannot both find it free.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

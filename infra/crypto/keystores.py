"""Opening the key store of a profile: a table in the embedded event store's SQLite
file, or in the cluster's PostgreSQL event database."""

from __future__ import annotations

import sqlite3

from photoshare.infra.crypto.sealing import CachedKeys, Sealer
from photoshare.infra.settings import Settings


def open_personal_keys(settings: Settings, *, ttl_seconds: float = 30.0) -> CachedKeys:
    if settings.profile == "cluster":
        from photoshare.infra.postgres.personal_keys import PostgresPersonalKeys
        store = PostgresPersonalKeys(settings.postgres_dsn, settings.postgres_schema)
    else:
        from photoshare.infra.sqlite.personal_keys import SqlitePersonalKeys
        store = SqlitePersonalKeys(settings.event_store_path)
    return CachedKeys(store, ttl_seconds=ttl_seconds)


def open_sealer(settings: Settings) -> Sealer:
    return Sealer(open_personal_keys(settings))


def embedded_keys_exist(settings: Settings) -> bool:
    """Whether the embedded event store's file has a key table (a store written before
    crypto-shredding has none, and reading it needs none)."""
    connection = sqlite3.connect(f"file:{settings.event_store_path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'personal_keys'"
                                  ).fetchone() is not None
    finally:
        connection.close()

"""The cluster profile's key store (`infra.crypto.sealing.PersonalKeys`): a table in the
event store's PostgreSQL database, read by the write API (sealing new events, opening
old ones), the relay (which publishes sealed events only) and the workers (which open
them to build the views).

A destroyed key's row is updated to NULL and the table vacuumed at once, so the old row
version holding the key does not linger in the table's pages until autovacuum. (Base
backups and WAL archives taken before still hold it: keep them no longer than you
promise to erase data within.)
"""

from __future__ import annotations

import threading

import psycopg
from psycopg import sql

from photoshare.infra.postgres.schema import create_table

from photoshare.infra.crypto.sealing import new_key

TABLE = "photoshare_personal_keys"


class PostgresPersonalKeys:
    def __init__(self, dsn: str, schema: str = "public") -> None:
        self._dsn = dsn
        self._table = sql.Identifier(schema, TABLE)
        self._lock = threading.Lock()
        self._connection = psycopg.connect(dsn, autocommit=True)
        create_table(self._connection, sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (subject TEXT PRIMARY KEY, key BYTEA,"
            " created_at TIMESTAMPTZ NOT NULL DEFAULT now(), destroyed_at TIMESTAMPTZ)"
        ).format(self._table))

    def lookup(self, subject: str, *, create: bool) -> tuple[bytes | None, bool]:
        with self._lock:
            row = self._query(sql.SQL("SELECT key, destroyed_at FROM {} WHERE subject = %s"),
                              (subject,))
            if row is None and create:
                self._query(sql.SQL("INSERT INTO {} (subject, key) VALUES (%s, %s)"
                                    " ON CONFLICT (subject) DO NOTHING"),
                            (subject, new_key()), fetch=False)
                row = self._query(sql.SQL("SELECT key, destroyed_at FROM {}"
                                          " WHERE subject = %s"), (subject,))
        if row is None:
            return None, False
        return (bytes(row[0]) if row[0] is not None else None), row[1] is not None

    def destroy(self, subject: str) -> None:
        with self._lock:
            self._query(sql.SQL(
                "INSERT INTO {} (subject, key, destroyed_at) VALUES (%s, NULL, now())"
                " ON CONFLICT (subject) DO UPDATE SET key = NULL,"
                " destroyed_at = coalesce({}.destroyed_at, now())"),
                (subject,), fetch=False, twice=True)
            self._query(sql.SQL("VACUUM {}"), (), fetch=False)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _query(self, statement: sql.SQL, params: tuple, *, fetch: bool = True,
               twice: bool = False) -> tuple | None:
        query = statement.format(self._table, self._table) if twice else \
            statement.format(self._table)
        try:
            cursor = self._connection.execute(query, params)
        except psycopg.OperationalError:  # the server restarted: reconnect once
            self._connection = psycopg.connect(self._dsn, autocommit=True)
            cursor = self._connection.execute(query, params)
        return cursor.fetchone() if fetch else None

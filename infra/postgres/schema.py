"""Creating the cluster's own PostgreSQL tables when several processes start at once.

`CREATE TABLE IF NOT EXISTS` is not safe under concurrency in PostgreSQL: two sessions
that both find the table missing both try to create it, and one fails with a unique
violation on the catalog (`pg_type_typname_nsp_index`). Every role that needs a table
(the relay, the read APIs, the write API, the workers) creates it on start, so the
creations are serialized by one advisory lock: transaction-scoped for our own tables,
held by a session of its own around `eventsourcing`'s (`schema_lock`), which it creates
on its own connections when an application opens.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

_SCHEMA_LOCK_ID = zlib.crc32(b"photoshare-schema")


def create_table(connection: psycopg.Connection[Any], statement: Any) -> None:
    """Run one `CREATE TABLE IF NOT EXISTS` statement, one process at a time."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        connection.execute(statement)


@contextmanager
def schema_lock(dsn: str) -> Iterator[None]:
    """Hold the schema lock while the block runs: for table creations made on other
    connections (`eventsourcing` opening an application). Nothing in the block may wait
    for the lock itself (`create_table`): it would wait for this very session."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_ID,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_ID,))

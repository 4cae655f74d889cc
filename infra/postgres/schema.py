"""Creating the cluster's own PostgreSQL tables when several processes start at once.

`CREATE TABLE IF NOT EXISTS` is not safe under concurrency in PostgreSQL: two sessions
that both find the table missing both try to create it, and one fails with a unique
violation on the catalog (`pg_type_typname_nsp_index`). Every role that needs a table
(the relay, the read APIs, the write API, the workers) creates it on start, so the
creations are serialized by one transaction-scoped advisory lock.
"""

from __future__ import annotations

import zlib
from typing import Any

import psycopg

_SCHEMA_LOCK_ID = zlib.crc32(b"photoshare-schema")


def create_table(connection: psycopg.Connection[Any], statement: Any) -> None:
    """Run one `CREATE TABLE IF NOT EXISTS` statement, one process at a time."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        connection.execute(statement)

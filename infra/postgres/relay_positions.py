"""Where the relay keeps its place in the log: a row in PostgreSQL, beside the events.

The row holds the last log position whose events the broker has acknowledged, and, per
topic partition, the last position published to it. The read side uses the latter to
tell how far the views have got (a partition whose consumer has applied everything
published to it is done up to the relay's position), without asking the broker for end
offsets. An advisory lock makes a second relay a standby instead of a second publisher.
"""

from __future__ import annotations

import json
import zlib

import psycopg

from photoshare.infra.postgres.schema import create_table

RELAY_NAME = "photoshare-relay"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS photoshare_relay (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    partitions JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
_LOCK_ID = zlib.crc32(RELAY_NAME.encode())


class RelayPositions:
    def __init__(self, dsn: str, name: str = RELAY_NAME) -> None:
        self.dsn, self.name = dsn, name
        self._connection = psycopg.connect(dsn, autocommit=True)
        create_table(self._connection, _SCHEMA)

    def load(self) -> tuple[int, dict[str, int]]:
        """(position, {partition key: last position published there})."""
        query = "SELECT position, partitions FROM photoshare_relay WHERE name = %s"
        try:
            row = self._connection.execute(query, (self.name,)).fetchone()
        except psycopg.OperationalError:
            # The server restarted or dropped us: readers (the read API polls this) get a
            # new connection; the relay itself exits and is restarted (its lock is gone).
            self._connection = psycopg.connect(self.dsn, autocommit=True)
            row = self._connection.execute(query, (self.name,)).fetchone()
        return (row[0], dict(row[1])) if row else (0, {})

    def save(self, position: int, partitions: dict[str, int]) -> None:
        try:
            self._save(position, partitions)
        except psycopg.OperationalError as error:
            # The advisory lock went with the connection: another relay may be active now.
            # Exit (not retry) and let the supervisor or Kubernetes start this one afresh.
            raise SystemExit(f"relay lost its PostgreSQL connection ({error}); exiting "
                             "to be restarted") from error

    def _save(self, position: int, partitions: dict[str, int]) -> None:
        self._connection.execute(
            "INSERT INTO photoshare_relay (name, position, partitions) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "partitions = excluded.partitions, updated_at = now()",
            (self.name, position, json.dumps(partitions)))

    def try_lock(self) -> bool:
        """Become the active relay (held until this connection closes)."""
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_ID,)).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._connection.close()

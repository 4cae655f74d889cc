"""Which version of a cluster view is live, and the rebuild of its next one: a row per
view in PostgreSQL, beside the events.

`photoshare projections rebuild NAME` on the cluster profile (streams/cluster_rebuild.py)
builds version `building` of a view beside version `live`, recording how far it got
(`position`) so an interrupted rebuild resumes. For the switch it sets `switching`: while
it is set, the workers apply no batch at all (`LiveVersions.live` raises ViewSwitching and
the worker tries the batch again shortly, `streams.worker.SWITCH_POLL_SECONDS`); the
rebuild applies the last events to the new version, switches the readers, and records
`live = building` with `switching` off, after which the workers apply to the new
version.

Why the workers read this row for every batch while a rebuild runs, and may keep it for
`QUIET_SECONDS` otherwise: an event committed to the log after `switching` was set must
never be applied to the old version only, and it reaches a worker only after its commit,
so a worker that reads the row after receiving its batch (not from a cache) sees the
switch. A worker that has seen no rebuild at all keeps that answer for `QUIET_SECONDS`,
and the rebuild sets `switching` no earlier than `SWITCH_AFTER_SECONDS` after the row
was created: by then every such cached answer has expired.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

import psycopg

from photoshare.infra.postgres.schema import create_table

QUIET_SECONDS = 2.0
SWITCH_AFTER_SECONDS = 2 * QUIET_SECONDS + 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photoshare_view_versions (
    view TEXT PRIMARY KEY,
    live INTEGER NOT NULL,
    building INTEGER,
    position BIGINT NOT NULL DEFAULT 0,
    switching BOOLEAN NOT NULL DEFAULT false,
    started_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class ViewSwitching(RuntimeError):
    """A rebuilt view is being switched in: the batch waits (the worker tries it again)."""


class RebuildRunning(RuntimeError):
    """Another `projections rebuild` of the same view holds its lock."""


@dataclass(frozen=True)
class ViewVersion:
    view: str
    live: int
    building: int | None
    position: int
    switching: bool


def _connect(dsn: str) -> psycopg.Connection[Any]:
    connection = psycopg.connect(dsn, autocommit=True)
    create_table(connection, _SCHEMA)
    return connection


def _lock_key(view: str) -> int:
    return zlib.crc32(f"photoshare-rebuild:{view}".encode())


def _rows(connection: psycopg.Connection[Any]) -> dict[str, ViewVersion]:
    rows = connection.execute("SELECT view, live, building, position, switching "
                              "FROM photoshare_view_versions").fetchall()
    return {row[0]: ViewVersion(*row) for row in rows}


class LiveVersions:
    """The workers' side: the live version of a view, for each batch (module docstring).
    Connects on first use, so a process that never applies a batch never needs it."""

    def __init__(self, dsn: str, *, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.dsn, self.quiet_seconds = dsn, quiet_seconds
        self._connection: psycopg.Connection[Any] | None = None
        self._rows: dict[str, ViewVersion] = {}
        self._read_at = float("-inf")

    def live(self, view: str) -> int | None:
        """The view's live version (None: never rebuilt, the stores' first version).
        Raises ViewSwitching while a rebuild switches it in."""
        quiet = not any(row.building is not None for row in self._rows.values())
        if not quiet or time.monotonic() - self._read_at >= self.quiet_seconds:
            self._rows, self._read_at = self._read(), time.monotonic()
        row = self._rows.get(view)
        if row is None:
            return None
        if row.switching:
            raise ViewSwitching(f"view {view} is being switched from version {row.live} "
                                f"to {row.building} by `photoshare projections rebuild`")
        return row.live

    def _read(self) -> dict[str, ViewVersion]:
        try:
            if self._connection is None:
                self._connection = _connect(self.dsn)
            return _rows(self._connection)
        except psycopg.OperationalError:
            # A restarted server: reconnect once, else fail the batch (tried again later).
            if self._connection is not None:
                self._connection.close()
            self._connection = _connect(self.dsn)
            return _rows(self._connection)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


class ViewVersions:
    """The rebuild's side: one row per view (module docstring)."""

    def __init__(self, dsn: str) -> None:
        self._connection = _connect(dsn)

    def get(self, view: str) -> ViewVersion | None:
        return _rows(self._connection).get(view)

    def running(self, view: str) -> bool:
        """Whether a `projections rebuild` of the view holds its lock (in any session):
        a row with `building` and no lock is a rebuild that stopped."""
        # A bigint advisory key shows in pg_locks as its high and low 32 bits.
        row = self._connection.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
            "granted AND classid = 0 AND objid = %s AND objsubid = 1)",
            (_lock_key(view),)).fetchone()
        return bool(row and row[0])

    def all(self) -> list[ViewVersion]:
        """Every view ever rebuilt, by name (for `projections status`)."""
        return sorted(_rows(self._connection).values(), key=lambda row: row.view)

    def lock(self, view: str) -> None:
        """One rebuild of a view at a time (held until `close`)."""
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)",
                                       (_lock_key(view),)).fetchone()
        if not (row and row[0]):
            raise RebuildRunning(f"another `photoshare projections rebuild {view}` is running")

    def start(self, view: str, live: int) -> ViewVersion:
        """Begin building version live + 1, or go on with the rebuild already recorded."""
        self._connection.execute(
            "INSERT INTO photoshare_view_versions (view, live) VALUES (%s, %s) "
            "ON CONFLICT (view) DO NOTHING", (view, live))
        self._connection.execute(
            "UPDATE photoshare_view_versions SET building = live + 1, position = 0, "
            "switching = false, started_at = now(), updated_at = now() "
            "WHERE view = %s AND building IS NULL", (view,))
        started = self.get(view)
        assert started is not None
        return started

    def advance(self, view: str, position: int) -> None:
        self._connection.execute(
            "UPDATE photoshare_view_versions SET position = %s, updated_at = now() "
            "WHERE view = %s", (position, view))

    def seconds_since_start(self, view: str) -> float:
        row = self._connection.execute(
            "SELECT extract(epoch FROM now() - started_at) FROM photoshare_view_versions "
            "WHERE view = %s", (view,)).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def set_switching(self, view: str, switching: bool) -> None:
        self._connection.execute(
            "UPDATE photoshare_view_versions SET switching = %s, updated_at = now() "
            "WHERE view = %s", (switching, view))

    def switched(self, view: str, position: int) -> None:
        """The new version is live: the workers apply to it from their next batch."""
        self._connection.execute(
            "UPDATE photoshare_view_versions SET live = building, building = NULL, "
            "position = %s, switching = false, updated_at = now() WHERE view = %s",
            (position, view))

    def close(self) -> None:
        self._connection.close()

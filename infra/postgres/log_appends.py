"""Word from PostgreSQL that the event log has grown, so the relay publishes at once.

`eventsourcing`'s PostgreSQL recorder sends a `NOTIFY` on its own channel (named after
its events table) in every transaction that appends events, delivered when the append
commits. `LogAppends` listens on that channel on a connection of its own and lets the
relay sleep until an append is announced (or its poll interval has passed, whichever is
first): without it the relay only looked every `relay_poll_seconds`, which added half
that interval to every event's way to the views on average, and all of it at worst.

The relay still polls: a notification is a wake-up, never the only way to find events.
If the listening connection breaks (PostgreSQL restarted, a network cut), the relay
falls back to its plain interval and the connection is made again on a later wait.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql

log = logging.getLogger("photoshare.relay")

# How long to wait before trying a broken listening connection again.
RECONNECT_SECONDS = 5.0


class LogAppends:
    def __init__(self, dsn: str, channel: str) -> None:
        self.dsn, self.channel = dsn, channel
        self._connection: psycopg.Connection | None = None
        self._retry_at = 0.0
        self._listen()

    def _listen(self) -> None:
        try:
            connection = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error as error:
            log.warning("cannot listen for appends to the log (%s); polling only", error)
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            return
        self._connection = connection

    def wait(self, timeout: float) -> None:
        """Return once an append was announced since the last wait, or after `timeout`
        seconds. Never raises: a broken connection means waiting the whole timeout."""
        if self._connection is None and time.monotonic() >= self._retry_at:
            self._listen()
        connection = self._connection
        if connection is None:
            time.sleep(timeout)
            return
        started = time.monotonic()
        try:
            # One announcement is enough; then drain the others already here (a burst of
            # appends would otherwise wake the relay once per append).
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                pass
            for _ in connection.notifies(timeout=0):
                pass
        except psycopg.Error as error:
            log.warning("stopped listening for appends to the log (%s); polling only "
                        "until it is back", error)
            self.close()
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.close()
            except psycopg.Error:
                pass

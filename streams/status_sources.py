"""The connections `photoshare projections status --watch` reads through, opened once for
the whole watch rather than once per reading.

On the cluster profile a reading needs the PostgreSQL log (its head), the relay's
positions (PostgreSQL) and the workers' checkpoints (Redis / Cassandra): opening those
every second would cost more than the reading itself and show up in the servers' own
connection counts. `StatusSources` opens them at the first reading and keeps them; after
a reading fails (a server restarted, a connection dropped) the caller closes it, and the
next reading opens a fresh set.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from photoshare.infra.settings import Settings
from photoshare.streams.analytics import (
    open_log,
    progress_from,
    projection_names,
    projection_positions,
    status_from,
)


class StatusSources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opened = 0  # how many times a set of connections was opened (the tests read it)
        self._stack: ExitStack | None = None
        self._log: Any = None
        self._relay: Any = None
        self._stores: Any = None
        self._versions: Any = None

    def _open(self) -> None:
        stack = ExitStack()
        try:
            log = stack.enter_context(open_log(self.settings))  # LogNotFoundError if none
            if self.settings.profile == "cluster":
                from photoshare.infra.postgres.relay_positions import RelayPositions
                from photoshare.infra.postgres.view_versions import ViewVersions
                from photoshare.infra.roots.view_stores import open_view_stores

                relay = RelayPositions(self.settings.postgres_dsn)
                stack.callback(relay.close)
                versions = ViewVersions(self.settings.postgres_dsn)
                stack.callback(versions.close)
                stores = open_view_stores(self.settings)
                stack.callback(stores.close)
                self._relay, self._stores, self._versions = relay, stores, versions
        except BaseException:
            stack.close()
            raise
        self._stack, self._log = stack, log
        self.opened += 1

    def status(self) -> dict[str, Any]:
        """One reading, as `analytics.projection_status`: through the open connections,
        opening them first if there are none."""
        if self._stack is None:
            self._open()
        if self.settings.profile == "cluster":
            progress = progress_from(self._relay, self._stores, self._versions)
            positions = dict.fromkeys(projection_names(self.settings), progress["position"])
        else:
            # The embedded views are a local SQLite file: reading it opens no server
            # connection, and picks up a views file made after the watch began.
            progress, positions = None, projection_positions(self.settings)
        return status_from(self._log, positions, progress)

    def close(self) -> None:
        """Close every connection (never raises: a server that is gone may refuse a clean
        goodbye); the next `status()` opens a new set."""
        stack, self._stack = self._stack, None
        self._log = self._relay = self._stores = self._versions = None
        if stack is not None:
            try:
                stack.close()
            except Exception:  # noqa: BLE001 - closing towards a dead server
                pass

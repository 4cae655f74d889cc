"""Blue-green rebuild of a view on the embedded profile.

The new version is built from event zero in a database file of its own beside the live
views (reads and the live runner carry on untouched), caught up to the log head, then
switched in with one transaction on the live database: the view's rows are replaced by
the new version's and its position set to the new version's, so readers (WAL snapshots)
see either the old view or the new one, never a mix or an empty one. The live runner
then applies whatever arrived during the switch. Interrupted, a rebuild resumes from the
new version's own recorded position; the file is removed once switched in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import VIEW_MODULES, migrate
from photoshare.infra.sqlite.viewdb import ViewDatabase, connect
from photoshare.streams.runner import EventSource, ProjectionRunner

_TABLE = re.compile(r"CREATE\s+(VIRTUAL\s+)?TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Progress:
    view: str
    position: int
    head: int
    events_per_second: float

    @property
    def seconds_left(self) -> float | None:
        if self.events_per_second <= 0:
            return None
        return max(0, self.head - self.position) / self.events_per_second


def view_names() -> list[str]:
    return [_projection_name(module) for module in VIEW_MODULES]


def _projection_name(module: ModuleType) -> str:
    return module.binding(Settings()).projection.name


def _module(name: str) -> ModuleType:
    for module in VIEW_MODULES:
        if _projection_name(module) == name:
            return module
    raise KeyError(f"no view named {name!r}; views: {', '.join(view_names())}")


def _tables(module: ModuleType) -> list[tuple[str, bool]]:
    """The view's tables and whether each is virtual (FTS5: its rowid must be kept)."""
    return [(match.group(2), bool(match.group(1))) for match in _TABLE.finditer(module.SCHEMA)]


def rebuild(settings: Settings, source: EventSource, name: str, *, batch_size: int = 2000,
            on_progress: Callable[[Progress], None] = lambda _: None) -> int:
    """Rebuild view `name` beside the live one and switch it in; the position it ends at."""
    module = _module(name)
    building_path = settings.data_dir / f"views.rebuild-{name}.sqlite3"
    building = ViewDatabase(building_path, [module.SCHEMA])
    runner = ProjectionRunner(source, building, [module.binding(settings)],
                              batch_size=batch_size)
    started, done_at_start = time.monotonic(), runner.position
    try:
        while runner.run_batch():
            elapsed = time.monotonic() - started
            rate = (runner.position - done_at_start) / elapsed if elapsed > 0 else 0.0
            on_progress(Progress(name, runner.position, source.head_position(), rate))
        position = runner.position
    finally:
        building.close()
    _switch(settings.views_path, building_path, module, name, position)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{building_path}{suffix}").unlink(missing_ok=True)
    return position


def _switch(live_path: Path, building_path: Path, module: ModuleType, name: str,
            position: int) -> None:
    connection = connect(live_path)
    try:
        connection.executescript(module.SCHEMA)  # a view new to this database
        connection.execute("ATTACH DATABASE ? AS building", (str(building_path),))
        connection.execute("BEGIN IMMEDIATE")
        try:
            migrate(module, connection)  # a live table made by older code: today's columns
            for table, virtual in _tables(module):
                columns = [row[1] for row in
                           connection.execute(f'PRAGMA building.table_info("{table}")')]
                if virtual:  # FTS5 rows are addressed by rowid: keep it
                    columns = ["rowid", *columns]
                listed = ", ".join(f'"{c}"' if c != "rowid" else c for c in columns)
                connection.execute(f'DELETE FROM main."{table}"')
                connection.execute(f'INSERT INTO main."{table}" ({listed}) '
                                   f'SELECT {listed} FROM building."{table}"')
            ViewDatabase.set_position(connection, name, position)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        connection.execute("DETACH DATABASE building")
    finally:
        connection.close()


def rebuild_all(settings: Settings, source: EventSource, names: Sequence[str], *,
                on_progress: Callable[[Progress], None] = lambda _: None) -> dict[str, int]:
    return {name: rebuild(settings, source, name, on_progress=on_progress) for name in names}


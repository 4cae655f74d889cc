"""The views' SQLite connections (infra/sqlite/viewdb.connect)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from photoshare.infra.sqlite.viewdb import ViewDatabase, connect


def test_a_views_connection_maps_as_much_of_the_file_as_sqlite_allows(tmp_path: Path) -> None:
    """Reads go through mmap for the whole file SQLite lets a connection map (its
    compile-time maximum), not a smaller window: past the window, every page read of a
    big view file was a read() call through a 2 MB cache."""
    path = tmp_path / "views.sqlite3"
    ViewDatabase(path, []).close()
    plain = sqlite3.connect(path)
    most = plain.execute(f"PRAGMA mmap_size={1 << 62}").fetchone()[0]
    plain.close()
    views = connect(path)
    try:
        assert views.execute("PRAGMA mmap_size").fetchone()[0] == most > 0
    finally:
        views.close()

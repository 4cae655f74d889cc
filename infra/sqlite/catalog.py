"""Every SQLite view, for the composition root: schemas, runner bindings and queries.

Each view module exports `SCHEMA`, `binding(settings) -> Binding` and
`queries(connection, settings)`, and `migrate(connection)` once it has changed a table that
older code made.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from photoshare.infra.settings import Settings
from photoshare.infra.sqlite import (
    controls,
    follow_requests,
    graph,
    notifications,
    photos,
    profiles,
    search,
    timelines,
)
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.readapi.services import ViewQueries
from photoshare.streams.runner import Binding

VIEW_MODULES = (profiles, graph, photos, timelines, search, notifications, controls,
                follow_requests)


def open_views(path: Path) -> ViewDatabase:
    views = ViewDatabase(path, [module.SCHEMA for module in VIEW_MODULES])
    with views.transaction() as connection:
        for module in VIEW_MODULES:
            migrate(module, connection)
    return views


def migrate(module: ModuleType, connection: sqlite3.Connection) -> None:
    """Bring a view's tables made by older code to today's shape, within the caller's
    transaction (a module that changed a table exports `migrate(connection)`)."""
    if hasattr(module, "migrate"):
        module.migrate(connection)


def bindings(settings: Settings) -> list[Binding]:
    return [module.binding(settings) for module in VIEW_MODULES]


def view_queries(connection: sqlite3.Connection, settings: Settings) -> ViewQueries:
    return ViewQueries(**{module.__name__.rsplit(".", 1)[1]: module.queries(connection, settings)
                          for module in VIEW_MODULES})


def thread_view_queries(views: ViewDatabase, settings: Settings) -> Callable[[], ViewQueries]:
    """The calling thread's `view_queries` on its own read connection, made once per
    thread and connection (the query objects hold nothing else: a read reuses them)."""
    made = threading.local()

    def queries() -> ViewQueries:
        connection = views.reader()
        kept = getattr(made, "kept", None)
        if kept is None or kept[0] is not connection:
            kept = made.kept = (connection, view_queries(connection, settings))
        return kept[1]

    return queries

"""search view on SQLite (to be built)."""

from __future__ import annotations

import sqlite3

from infra.settings import Settings
from projections.search import SearchQueries, SearchProjection
from streams.runner import Binding

SCHEMA = ""


def binding(_: Settings) -> Binding:
    return Binding(SearchProjection(), lambda connection, outbox: None)


def queries(connection: sqlite3.Connection, _: Settings) -> SearchQueries:
    return SearchQueries()

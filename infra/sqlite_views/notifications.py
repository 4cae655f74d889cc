"""notifications view on SQLite (to be built)."""

from __future__ import annotations

import sqlite3

from infra.settings import Settings
from projections.notifications import NotificationQueries, NotificationsProjection
from streams.runner import Binding

SCHEMA = ""


def binding(_: Settings) -> Binding:
    return Binding(NotificationsProjection(), lambda connection, outbox: None)


def queries(connection: sqlite3.Connection, _: Settings) -> NotificationQueries:
    return NotificationQueries()

"""Notifications view on SQLite: notifications and each user's read marker.

New notifications are announced as live `Notice`s through the runner's outbox, which
publishes them only after the view transaction commits.
"""

from __future__ import annotations

import sqlite3

from infra.settings import Settings
from projections.notifications import (
    Notification,
    NotificationQueries,
    NotificationsProjection,
    NotificationStore,
)
from streams.runner import Binding, Notice, Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    notification_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    photo_id TEXT,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, position);
CREATE INDEX IF NOT EXISTS notifications_by_photo ON notifications (photo_id);
CREATE TABLE IF NOT EXISTS notification_reads (
    user_id TEXT PRIMARY KEY,
    read_up_to INTEGER NOT NULL
);
"""

_COLUMNS = "notification_id, user_id, type, actor_id, photo_id, created_at, position"
_NO_LIMIT = 2**62
NOTICE_KIND = "notification"


def _notification(row: sqlite3.Row) -> Notification:
    return Notification(**{key: row[key] for key in row.keys()})


class SqliteNotificationStore(NotificationStore):
    def __init__(self, connection: sqlite3.Connection, outbox: Outbox) -> None:
        self.db, self.outbox = connection, outbox

    def add(self, notification: Notification) -> bool:
        n = notification
        return bool(self.db.execute(
            f"INSERT INTO notifications ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (notification_id) DO NOTHING",
            (n.notification_id, n.user_id, n.type, n.actor_id, n.photo_id, n.created_at,
             n.position)).rowcount)

    def announce(self, notification: Notification) -> None:
        self.outbox.append(Notice(user_id=notification.user_id, kind=NOTICE_KIND,
                                  data=notification.to_dict()))

    def remove(self, notification_id: str) -> None:
        self.db.execute("DELETE FROM notifications WHERE notification_id = ?",
                        (notification_id,))

    def remove_about_photo(self, photo_id: str) -> None:
        self.db.execute("DELETE FROM notifications WHERE photo_id = ?", (photo_id,))

    def position_of(self, user_id: str, notification_id: str) -> int | None:
        row = self.db.execute(
            "SELECT position FROM notifications WHERE notification_id = ? AND user_id = ?",
            (notification_id, user_id)).fetchone()
        return row["position"] if row else None

    def advance_read_marker(self, user_id: str, position: int) -> None:
        self.db.execute(
            "INSERT INTO notification_reads (user_id, read_up_to) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET "
            "read_up_to = max(read_up_to, excluded.read_up_to)", (user_id, position))


class SqliteNotificationQueries(NotificationQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def for_user(self, user_id: str, before: int | None, limit: int) -> list[Notification]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM notifications WHERE user_id = ? AND position < ? "
            "ORDER BY position DESC, notification_id DESC LIMIT ?",
            (user_id, before if before is not None else _NO_LIMIT, limit))
        return [_notification(row) for row in rows]

    def by_id(self, user_id: str, notification_id: str) -> Notification | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM notifications WHERE notification_id = ? AND user_id = ?",
            (notification_id, user_id)).fetchone()
        return _notification(row) if row else None

    def read_up_to(self, user_id: str) -> int:
        row = self.db.execute("SELECT read_up_to FROM notification_reads WHERE user_id = ?",
                              (user_id,)).fetchone()
        return row["read_up_to"] if row else 0


def binding(_: Settings) -> Binding:
    return Binding(NotificationsProjection(),
                   lambda connection, outbox: SqliteNotificationStore(connection, outbox))


def queries(connection: sqlite3.Connection, _: Settings) -> SqliteNotificationQueries:
    return SqliteNotificationQueries(connection)

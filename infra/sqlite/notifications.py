"""Notifications view on SQLite: notifications and each user's read marker.

New notifications are announced as live `Notice`s through the runner's outbox, which
publishes them only after the view transaction commits.
"""

from __future__ import annotations

import sqlite3

from photoshare.infra.settings import Settings
from photoshare.projections.notifications import (
    NOTICE_KIND,
    Notification,
    NotificationQueries,
    NotificationsProjection,
    NotificationStore,
)
from photoshare.streams.runner import Binding, Notice, Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    notification_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    photo_id TEXT,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, position);
CREATE INDEX IF NOT EXISTS notifications_by_photo ON notifications (photo_id);
CREATE TABLE IF NOT EXISTS notification_reads (
    user_id TEXT PRIMARY KEY,
    read_up_to INTEGER NOT NULL
);
-- Every position a notification was made at (a like, unlike, like again makes one id
-- twice): a read resolves to the latest one at or before itself.
CREATE TABLE IF NOT EXISTS notification_makes (
    user_id TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (user_id, notification_id, position)
) WITHOUT ROWID;
-- The newest read naming each notification: a making delivered after it still counts.
CREATE TABLE IF NOT EXISTS notification_reads_named (
    user_id TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    read_position INTEGER NOT NULL,
    PRIMARY KEY (user_id, notification_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notification_deleted_photos (
    photo_id TEXT PRIMARY KEY
) WITHOUT ROWID;
-- Recipients whose account was deleted: a late notification for one is stored hidden.
CREATE TABLE IF NOT EXISTS notification_deleted_users (
    user_id TEXT PRIMARY KEY
) WITHOUT ROWID;
"""

_COLUMNS = "notification_id, user_id, type, actor_id, photo_id, created_at, position"
_NO_LIMIT = 2**62


def _notification(row: sqlite3.Row) -> Notification:
    return Notification(**{key: row[key] for key in row.keys()})


class SqliteNotificationStore(NotificationStore):
    """Removed notifications stay as hidden rows (`removed = 1`) so that a read marker
    naming one still resolves when its removal was delivered first; deleted photos are
    remembered so that a late notification about one is not stored."""

    def __init__(self, connection: sqlite3.Connection, outbox: Outbox) -> None:
        self.db, self.outbox = connection, outbox

    def add(self, notification: Notification) -> bool:
        n = notification
        values = (n.notification_id, n.user_id, n.type, n.actor_id, n.photo_id, n.created_at,
                  n.position)
        if (n.photo_id is not None and self.db.execute(
                "SELECT 1 FROM notification_deleted_photos WHERE photo_id = ?",
                (n.photo_id,)).fetchone()) or self._recipient_deleted(n.user_id):
            # Its photo's (or its recipient's) deletion came first: store it as removed, the row it would be had
            # the events come in log order. A later action of the same id (a like again
            # after an unlike) still moves the row on, as it would have before the deletion.
            self.db.execute(
                f"INSERT INTO notifications ({_COLUMNS}, removed) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (notification_id) DO UPDATE SET "
                "actor_id = excluded.actor_id, created_at = excluded.created_at, "
                "position = excluded.position WHERE excluded.position > position", values)
            return False
        return bool(self.db.execute(
            f"INSERT INTO notifications ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (notification_id) DO UPDATE SET removed = 0, actor_id = excluded.actor_id,"
            " created_at = excluded.created_at, position = excluded.position WHERE removed = 1",
            values).rowcount)

    def announce(self, notification: Notification) -> None:
        self.outbox.append(Notice(user_id=notification.user_id, kind=NOTICE_KIND,
                                  data=notification.to_dict()))

    def remove(self, notification_id: str) -> None:
        self.db.execute("UPDATE notifications SET removed = 1 WHERE notification_id = ?",
                        (notification_id,))

    def remove_about_photo(self, photo_id: str) -> None:
        self.db.execute("UPDATE notifications SET removed = 1 WHERE photo_id = ?", (photo_id,))
        self.db.execute("INSERT INTO notification_deleted_photos (photo_id) VALUES (?) "
                        "ON CONFLICT DO NOTHING", (photo_id,))

    def forget_recipient(self, user_id: str) -> None:
        self.db.execute("INSERT INTO notification_deleted_users (user_id) VALUES (?) "
                        "ON CONFLICT DO NOTHING", (user_id,))
        self.db.execute("UPDATE notifications SET removed = 1 WHERE user_id = ?", (user_id,))
        self.db.execute("DELETE FROM notification_reads WHERE user_id = ?", (user_id,))
        self.db.execute("DELETE FROM notification_reads_named WHERE user_id = ?", (user_id,))
        self.db.execute("DELETE FROM notification_makes WHERE user_id = ?", (user_id,))

    def _recipient_deleted(self, user_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM notification_deleted_users WHERE user_id = ?",
                               (user_id,)).fetchone() is not None

    def remember_made(self, notification: Notification) -> None:
        if self._recipient_deleted(notification.user_id):
            return  # what forget_recipient dropped stays dropped, whatever the order
        self.db.execute(
            "INSERT INTO notification_makes (user_id, notification_id, position) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (notification.user_id, notification.notification_id, notification.position))

    def position_of(self, user_id: str, notification_id: str, at: int) -> int | None:
        # The row's own position is one of its makings too: it also answers for
        # notifications stored before the makings were remembered.
        return self.db.execute(
            "SELECT max(position) FROM (SELECT position FROM notification_makes "
            "WHERE user_id = :user AND notification_id = :id AND position <= :at "
            "UNION ALL SELECT position FROM notifications WHERE notification_id = :id "
            "AND user_id = :user AND position <= :at)",
            {"user": user_id, "id": notification_id, "at": at}).fetchone()[0]

    def remember_read(self, user_id: str, notification_id: str, at: int) -> None:
        if self._recipient_deleted(user_id):
            return
        self.db.execute(
            "INSERT INTO notification_reads_named (user_id, notification_id, read_position) "
            "VALUES (?, ?, ?) ON CONFLICT (user_id, notification_id) DO UPDATE SET "
            "read_position = max(read_position, excluded.read_position)",
            (user_id, notification_id, at))

    def read_since(self, user_id: str, notification_id: str, position: int) -> bool:
        return self.db.execute(
            "SELECT 1 FROM notification_reads_named WHERE user_id = ? AND notification_id = ?"
            " AND read_position >= ?", (user_id, notification_id, position)).fetchone() is not None

    def advance_read_marker(self, user_id: str, position: int) -> None:
        if self._recipient_deleted(user_id):
            return
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
            "AND removed = 0 ORDER BY position DESC, notification_id DESC LIMIT ?",
            (user_id, before if before is not None else _NO_LIMIT, limit))
        return [_notification(row) for row in rows]

    def by_id(self, user_id: str, notification_id: str) -> Notification | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM notifications WHERE notification_id = ? AND user_id = ? "
            "AND removed = 0", (notification_id, user_id)).fetchone()
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

"""Photos view on SQLite: photos, likes and comments."""

from __future__ import annotations

import sqlite3

from photoshare.events.upcasters import v1_variant_sizes
from photoshare.infra.settings import Settings
from photoshare.streams.runner import Binding

from photoshare.infra.sqlite.util import from_json, placeholders, to_json
from photoshare.projections.photos import (
    CardState,
    CommentRecord,
    LikeRecord,
    PhotoQueries,
    PhotoRecord,
    PhotosProjection,
    PhotoStore,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    photo_id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    caption TEXT NOT NULL,
    location TEXT NOT NULL,
    hashtags TEXT NOT NULL,
    tagged_user_ids TEXT NOT NULL,
    variants TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    posted_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    likes INTEGER NOT NULL DEFAULT 0,
    comments INTEGER NOT NULL DEFAULT 0,
    variant_sizes TEXT NOT NULL DEFAULT '{}',
    placeholder TEXT,
    alt_text TEXT,
    alt_text_position INTEGER NOT NULL DEFAULT 0,
    original_key TEXT
);
CREATE INDEX IF NOT EXISTS photos_by_owner ON photos (owner_id, position);
CREATE TABLE IF NOT EXISTS photo_likes (
    photo_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (photo_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS photo_likes_by_user ON photo_likes (user_id, photo_id);
-- A person's likes and comments, newest first, for their data export.
CREATE INDEX IF NOT EXISTS photo_likes_by_user_position ON photo_likes (user_id, position);
CREATE TABLE IF NOT EXISTS photo_comments (
    comment_id TEXT PRIMARY KEY,
    photo_id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS photo_comments_by_photo ON photo_comments (photo_id, position);
CREATE INDEX IF NOT EXISTS photo_comments_by_author ON photo_comments (author_id, position);
CREATE TABLE IF NOT EXISTS photo_tombstones (
    photo_id TEXT PRIMARY KEY
) WITHOUT ROWID;
"""

_PHOTO_COLUMNS = ("photo_id, owner_id, caption, location, hashtags, tagged_user_ids, variants, "
                  "width, height, posted_at, position, variant_sizes, placeholder, alt_text, "
                  "likes, comments")
# What a read selects: the columns above and the original's key (last, so that the insert,
# which counts likes and comments itself, can share the list above).
_SELECTED = f"{_PHOTO_COLUMNS}, original_key"
# Columns added to `photos` after it was first released, with their definitions: a view
# database made before them gains them at start (`migrate`).
_ADDED_PHOTO_COLUMNS = {"variant_sizes": "TEXT NOT NULL DEFAULT '{}'", "placeholder": "TEXT",
                        "alt_text": "TEXT",
                        "alt_text_position": "INTEGER NOT NULL DEFAULT 0",
                        "original_key": "TEXT"}
_COMMENT_COLUMNS = "comment_id, photo_id, author_id, text, created_at, position"
_NO_LIMIT = 2**62


class SqlitePhotoStore(PhotoStore):
    """Converges whatever order the events of different aggregates arrive in (the cluster
    profile's Kafka partitions do not keep the global order): a like or comment may come
    before its photo, so its row is kept and the photo's counts are computed from the rows
    when the photo arrives; a deleted photo leaves a tombstone, so a late like, comment or
    redelivered post is ignored."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def add_photo(self, photo: PhotoRecord) -> None:
        if self._deleted(photo.photo_id):
            return
        # A redelivered post changes nothing, so neither does it undo a later alt text.
        self.db.execute(
            f"INSERT INTO photos ({_PHOTO_COLUMNS}, alt_text_position, original_key) VALUES "
            f"({placeholders(range(14))}, "
            "(SELECT count(*) FROM photo_likes WHERE photo_id = ?1), "
            "(SELECT count(*) FROM photo_comments WHERE photo_id = ?1), ?11, ?15) "
            "ON CONFLICT (photo_id) DO NOTHING",
            (photo.photo_id, photo.owner_id, photo.caption, photo.location,
             to_json(photo.hashtags), to_json(photo.tagged_user_ids), to_json(photo.variants),
             photo.width, photo.height, photo.posted_at, photo.position,
             to_json(photo.variant_sizes), photo.placeholder, photo.alt_text,
             photo.original_key))

    def set_alt_text(self, photo_id: str, alt_text: str | None, position: int) -> None:
        self.db.execute("UPDATE photos SET alt_text = ?, alt_text_position = ? "
                        "WHERE photo_id = ? AND alt_text_position < ?",
                        (alt_text, position, photo_id, position))

    def remove_photo(self, photo_id: str) -> None:
        for table in ("photos", "photo_likes", "photo_comments"):
            self.db.execute(f"DELETE FROM {table} WHERE photo_id = ?", (photo_id,))
        self.db.execute("INSERT INTO photo_tombstones (photo_id) VALUES (?) "
                        "ON CONFLICT DO NOTHING", (photo_id,))

    def _deleted(self, photo_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM photo_tombstones WHERE photo_id = ?",
                               (photo_id,)).fetchone() is not None

    def _count(self, photo_id: str, counter: str, delta: int) -> None:
        self.db.execute(f"UPDATE photos SET {counter} = {counter} + ? WHERE photo_id = ?",
                        (delta, photo_id))

    def like(self, photo_id: str, user_id: str, position: int) -> None:
        if self._deleted(photo_id):
            return
        inserted = self.db.execute(
            "INSERT INTO photo_likes (photo_id, user_id, position) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (photo_id, user_id, position)).rowcount
        if inserted:
            self._count(photo_id, "likes", +1)

    def unlike(self, photo_id: str, user_id: str, position: int) -> None:
        deleted = self.db.execute("DELETE FROM photo_likes WHERE photo_id = ? AND user_id = ? "
                                  "AND position < ?", (photo_id, user_id, position)).rowcount
        if deleted:
            self._count(photo_id, "likes", -1)

    def add_comment(self, comment: CommentRecord) -> None:
        if self._deleted(comment.photo_id):
            return
        inserted = self.db.execute(
            f"INSERT INTO photo_comments ({_COMMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (comment.comment_id, comment.photo_id, comment.author_id, comment.text,
             comment.created_at, comment.position)).rowcount
        if inserted:
            self._count(comment.photo_id, "comments", +1)

    def remove_comment(self, comment_id: str, photo_id: str) -> None:
        row = self.db.execute("DELETE FROM photo_comments WHERE comment_id = ? RETURNING photo_id",
                              (comment_id,)).fetchone()
        if row:
            self._count(row["photo_id"], "comments", -1)


def _photo(row: sqlite3.Row) -> PhotoRecord:
    # By position, in _PHOTO_COLUMNS' order: a page builds tens of these per request.
    (photo_id, owner_id, caption, location, hashtags, tagged_user_ids, variants, width,
     height, posted_at, position, variant_sizes, placeholder, alt_text, likes, comments,
     original_key) = row
    return PhotoRecord(photo_id, owner_id, caption, location, from_json(hashtags),
                       from_json(tagged_user_ids), from_json(variants), width, height,
                       posted_at, position, likes, comments, from_json(variant_sizes),
                       placeholder, alt_text, original_key)


class SqlitePhotoQueries(PhotoQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def photo(self, photo_id: str) -> PhotoRecord | None:
        row = self.db.execute(f"SELECT {_SELECTED} FROM photos WHERE photo_id = ?",
                              (photo_id,)).fetchone()
        return _photo(row) if row else None

    def many(self, photo_ids: list[str]) -> dict[str, PhotoRecord]:
        if not photo_ids:
            return {}
        rows = self.db.execute(f"SELECT {_SELECTED} FROM photos WHERE photo_id IN "
                               f"({placeholders(photo_ids)})", list(photo_ids))
        return {row["photo_id"]: _photo(row) for row in rows}

    def card_states(self, photo_ids: list[str],
                    liker: str | None = None) -> dict[str, CardState]:
        # One narrow read: no JSON column, the liker's like by its primary key.
        if not photo_ids:
            return {}
        rows = self.db.execute(
            "SELECT photo_id, likes, comments, alt_text, EXISTS (SELECT 1 FROM photo_likes l "
            "WHERE l.photo_id = p.photo_id AND l.user_id = ?) FROM photos p "
            f"WHERE photo_id IN ({placeholders(photo_ids)})", (liker, *photo_ids))
        return {row[0]: CardState(row[1], row[2], row[3], bool(row[4])) for row in rows}

    def by_owner(self, owner_id: str, before: int | None, limit: int) -> list[PhotoRecord]:
        return self.recent_by_owners([owner_id], before, limit)

    def recent_by_owners(self, owner_ids: list[str], before: int | None,
                         limit: int) -> list[PhotoRecord]:
        if not owner_ids:
            return []
        rows = self.db.execute(
            f"SELECT {_SELECTED} FROM photos WHERE owner_id IN ({placeholders(owner_ids)}) "
            "AND position < ? ORDER BY position DESC LIMIT ?",
            (*owner_ids, before if before is not None else _NO_LIMIT, limit))
        return [_photo(row) for row in rows]

    def liked_by(self, user_id: str, photo_ids: list[str]) -> set[str]:
        if not photo_ids:
            return set()
        rows = self.db.execute(
            f"SELECT photo_id FROM photo_likes WHERE user_id = ? AND photo_id IN "
            f"({placeholders(photo_ids)})", (user_id, *photo_ids))
        return {row["photo_id"] for row in rows}

    def comments(self, photo_id: str, after: int | None, limit: int) -> list[CommentRecord]:
        rows = self.db.execute(
            f"SELECT {_COMMENT_COLUMNS} FROM photo_comments WHERE photo_id = ? AND position > ? "
            "ORDER BY position LIMIT ?", (photo_id, after or 0, limit))
        return [CommentRecord(**dict(row)) for row in rows]

    def likes_by_user(self, user_id: str, before: int | None, limit: int) -> list[LikeRecord]:
        # The join keeps likes of live photos only (a like may arrive before its photo).
        rows = self.db.execute(
            "SELECT l.photo_id, l.position FROM photo_likes l JOIN photos p "
            "ON p.photo_id = l.photo_id WHERE l.user_id = ? AND l.position < ? "
            "ORDER BY l.position DESC LIMIT ?",
            (user_id, before if before is not None else _NO_LIMIT, limit))
        return [LikeRecord(row[0], row[1]) for row in rows]

    def comments_by_author(self, author_id: str, before: int | None,
                           limit: int) -> list[CommentRecord]:
        columns = ", ".join(f"c.{name}" for name in _COMMENT_COLUMNS.split(", "))
        rows = self.db.execute(
            f"SELECT {columns} FROM photo_comments c JOIN photos p ON p.photo_id = c.photo_id "
            "WHERE c.author_id = ? AND c.position < ? ORDER BY c.position DESC LIMIT ?",
            (author_id, before if before is not None else _NO_LIMIT, limit))
        return [CommentRecord(**dict(row)) for row in rows]


def migrate(connection: sqlite3.Connection) -> None:
    """Give a `photos` table made before variant sizes, placeholders or alt text their
    columns: the rows a rebuild from event zero would hold. A row made before variant
    sizes came from a PhotoPosted v1 event and gets the sizes it upcasts to; a row made
    before alt text has none (no event could give it one), from its post's position.
    Run it in a transaction."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(photos)")}
    missing = [name for name in _ADDED_PHOTO_COLUMNS if name not in present]
    for name in missing:
        connection.execute(f"ALTER TABLE photos ADD COLUMN {name} {_ADDED_PHOTO_COLUMNS[name]}")
    if "alt_text_position" in missing:
        connection.execute("UPDATE photos SET alt_text_position = position")
    if "variant_sizes" not in missing:
        return
    rows = connection.execute("SELECT photo_id, width, height, variants FROM photos").fetchall()
    connection.executemany(
        "UPDATE photos SET variant_sizes = ? WHERE photo_id = ?",
        [(to_json(v1_variant_sizes(row[1], row[2], from_json(row[3]))), row[0]) for row in rows])


def binding(_: Settings) -> Binding:
    return Binding(PhotosProjection(), lambda connection, _outbox: SqlitePhotoStore(connection))


def queries(connection: sqlite3.Connection, _: Settings) -> SqlitePhotoQueries:
    return SqlitePhotoQueries(connection)

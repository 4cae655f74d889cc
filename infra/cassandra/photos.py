"""Photos view on Cassandra: details, a user's photos newest first, likes and comments.

Events of a photo, of a like and of a comment come from different aggregates, so they
may arrive in any order relative to each other (a like before the photo's post, a
comment after its deletion). The store therefore never needs the photo to exist: a like
or comment that comes first is kept and counts once the photo arrives. It only refuses
writes for a photo with a tombstone, and photos are shown only when live (posted, not
deleted). Every write is timestamped with the position of the event making it (read
from `delivery`), so the newest event wins, and a stale batch applied late by a worker
that lost its partition cannot undo newer writes. A like or comment racing with the
deletion itself may leave a row behind; since the photo is never shown again, neither is
the row (callers ask about likes and comments of photos they found live, as the read API
does).

Like and comment counts are Redis counters (`infra.redis.counters`), moved by each like,
unlike, comment and deletion of a comment exactly once, with the workers' checkpoints: a
page of photos reads them in one round trip rather than counting rows. They are counted
per event, not per row: the write side makes likes and unlikes of one pair alternate and
deletes a comment at most once, so the two agree on every live photo, and a batch
replayed after a crash (whose rows were written, whose counts were not) counts right.
While Redis has lost its data the reads count the rows instead, and `photoshare
projections rebuild-redis` counts them again from the rows.

A person's likes and comments are also listed by person (`likes_by_user`,
`comments_by_author`, for their data export): an unlike or a comment's deletion removes
the person's row too; rows of a deleted photo stay and are skipped when read (the photo
is not live).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from photoshare.events.upcasters import v1_variant_sizes
from photoshare.infra.cassandra.schema import (
    ALL_SHARDS_CQL,
    COMMENTS_BY_AUTHOR,
    LIKES_BY_USER,
    PHOTOS_BY_OWNER,
    SHARDS,
    BucketedList,
    keyspace_of,
    rows_in,
    rows_in_started,
    rows_of,
    shard_of,
)
from photoshare.infra.redis.counters import RedisCounters
from photoshare.projections.photos import (
    CardState,
    CommentRecord,
    LikeRecord,
    PhotoQueries,
    PhotoRecord,
    PhotoStore,
)
from photoshare.streams.delivery import Delivery

_DETAILS = ("owner_id, caption, location, hashtags, tagged_user_ids, variants, width, "
            "height, posted_at, position, variant_sizes, placeholder, alt_text, original_key")
_COMMENT = "comment_id, photo_id, author_id, comment_text, created_at, position"
LIKES, COMMENTS = "photos.likes", "photos.comments"  # the Redis counters' names


class CassandraPhotoStore(PhotoStore):
    """Idempotent writes of the photos view; a deleted photo keeps a tombstone."""

    def __init__(self, session: Session, delivery: Delivery, counters: RedisCounters) -> None:
        self.session, self.delivery, self.counters = session, delivery, counters
        self.posts = BucketedList(session, PHOTOS_BY_OWNER)
        self.likes_by_user = BucketedList(session, LIKES_BY_USER)
        self.comments_by_author = BucketedList(session, COMMENTS_BY_AUTHOR)
        ks = keyspace_of(session)
        self._photo = session.prepare(
            f"SELECT owner_id, position, deleted FROM {ks}.photos WHERE photo_id = ?")
        self._like_position = session.prepare(
            f"SELECT position FROM {ks}.photo_likes WHERE photo_id = ? AND shard = ? "
            "AND user_id = ?")
        self._comment_author = session.prepare(
            f"SELECT author_id FROM {ks}.photo_comments WHERE photo_id = ? AND shard = ? "
            "AND position = ? AND comment_id = ?")
        self._insert_photo = session.prepare(
            f"INSERT INTO {ks}.photos (photo_id, {_DETAILS}) VALUES (?{', ?' * 14}) "
            "USING TIMESTAMP ?")
        # Nulls every detail (nothing of a deleted photo stays readable) and marks it.
        self._tombstone = session.prepare(
            f"UPDATE {ks}.photos USING TIMESTAMP ? SET deleted = true, "
            + ", ".join(f"{column} = null" for column in _DETAILS.split(", "))
            + " WHERE photo_id = ?")
        # At the edit's timestamp: the newest of the post and the edits wins, and a
        # deletion's tombstone (newer still) keeps it null.
        self._set_alt_text = session.prepare(
            f"UPDATE {ks}.photos USING TIMESTAMP ? SET alt_text = ? WHERE photo_id = ?")
        self._like = session.prepare(
            f"INSERT INTO {ks}.photo_likes (photo_id, shard, user_id, position) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?")
        # Timestamped: it removes the likes of older events only, never a newer like.
        self._unlike = session.prepare(
            f"DELETE FROM {ks}.photo_likes USING TIMESTAMP ? WHERE photo_id = ? "
            "AND shard = ? AND user_id = ?")
        self._drop_likes = session.prepare(
            f"DELETE FROM {ks}.photo_likes USING TIMESTAMP ? WHERE photo_id = ? "
            f"AND shard IN {ALL_SHARDS_CQL}")
        self._insert_comment = session.prepare(
            f"INSERT INTO {ks}.photo_comments (photo_id, shard, comment_id, author_id, "
            "comment_text, created_at, position) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?")
        self._locate_comment = session.prepare(
            f"INSERT INTO {ks}.comments_by_id (comment_id, photo_id, position) "
            "VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._comment_location = session.prepare(
            f"SELECT photo_id, position FROM {ks}.comments_by_id WHERE comment_id = ?")
        self._delete_comment = session.prepare(
            f"DELETE FROM {ks}.photo_comments USING TIMESTAMP ? WHERE photo_id = ? "
            "AND shard = ? AND position = ? AND comment_id = ?")
        self._forget_comment = session.prepare(
            f"DELETE FROM {ks}.comments_by_id USING TIMESTAMP ? WHERE comment_id = ?")
        self._drop_comments = session.prepare(
            f"DELETE FROM {ks}.photo_comments USING TIMESTAMP ? WHERE photo_id = ? "
            f"AND shard IN {ALL_SHARDS_CQL}")

    def add_photo(self, photo: PhotoRecord) -> None:
        # No read first for a redelivered post of a deleted photo: its writes carry the
        # post's timestamp, older than the deletion's, which nulled every detail and
        # deleted the list row at its own (`remove_photo`), so they stay shadowed. (The
        # read was one of a post's three round trips here, before its fan-out.)
        # Details first, so a page never lists an id whose details are missing.
        self.session.execute(self._insert_photo, (
            photo.photo_id, photo.owner_id, photo.caption, photo.location, photo.hashtags,
            photo.tagged_user_ids, photo.variants, photo.width, photo.height,
            photo.posted_at, photo.position, photo.variant_sizes, photo.placeholder,
            photo.alt_text, photo.original_key, photo.position))
        execute_concurrent(self.session, self.posts.writes_to_add(
            photo.owner_id, photo.position, photo.photo_id, photo.position))

    def set_alt_text(self, photo_id: str, alt_text: str | None, position: int) -> None:
        if not self._deleted(photo_id):
            self.session.execute(self._set_alt_text, (position, alt_text, photo_id))

    def remove_photo(self, photo_id: str) -> None:
        at = self.delivery.position
        row = self.session.execute(self._photo, (photo_id,)).one()
        writes = [(self._drop_likes, (at, photo_id)), (self._drop_comments, (at, photo_id))]
        if row is not None and row.owner_id is not None:
            writes += self.posts.writes_to_remove(row.owner_id, row.position, photo_id, at)
        execute_concurrent(self.session, writes)
        # The tombstone last, while the details that locate the photo's rows are still
        # readable: if this crashes first, the redelivered deletion redoes it all.
        self.session.execute(self._tombstone, (at, photo_id))

    def like(self, photo_id: str, user_id: str, position: int) -> None:
        self.counters.add(LIKES, photo_id, +1)
        if not self._deleted(photo_id):
            execute_concurrent(self.session, [
                (self._like, (photo_id, shard_of(user_id), user_id, position, position)),
                *self.likes_by_user.writes_to_add(user_id, position, photo_id, position)])

    def unlike(self, photo_id: str, user_id: str, position: int) -> None:
        # The liker's index row first, located by the like's row (a crash in between:
        # the redelivered unlike finds the like's row still there). At the unlike's
        # timestamp: a like again (newer) survives a stale unlike, in both tables.
        self.counters.add(LIKES, photo_id, -1)
        row = self.session.execute(self._like_position,
                                   (photo_id, shard_of(user_id), user_id)).one()
        if row is not None:
            execute_concurrent(self.session, self.likes_by_user.writes_to_remove(
                user_id, row.position, photo_id, position))
        self.session.execute(self._unlike, (position, photo_id, shard_of(user_id), user_id))

    def add_comment(self, comment: CommentRecord) -> None:
        self.counters.add(COMMENTS, comment.photo_id, +1)
        if self._deleted(comment.photo_id):
            return
        execute_concurrent(self.session, [
            (self._insert_comment, (comment.photo_id, shard_of(comment.comment_id),
                                    comment.comment_id, comment.author_id, comment.text,
                                    comment.created_at, comment.position, comment.position)),
            (self._locate_comment, (comment.comment_id, comment.photo_id, comment.position,
                                    comment.position)),
            *self.comments_by_author.writes_to_add(comment.author_id, comment.position,
                                                   comment.comment_id, comment.position),
        ])

    def remove_comment(self, comment_id: str, photo_id: str) -> None:
        # Counted whether or not the rows are still there: replayed after a crash that
        # came after the rows went, the batch's count has not been saved yet.
        self.counters.add(COMMENTS, photo_id, -1)
        row = self.session.execute(self._comment_location, (comment_id,)).one()
        if row is None:
            return
        at = self.delivery.position
        # The author's index row first, while the comment's row still names the author.
        written = self.session.execute(self._comment_author, (
            row.photo_id, shard_of(comment_id), row.position, comment_id)).one()
        if written is not None:
            execute_concurrent(self.session, self.comments_by_author.writes_to_remove(
                written.author_id, row.position, comment_id, at))
        self.session.execute(self._delete_comment,
                             (at, row.photo_id, shard_of(comment_id), row.position, comment_id))
        self.session.execute(self._forget_comment, (at, comment_id))

    def _deleted(self, photo_id: str) -> bool:
        row = self.session.execute(self._photo, (photo_id,)).one()
        return bool(row and row.deleted)


class CassandraPhotoQueries(PhotoQueries):
    """Reads of the photos view. Only live photos are shown, with their like and comment
    counts from Redis; while Redis has lost its data (found with the counters themselves:
    `RedisCounters.saved_table`), counted from the rows instead (COUNT(*) of each of the
    photo's shards, read concurrently)."""

    def __init__(self, session: Session, counters: RedisCounters) -> None:
        self.session, self.counters = session, counters
        self.posts = BucketedList(session, PHOTOS_BY_OWNER)
        ks = keyspace_of(session)
        self._photos = session.prepare(
            f"SELECT photo_id, {_DETAILS}, deleted FROM {ks}.photos WHERE photo_id IN ?")
        self._states = session.prepare(
            f"SELECT photo_id, owner_id, alt_text, deleted FROM {ks}.photos "
            "WHERE photo_id IN ?")
        # One shard (one partition) per count: an aggregate over `shard IN (...)` makes
        # the coordinator gather every partition itself, and Cassandra warns (server log
        # and client warning) on each such query.
        self._count_likes = session.prepare(
            f"SELECT COUNT(*) FROM {ks}.photo_likes WHERE photo_id = ? AND shard = ?")
        self._count_comments = session.prepare(
            f"SELECT COUNT(*) FROM {ks}.photo_comments WHERE photo_id = ? AND shard = ?")
        self._likes_of = session.prepare(
            f"SELECT photo_id FROM {ks}.photo_likes WHERE photo_id IN ? AND shard = ? "
            "AND user_id = ?")
        # Every shard in one query: PER PARTITION LIMIT (a plain LIMIT would count the
        # rows of all shards together, in shard order, not position order).
        self._comments_after = session.prepare(
            f"SELECT {_COMMENT} FROM {ks}.photo_comments WHERE photo_id = ? "
            f"AND shard IN {ALL_SHARDS_CQL} AND position > ? PER PARTITION LIMIT ?")
        self.likes_index = BucketedList(session, LIKES_BY_USER)
        self.comments_index = BucketedList(session, COMMENTS_BY_AUTHOR)
        self._comment_location = session.prepare(
            f"SELECT photo_id FROM {ks}.comments_by_id WHERE comment_id = ?")
        self._comment = session.prepare(
            f"SELECT {_COMMENT} FROM {ks}.photo_comments WHERE photo_id = ? AND shard = ? "
            "AND position = ? AND comment_id = ?")

    def photo(self, photo_id: str) -> PhotoRecord | None:
        return self.many([photo_id]).get(photo_id)

    def many(self, photo_ids: list[str]) -> dict[str, PhotoRecord]:
        live = self._live(photo_ids)
        counts = self._counts(list(live))
        return {photo_id: _photo(row, *counts[photo_id]) for photo_id, row in live.items()}

    def _counts(self, photo_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(likes, comments) of each of `photo_ids` (photos found live): the Redis
        counters in one MGET, or counted from the rows while Redis has lost its data."""
        if not photo_ids:
            return {}
        table = self.counters.saved_table((LIKES, COMMENTS), photo_ids)
        if table is None:
            return self.counts_from_rows(photo_ids)
        return {pid: (table[LIKES][pid], table[COMMENTS][pid]) for pid in photo_ids}

    def counts_from_rows(self, photo_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(likes, comments) of each of `photo_ids`, counted from their rows (COUNT(*) of
        each shard, all concurrently): what `rebuild-redis` puts back in the counters."""
        # Per photo: SHARDS like counts, then SHARDS comment counts, in that order.
        # COUNT(*) answers one row with one column.
        counts = [rows[0][0] for rows in rows_of(execute_concurrent(self.session, [
            (statement, (photo_id, shard)) for photo_id in photo_ids
            for statement in (self._count_likes, self._count_comments)
            for shard in range(SHARDS)]))]
        return {photo_id: (sum(counts[at:at + SHARDS]),
                           sum(counts[at + SHARDS:at + 2 * SHARDS]))
                for at, photo_id in zip(range(0, len(counts), 2 * SHARDS), photo_ids,
                                        strict=True)}

    def by_owner(self, owner_id: str, before: int | None, limit: int) -> list[PhotoRecord]:
        return self.recent_by_owners([owner_id], before, limit)

    def recent_by_owners(self, owner_ids: list[str], before: int | None,
                         limit: int) -> list[PhotoRecord]:
        found: list[PhotoRecord] = []
        owners = list(dict.fromkeys(owner_ids))
        while len(found) < limit:
            missing = limit - len(found)
            newest = sorted((entry for owner in owners
                             for entry in self.posts.newest(owner, before, missing)),
                            key=lambda entry: entry[1], reverse=True)[:missing]
            if not newest:
                break
            photos = self.many([photo_id for photo_id, _ in newest])
            found += [photos[photo_id] for photo_id, _ in newest if photo_id in photos]
            # A listed photo without live details (a write racing a deletion) is
            # skipped, and the page goes on below it.
            before = newest[-1][1]
        return found

    def liked_by(self, user_id: str, photo_ids: list[str]) -> set[str]:
        return self.start_liked_by(user_id, photo_ids)()

    def start_liked_by(self, user_id: str, photo_ids: list[str]) -> Callable[[], set[str]]:
        pending = rows_in_started(self.session, [self._liked(user_id, photo_ids)])

        def answer() -> set[str]:
            [rows] = pending()
            return {row.photo_id for row in rows}
        return answer

    def card_states(self, photo_ids: list[str],
                    liker: str | None = None) -> dict[str, CardState]:
        return self.start_card_states(photo_ids, liker)()

    def start_card_states(self, photo_ids: list[str], liker: str | None = None
                          ) -> Callable[[], dict[str, CardState]]:
        # The live check and alt text of every photo and the liker's likes in one round
        # trip (an IN query each), sent now; the counts in one more (Redis) once the
        # live photos are known.
        ids = list(dict.fromkeys(photo_ids))
        if not ids:
            return dict
        reads = [(self._states, ids, ())] + ([self._liked(liker, ids)] if liker else [])
        pending = rows_in_started(self.session, reads)

        def answer() -> dict[str, CardState]:
            states, *likes = pending()
            found = {row.photo_id: row for row in states
                     if not row.deleted and row.owner_id is not None}
            live = {pid: found[pid] for pid in ids if pid in found}  # in the order asked
            liked = {row.photo_id for row in likes[0]} if likes else set()
            counts = self._counts(list(live))
            return {pid: CardState(*counts[pid], row.alt_text, pid in liked)
                    for pid, row in live.items()}
        return answer

    def _liked(self, user_id: str, photo_ids: list[str]) -> tuple[Any, list[str], tuple[Any, ...]]:
        """The read of which of `photo_ids` `user_id` likes (for `rows_in`)."""
        return (self._likes_of, list(dict.fromkeys(photo_ids)), (shard_of(user_id), user_id))

    def comments(self, photo_id: str, after: int | None, limit: int) -> list[CommentRecord]:
        if limit <= 0:
            return []
        found = self.session.execute(self._comments_after, (photo_id, after or 0, limit))
        rows = sorted(found, key=lambda row: (row.position, row.comment_id))[:limit]
        return [CommentRecord(comment_id=row.comment_id, photo_id=row.photo_id,
                              author_id=row.author_id, text=row.comment_text,
                              created_at=row.created_at, position=row.position)
                for row in rows]

    def likes_by_user(self, user_id: str, before: int | None, limit: int) -> list[LikeRecord]:
        found: list[LikeRecord] = []
        while len(found) < limit:
            entries = self.likes_index.newest(user_id, before, limit - len(found))
            if not entries:
                break
            live = self._live([photo_id for photo_id, _ in entries])
            # Rows of photos deleted since (their likes went with them) are skipped.
            found += [LikeRecord(photo_id, position) for photo_id, position in entries
                      if photo_id in live]
            before = entries[-1][1]
        return found

    def comments_by_author(self, author_id: str, before: int | None,
                           limit: int) -> list[CommentRecord]:
        found: list[CommentRecord] = []
        while len(found) < limit:
            entries = self.comments_index.newest(author_id, before, limit - len(found))
            if not entries:
                break
            found += self._comments_at(entries)
            before = entries[-1][1]
        return found

    def _comments_at(self, entries: list[tuple[str, int]]) -> list[CommentRecord]:
        """The comments (id, position) that are still there, on live photos, in order."""
        places = rows_of(execute_concurrent_with_args(
            self.session, self._comment_location, [(comment_id,) for comment_id, _ in entries]))
        located = [(comment_id, position, rows[0].photo_id)
                   for (comment_id, position), rows in zip(entries, places) if rows]
        live = self._live([photo_id for _, _, photo_id in located])
        located = [entry for entry in located if entry[2] in live]
        rows = rows_of(execute_concurrent_with_args(
            self.session, self._comment,
            [(photo_id, shard_of(comment_id), position, comment_id)
             for comment_id, position, photo_id in located]))
        return [CommentRecord(comment_id=row.comment_id, photo_id=row.photo_id,
                              author_id=row.author_id, text=row.comment_text,
                              created_at=row.created_at, position=row.position)
                for found in rows for row in found]

    def _live(self, photo_ids: list[str]) -> dict[str, Any]:
        """The detail rows of those of `photo_ids` that are posted and not deleted, in the
        order of `photo_ids`."""
        ids = list(dict.fromkeys(photo_ids))
        [rows] = rows_in(self.session, [(self._photos, ids, ())])
        found = {row.photo_id: row for row in rows
                 if not row.deleted and row.owner_id is not None}
        return {photo_id: found[photo_id] for photo_id in ids if photo_id in found}


def _photo(row: Any, likes: int, comments: int) -> PhotoRecord:
    return PhotoRecord(
        photo_id=row.photo_id, owner_id=row.owner_id, caption=row.caption or "",
        location=row.location or "", hashtags=list(row.hashtags or []),
        tagged_user_ids=list(row.tagged_user_ids or []), variants=dict(row.variants or {}),
        width=row.width, height=row.height, posted_at=row.posted_at,
        position=row.position, likes=likes, comments=comments,
        variant_sizes=_variant_sizes(row), placeholder=row.placeholder,
        alt_text=row.alt_text, original_key=row.original_key)


def _variant_sizes(row: Any) -> dict[str, dict[str, int]]:
    """The row's sizes; a row written before the column existed came from a PhotoPosted v1
    event: its sizes are what that event upcasts to, as a rebuild would write them."""
    if row.variant_sizes is None:
        return v1_variant_sizes(row.width, row.height, row.variants or {})
    return {name: dict(size) for name, size in row.variant_sizes.items()}

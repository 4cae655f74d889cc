"""Notifications view on Cassandra: each user's notifications newest first, and read markers.

Same semantics as the SQLite view (infra/sqlite/notifications.py), without its
transaction. In the cluster profile an event may arrive after events of other aggregates
that followed it in the log, may arrive twice, and after a worker crash is applied again
on top of its own partial effects. Hence:

- Every write carries `USING TIMESTAMP <position of the event applying it>`
  (`streams.delivery`). A notification's adds and removes all come from one aggregate,
  so last-writer-wins by position is exactly "the later event wins", whatever the order
  of delivery and however often an event is applied again. No event deletes and
  re-inserts the same row (on equal timestamps the delete would win).
- A notification's row in `notifications_by_id` is the truth (`removed` hides it, and
  `writetime(removed)` tells which event decided that); `notifications_by_user` lists the
  visible ones only, keyed by position, so each add of an id writes a row of its own and
  each hide deletes the one it read.
- Photo deletions race with likes and comments of other aggregates, so the two write
  before they read (Dekker): `add` indexes the notification under its photo before it
  looks for the photo's deletion marker, and `remove_about_photo` writes the marker before
  it reads that index; one of them always sees the other. A read and a making of the
  notification it names race the same way (`projections.notifications`): each writes its
  own row (the read's position, the making's position) before it reads the other's.

- An account's deletion deletes the user's partitions for good (`forget_recipient`):
  a follow or a tag of the person can be saved just after the deletion and be written
  before or after it, and no later write may bring a row of theirs back.

Writes of one event are ordered so that a crash between any two of them, followed by the
event applied again, ends in the rows of one clean application (see each method).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NamedTuple

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import UNSET_VALUE
from photoshare.infra.cassandra.schema import (
    FOREVER,
    NO_POSITION_LIMIT,
    SHARDS,
    keyspace_of,
    rows_of,
    shard_of,
)
from photoshare.infra.cassandra.write_buffer import DirectWrites, WriteBuffer
from photoshare.projections.notifications import (
    NOTICE_KIND,
    Notification,
    NotificationQueries,
    NotificationStore,
)
from photoshare.streams.delivery import Delivery
from photoshare.streams.runner import Notice, Outbox

TABLES_CQL = (
    # Every notification ever stored, visible or hidden (`removed`): a read marker may
    # name a hidden one. A row holding only `removed` (no user_id) is one a photo
    # deletion hid before its add was written: not stored yet.
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.notifications_by_id (
        notification_id text PRIMARY KEY, user_id text, type text, actor_id text,
        photo_id text, created_at text, position bigint, removed boolean)""",
    # A user's visible notifications, newest first (ties: id descending, as SQLite).
    # Bound: every notification the user ever kept (~150 bytes each; 100 MB at ~700,000
    # likes, comments, follows and tags received). A very popular account would need
    # position buckets, as schema.BucketedList does for followers; not done yet.
    """CREATE TABLE IF NOT EXISTS {keyspace}.notifications_by_user (
        user_id text, position bigint, notification_id text, type text, actor_id text,
        photo_id text, created_at text,
        PRIMARY KEY ((user_id), position, notification_id))
        WITH CLUSTERING ORDER BY (position DESC, notification_id DESC)""",
    # Notifications about a photo (likes, comments, tags) and where each one's list row
    # is, for the photo's deletion. Bound: hash shard (schema.SHARDS) of the photo's
    # notifications, ~100 bytes a row: under 100 MB up to ~8 M per photo.
    """CREATE TABLE IF NOT EXISTS {keyspace}.notifications_by_photo (
        photo_id text, shard int, notification_id text, user_id text, position bigint,
        PRIMARY KEY ((photo_id, shard), notification_id))""",
    # Photos deleted, so that a late notification about one is stored hidden.
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.notification_deleted_photos (
        photo_id text PRIMARY KEY)""",
    # Candidates for a user's read marker, highest first: read_up_to is the first row, so
    # concurrent moves need no read-modify-write. Bound: one ~20-byte row per position
    # the user ever marked (a few reads a day: well under 1 MB in years).
    """CREATE TABLE IF NOT EXISTS {keyspace}.notification_read_marks (
        user_id text, position bigint, PRIMARY KEY ((user_id), position))
        WITH CLUSTERING ORDER BY (position DESC)""",
    # Every position a user's notification was made at (one id is made again after its
    # cause was undone): a read resolves to the latest at or before itself. Partitioned
    # by user, so an account deletion drops it whole. Bound: ~40 bytes per making the
    # user ever received, as `notifications_by_user`.
    """CREATE TABLE IF NOT EXISTS {keyspace}.notification_makes (
        user_id text, notification_id text, position bigint,
        PRIMARY KEY ((user_id), notification_id, position))
        WITH CLUSTERING ORDER BY (notification_id ASC, position DESC)""",
    # The positions of the reads naming a user's notifications: a making delivered after
    # a later read still moves the marker. Bound: ~40 bytes per read the user made.
    """CREATE TABLE IF NOT EXISTS {keyspace}.notification_reads_named (
        user_id text, notification_id text, read_position bigint,
        PRIMARY KEY ((user_id), notification_id, read_position))
        WITH CLUSTERING ORDER BY (notification_id ASC, read_position DESC)""",
)

_FIELDS = "user_id, type, actor_id, photo_id, created_at, position"


class IdRow(NamedTuple):
    """A `notifications_by_id` row as a worker's batch left it (the columns the store
    reads back), recalled from the write buffer by the batch's later events."""

    user_id: str
    position: int
    removed: bool
    removed_at: int  # writetime(removed)


class CassandraNotificationStore(NotificationStore):
    """Idempotent, order-insensitive writes of the notifications view (module docstring).

    One per worker, reading the current event from `delivery`; `bind` gives each batch
    a copy announcing into that batch's outbox."""

    def __init__(self, session: Session, delivery: Delivery,
                 outbox: Outbox | None = None, buffer: WriteBuffer | None = None) -> None:
        self.session, self.delivery, self.outbox = session, delivery, outbox
        # In a worker's batch, an add's id row and list row are staged (`add`), and the
        # id row is recalled from the buffer by the batch's later events.
        self.buffer: WriteBuffer | DirectWrites = buffer or DirectWrites(session)
        ks = keyspace_of(session)
        self._row = session.prepare(
            f"SELECT {_FIELDS}, removed, writetime(removed) AS removed_at "
            f"FROM {ks}.notifications_by_id WHERE notification_id = ?")
        self._put_row = session.prepare(
            f"INSERT INTO {ks}.notifications_by_id (notification_id, {_FIELDS}, removed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._hide = session.prepare(
            f"UPDATE {ks}.notifications_by_id USING TIMESTAMP ? SET removed = true "
            "WHERE notification_id = ?")
        self._list = session.prepare(
            f"INSERT INTO {ks}.notifications_by_user (notification_id, {_FIELDS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._unlist = session.prepare(
            f"DELETE FROM {ks}.notifications_by_user USING TIMESTAMP ? "
            "WHERE user_id = ? AND position = ? AND notification_id = ?")
        self._index = session.prepare(
            f"INSERT INTO {ks}.notifications_by_photo (photo_id, shard, notification_id, "
            "user_id, position) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._about_photo = session.prepare(
            f"SELECT notification_id, user_id, position FROM {ks}.notifications_by_photo "
            "WHERE photo_id = ? AND shard = ?")
        self._mark_deleted = session.prepare(
            f"INSERT INTO {ks}.notification_deleted_photos (photo_id) VALUES (?) "
            "USING TIMESTAMP ?")
        self._deleted = session.prepare(
            f"SELECT photo_id FROM {ks}.notification_deleted_photos WHERE photo_id = ?")
        self._mark_read = session.prepare(
            f"INSERT INTO {ks}.notification_read_marks (user_id, position) VALUES (?, ?) "
            "USING TIMESTAMP ?")
        self._made = session.prepare(
            f"INSERT INTO {ks}.notification_makes (user_id, notification_id, position) "
            "VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._made_by = session.prepare(
            f"SELECT position FROM {ks}.notification_makes WHERE user_id = ? "
            "AND notification_id = ? AND position <= ? LIMIT 1")
        self._read_named = session.prepare(
            f"INSERT INTO {ks}.notification_reads_named (user_id, notification_id, "
            "read_position) VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._read_since = session.prepare(
            f"SELECT read_position FROM {ks}.notification_reads_named WHERE user_id = ? "
            "AND notification_id = ? AND read_position >= ? LIMIT 1")
        self._forget_list = session.prepare(
            f"DELETE FROM {ks}.notifications_by_user USING TIMESTAMP ? WHERE user_id = ?")
        self._forget_makes = session.prepare(
            f"DELETE FROM {ks}.notification_makes USING TIMESTAMP ? WHERE user_id = ?")
        self._forget_reads = session.prepare(
            f"DELETE FROM {ks}.notification_reads_named USING TIMESTAMP ? WHERE user_id = ?")
        self._forget_marks = session.prepare(
            f"DELETE FROM {ks}.notification_read_marks USING TIMESTAMP ? WHERE user_id = ?")

    def bind(self, outbox: Outbox) -> CassandraNotificationStore:
        """A shallow copy that announces into `outbox` (one per batch); prepared
        statements shared."""
        bound = copy.copy(self)
        bound.outbox = outbox
        return bound

    def _stamp(self) -> int:
        """The write timestamp: the position of the event being applied."""
        if self.delivery.position <= 0:
            raise RuntimeError("no event is being applied: call delivery.at() first")
        return self.delivery.position

    def add(self, notification: Notification) -> bool:
        """Store it; True if absent, hidden by an older event, or already stored by this
        very event (a replay finishing what it started).

        Writes, in order: the photo index row (before looking for the photo's deletion:
        Dekker with `remove_about_photo`), then the id row, then the list row. In a
        worker's batch the last two are staged, the list row in the second phase, so
        a listed notification always has its id row (a read marks it by id). Re-applied
        after a crash after any of them, the answer is True again (the id row, if
        written, is this event's) and the same rows are written again. The id row
        racing with a photo's deletion on another worker may land before or after
        the deletion's hiding of it: the timestamps decide, not the order."""
        n, stamp = notification, self._stamp()
        photo = UNSET_VALUE if n.photo_id is None else n.photo_id
        if n.photo_id is not None:
            self.session.execute(self._index, (n.photo_id, shard_of(n.notification_id),
                                               n.notification_id, n.user_id, n.position,
                                               stamp))
            reads = rows_of(execute_concurrent(self.session, [
                (self._row, (n.notification_id,)), (self._deleted, (n.photo_id,))]))
            row = self.buffer.recall(("notifications_by_id", n.notification_id),
                                     next(iter(reads[0]), None))
            deleted = bool(reads[1])
        else:
            row, deleted = self._row_of(n.notification_id), False
        values = (n.notification_id, n.user_id, n.type, n.actor_id, photo, n.created_at,
                  n.position)
        if deleted:
            # Its photo's deletion came first: stored hidden, the row it would be had the
            # events come in log order. The timestamp moves position, actor and time on
            # only if this add is the newest one.
            self._stage_row(values, removed=True)
            return False
        if row is not None and row.user_id is not None:
            if row.removed and row.removed_at >= stamp:
                return False  # a later event hid it: this is a stale replay
            if not row.removed and row.position != n.position:
                return False  # there already (another event's row)
            # Else hidden by an older event (added again), or written by this event.
        self._stage_row(values, removed=False)
        self.buffer.stage([(self._list, (*values, stamp))], last=True)
        return True

    def _stage_row(self, values: tuple[Any, ...], *, removed: bool) -> None:
        """Stage the id row (`values` as `_put_row` takes them, less `removed`), and
        keep what it makes of the row for the batch's later reads of it."""
        stamp = self._stamp()
        self.buffer.stage([(self._put_row, (*values, removed, stamp))])
        notification_id, user_id, _, _, _, _, position = values
        self._remember_row(notification_id, IdRow(user_id, position, removed, stamp))

    def _remember_row(self, notification_id: str, row: IdRow) -> None:
        self.buffer.remember(("notifications_by_id", notification_id), row, self._stamp())

    def _row_of(self, notification_id: str) -> Any:
        """The id row as this batch left it, else as Cassandra holds it."""
        staged = self.buffer.recall(("notifications_by_id", notification_id), None)
        if staged is not None:
            return staged
        return self.session.execute(self._row, (notification_id,)).one()

    def announce(self, notification: Notification) -> None:
        """Queue the live notice (dropped without an outbox: nobody listens)."""
        if self.outbox is not None:
            self.outbox.append(Notice(user_id=notification.user_id, kind=NOTICE_KIND,
                                      data=notification.to_dict()))

    def remove(self, notification_id: str) -> None:
        """Hide it and delete the list row its id row names. The removal and the adds of
        one notification come from one aggregate, in order, so the id row read is the
        add this removal undoes (or, replayed late, a newer one whose rows its older
        timestamp cannot touch). Both writes are idempotent: a crash redoes them."""
        stamp = self._stamp()
        row = self._row_of(notification_id)
        if row is None or row.user_id is None:
            return  # never stored (a self-action's undo): nothing to hide
        execute_concurrent(self.session, [
            (self._hide, (stamp, notification_id)),
            (self._unlist, (stamp, row.user_id, row.position, notification_id))])
        self._remember_row(notification_id, IdRow(row.user_id, row.position, True, stamp))

    def remove_about_photo(self, photo_id: str) -> None:
        """The deletion marker first (Dekker with `add`), then every notification indexed
        under the photo is hidden and unlisted, for good: nothing about a deleted photo
        is ever shown again. Usually the deletion is the newest event about the photo;
        but a like or comment can be saved just after it (its own aggregate, decided on
        the photo as it was a moment before) and, from another partition, be applied
        before it. So each row is hidden at the deletion's position or at the row's own,
        whichever is higher: at a tie, Cassandra keeps the deletion of the list row (a
        tombstone wins) and `removed = true` (the greater value wins). A crash anywhere:
        the replay writes the same rows again."""
        stamp = self._stamp()
        self.session.execute(self._mark_deleted, (photo_id, stamp))
        shards = rows_of(execute_concurrent_with_args(
            self.session, self._about_photo, [(photo_id, shard) for shard in range(SHARDS)]))
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for row in (row for shard in shards for row in shard):
            hidden_at = max(stamp, row.position)
            writes += [(self._hide, (hidden_at, row.notification_id)),
                       (self._unlist, (hidden_at, row.user_id, row.position,
                                       row.notification_id))]
        if writes:
            execute_concurrent(self.session, writes)

    def forget_recipient(self, user_id: str) -> None:
        """Delete the user's list, read marks, makings and reads for good: partition
        deletes at a timestamp above every event's (`FOREVER`; a user id is never used
        again). Most of what they hold is older than the deletion, but a follow or a tag
        can be saved just after it (its own aggregate, decided a moment before), and
        applied before or after it: its rows there are shadowed too, whatever the order,
        at no cost to `add`. Its `notifications_by_id` row stays, listed nowhere, which
        `by_id` checks. (Cassandra purges a tombstone `gc_grace_seconds` after it was
        written, 10 days by default: a write of that partition delivered later than that
        would show again.) Idempotent: a replay deletes again."""
        self._stamp()  # only while an event is being applied
        execute_concurrent(self.session, [(forget, (FOREVER, user_id)) for forget in (
            self._forget_list, self._forget_marks, self._forget_makes, self._forget_reads)])

    def remember_made(self, notification: Notification) -> None:
        """Before `add` looks for anything, and before the caller looks for reads
        (Dekker with `remember_read`). Idempotent: a replay writes the same row."""
        n = notification
        self.session.execute(self._made, (n.user_id, n.notification_id, n.position,
                                          self._stamp()))

    def position_of(self, user_id: str, notification_id: str, at: int) -> int | None:
        """The latest making at or below `at`; the id row's position counts too (it is a
        making), which answers for notifications stored before makings were kept."""
        made, rows = rows_of(execute_concurrent(self.session, [
            (self._made_by, (user_id, notification_id, at)),
            (self._row, (notification_id,))]))
        staged = self.buffer.recall(("notifications_by_id", notification_id), None)
        rows = [*rows, *([staged] if staged is not None else [])]
        found = [row.position for row in made]
        found += [row.position for row in rows
                  if row.user_id == user_id and row.position is not None
                  and row.position <= at]
        return max(found, default=None)

    def advance_read_marker(self, user_id: str, position: int) -> None:
        """One more candidate row: the marker is the highest, so it never moves back."""
        self.session.execute(self._mark_read, (user_id, position, self._stamp()))

    def remember_read(self, user_id: str, notification_id: str, at: int) -> None:
        """Before the caller resolves the read (Dekker with `remember_made`)."""
        self.session.execute(self._read_named, (user_id, notification_id, at, self._stamp()))

    def read_since(self, user_id: str, notification_id: str, position: int) -> bool:
        return self.start_read_since(user_id, notification_id, position)()

    def start_read_since(self, user_id: str, notification_id: str,
                         position: int) -> Callable[[], bool]:
        pending = self.session.execute_async(self._read_since,
                                             (user_id, notification_id, position))
        return lambda: pending.result().one() is not None


class CassandraNotificationQueries(NotificationQueries):
    def __init__(self, session: Session) -> None:
        self.session = session
        ks = keyspace_of(session)
        self._page = session.prepare(
            f"SELECT notification_id, {_FIELDS} FROM {ks}.notifications_by_user "
            "WHERE user_id = ? AND position < ? LIMIT ?")
        self._row = session.prepare(
            f"SELECT notification_id, {_FIELDS}, removed FROM {ks}.notifications_by_id "
            "WHERE notification_id = ?")
        self._listed = session.prepare(
            f"SELECT notification_id FROM {ks}.notifications_by_user WHERE user_id = ? "
            "AND position = ? AND notification_id = ?")
        self._marker = session.prepare(
            f"SELECT position FROM {ks}.notification_read_marks WHERE user_id = ? LIMIT 1")

    def for_user(self, user_id: str, before: int | None, limit: int) -> list[Notification]:
        below = NO_POSITION_LIMIT if before is None else min(before, NO_POSITION_LIMIT)
        if limit <= 0 or below <= 0:
            return []
        return [_notification(row)
                for row in self.session.execute(self._page, (user_id, below, limit))]

    def by_id(self, user_id: str, notification_id: str) -> Notification | None:
        row = self.session.execute(self._row, (notification_id,)).one()
        if row is None or row.user_id != user_id or row.removed:
            return None
        # Only a listed one is the user's: one saved just after their account's deletion
        # has its id row, and its list row was deleted for good (`forget_recipient`).
        if self.session.execute(self._listed, (user_id, row.position,
                                               notification_id)).one() is None:
            return None
        return _notification(row)

    def read_up_to(self, user_id: str) -> int:
        return self.start_read_up_to(user_id)()

    def start_read_up_to(self, user_id: str) -> Callable[[], int]:
        pending = self.session.execute_async(self._marker, (user_id,))

        def answer() -> int:
            row = pending.result().one()
            return row.position if row else 0
        return answer


def _notification(row: Any) -> Notification:
    return Notification(notification_id=row.notification_id, user_id=row.user_id,
                        type=row.type, actor_id=row.actor_id, photo_id=row.photo_id,
                        created_at=row.created_at, position=row.position)

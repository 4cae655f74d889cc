"""Home timelines on SQLite: materialized rows, and the view's own follows and post index.

A page merges the materialized rows with the posts of the user's celebrity followees and
the user's own posts, both read from the post index (`projections.timelines`).

Tables (all WITHOUT ROWID, keyed for the queries below):
- `timeline`: the materialized rows, (user_id, position) so a page is one range scan;
  `timeline_by_position` finds every copy of one post (delete, fan-out bookkeeping).
- `tl_posts`: every live post by (owner_id, position): back-fills, refills and the
  read-time merge of celebrities' posts and of the reader's own; `tl_posts_by_photo` for
  deletes.
- `tl_follows`: the view's own follow edges with a `celebrity` flag on the followee;
  `tl_follows_by_followee` for fan-out, and a partial index of the celebrity edges so a
  read finds a user's celebrity followees without scanning all their follows.
- `tl_users`: follower count (celebrity status) and materialized timeline size (trims
  and "was it full?" without counting rows).
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from photoshare.infra.settings import Settings
from photoshare.projections.timelines import (
    TimelineEntry,
    TimelineQueries,
    TimelinesProjection,
    TimelineStore,
)
from photoshare.streams.runner import Binding, Notice, Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS timeline (
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    photo_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timeline_by_position ON timeline (position);
CREATE TABLE IF NOT EXISTS tl_posts (
    owner_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    photo_id TEXT NOT NULL,
    PRIMARY KEY (owner_id, position)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS tl_posts_by_photo ON tl_posts (photo_id);
CREATE TABLE IF NOT EXISTS tl_follows (
    follower_id TEXT NOT NULL,
    followee_id TEXT NOT NULL,
    celebrity INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tl_follows_by_followee ON tl_follows (followee_id);
CREATE INDEX IF NOT EXISTS tl_follows_celebrities ON tl_follows (follower_id, followee_id)
    WHERE celebrity = 1;
CREATE TABLE IF NOT EXISTS tl_users (
    user_id TEXT PRIMARY KEY,
    followers INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""

_NO_LIMIT = 2**62

# The newest `:n` posts of each of the user's (celebrity or other) followees below
# `:before`. The bound is the n-th newest such post of that followee, found per followee
# (the correlated subquery depends on `f` only), so each followee costs O(n) index steps
# however many posts it has. (`celebrity` is spelled in the SQL text, not bound, so the
# partial index of celebrity edges can serve.)
_FOLLOWEES_POSTS = """
SELECT p.photo_id AS photo_id, p.owner_id AS owner_id, p.position AS position
FROM tl_follows AS f {edges} JOIN tl_posts AS p ON p.owner_id = f.followee_id
WHERE f.follower_id = :user AND f.celebrity = {celebrity} AND p.position < :before
  AND p.position >= coalesce((SELECT q.position FROM tl_posts AS q
                              WHERE q.owner_id = f.followee_id AND q.position < :before
                              ORDER BY q.position DESC LIMIT 1 OFFSET :n - 1), 0)
"""

# The celebrity edges through their partial index, named: SQLite's planner, with no
# statistics to tell the two apart, takes the primary key (follower_id, followee_id)
# instead and reads every one of the user's follows to find the few celebrities (a page
# of a user following 5,000 accounts: 530 µs of SQL, 83 µs through the index).
_CELEBRITY_EDGES = "INDEXED BY tl_follows_celebrities"

# A page: the materialized rows, the user's celebrity followees' posts and the user's own
# posts below `:before`, merged newest first, deduplicated (UNION), limited to what
# remains of the newest `:cap` posts once those at or above `:before` are counted (each
# count stops at `:cap` rows, so a deep or forged cursor stays cheap). Without celebrity
# followees, the celebrity parts are one probe of an empty partial-index range; the own
# posts are one range of `tl_posts`' primary key.
_MERGED_PAGE = f"""
SELECT photo_id, owner_id, position FROM (
    SELECT * FROM (SELECT photo_id, owner_id, position FROM timeline
                   WHERE user_id = :user AND position < :before
                   ORDER BY position DESC LIMIT :n)
    UNION
    SELECT * FROM ({_FOLLOWEES_POSTS.format(celebrity=1, edges=_CELEBRITY_EDGES)}
                   ORDER BY p.position DESC LIMIT :n)
    UNION
    SELECT * FROM (SELECT photo_id, owner_id, position FROM tl_posts
                   WHERE owner_id = :user AND position < :before
                   ORDER BY position DESC LIMIT :n)
)
ORDER BY position DESC
LIMIT max(0, min(:n, :cap
    - (SELECT count(*) FROM (SELECT 1 FROM timeline
                             WHERE user_id = :user AND position >= :before LIMIT :cap))
    - (SELECT count(*) FROM (SELECT 1 FROM tl_follows AS f {_CELEBRITY_EDGES}
                                 JOIN tl_posts AS p
                                 ON p.owner_id = f.followee_id
                             WHERE f.follower_id = :user AND f.celebrity = 1
                               AND p.position >= :before LIMIT :cap))
    - (SELECT count(*) FROM (SELECT 1 FROM tl_posts
                             WHERE owner_id = :user AND position >= :before LIMIT :cap))))
"""

_REFILL = f"""
INSERT OR IGNORE INTO timeline (user_id, position, photo_id, owner_id)
SELECT :user, position, photo_id, owner_id
FROM ({_FOLLOWEES_POSTS.format(celebrity=0, edges="")})
ORDER BY position DESC LIMIT :n
"""


class SqliteTimelineStore(TimelineStore):
    def __init__(self, connection: sqlite3.Connection, outbox: Outbox) -> None:
        self.db = connection
        self.outbox = outbox

    # --- follows ----------------------------------------------------------------------

    def follower_count(self, user_id: str) -> int:
        row = self.db.execute("SELECT followers FROM tl_users WHERE user_id = ?",
                              (user_id,)).fetchone()
        return row[0] if row else 0

    def _followers_delta(self, user_id: str, delta: int) -> None:
        self.db.execute(
            "INSERT INTO tl_users (user_id, followers) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET followers = followers + excluded.followers",
            (user_id, delta))
        if delta < 0:
            self._forget_if_empty(user_id)

    def _forget_if_empty(self, user_id: str) -> None:
        # A row at zero is the same as no row; dropping it keeps the table the same
        # whatever order the events came in.
        self.db.execute("DELETE FROM tl_users WHERE user_id = ? AND followers = 0 AND size = 0",
                        (user_id,))

    def add_follow(self, follower_id: str, followee_id: str, celebrity: bool) -> bool:
        inserted = self.db.execute(
            "INSERT INTO tl_follows (follower_id, followee_id, celebrity) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (follower_id, followee_id, int(celebrity))).rowcount
        if inserted:
            self._followers_delta(followee_id, +1)
        return bool(inserted)

    def remove_follow(self, follower_id: str, followee_id: str) -> bool:
        deleted = self.db.execute(
            "DELETE FROM tl_follows WHERE follower_id = ? AND followee_id = ?",
            (follower_id, followee_id)).rowcount
        if deleted:
            self._followers_delta(followee_id, -1)
        return bool(deleted)

    def mark_celebrity(self, user_id: str, celebrity: bool) -> None:
        # The mark is the edges' flag: one transaction keeps them all alike.
        self.db.execute("UPDATE tl_follows SET celebrity = ? WHERE followee_id = ?",
                        (int(celebrity), user_id))

    def celebrities(self, user_ids: list[str]) -> set[str]:
        # Events are applied one at a time in one transaction, so an account's edges are
        # flagged alike, and flagged exactly while it has more followers than the
        # threshold (so it has one): any flagged edge is the mark.
        return {user_id for user_id in user_ids if self.db.execute(
            "SELECT 1 FROM tl_follows WHERE followee_id = ? AND celebrity = 1 LIMIT 1",
            (user_id,)).fetchone()}

    def follower_counts(self, user_ids: list[str]) -> dict[str, int]:
        return {user_id: self.follower_count(user_id) for user_id in user_ids}

    def settle_follows(self, pairs: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
        return [(follower, followee) for follower, followee, celebrity in pairs
                if self.db.execute(
                    "UPDATE tl_follows SET celebrity = ? WHERE follower_id = ? "
                    "AND followee_id = ? AND celebrity != ?",
                    (int(celebrity), follower, followee, int(celebrity))).rowcount]

    def followers(self, user_id: str) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT follower_id FROM tl_follows WHERE followee_id = ? ORDER BY follower_id",
            (user_id,))]

    # --- posts ------------------------------------------------------------------------

    def add_post(self, entry: TimelineEntry) -> bool:
        return bool(self.db.execute(
            "INSERT INTO tl_posts (owner_id, position, photo_id) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (entry.owner_id, entry.position, entry.photo_id)
        ).rowcount)

    def remove_post(self, photo_id: str) -> TimelineEntry | None:
        row = self.db.execute("DELETE FROM tl_posts WHERE photo_id = ? "
                              "RETURNING owner_id, position", (photo_id,)).fetchone()
        return TimelineEntry(photo_id, row[0], row[1]) if row else None

    # --- timelines --------------------------------------------------------------------

    def fan_out(self, entry: TimelineEntry, cap: int) -> None:
        receivers = [row[0] for row in self.db.execute(
            "INSERT OR IGNORE INTO timeline (user_id, position, photo_id, owner_id) "
            "SELECT follower_id, ?, ?, ? FROM tl_follows WHERE followee_id = ? "
            "RETURNING user_id",
            (entry.position, entry.photo_id, entry.owner_id, entry.owner_id))]
        if not receivers:
            return
        # Every receiver now has this post: count it, then drop the oldest row of each
        # timeline that went past the cap (it held at most `cap` rows before). The post
        # may itself be that oldest row: the cluster profile can deliver a post after
        # newer ones of other owners.
        self.db.execute(
            "INSERT INTO tl_users (user_id, size) "
            "SELECT user_id, 1 FROM timeline WHERE position = ? "
            "ON CONFLICT (user_id) DO UPDATE SET size = size + 1", (entry.position,))
        overfull = [(row[0], row[0]) for row in self.db.execute(
            "SELECT u.user_id FROM timeline AS r JOIN tl_users AS u ON u.user_id = r.user_id"
            " WHERE r.position = ? AND u.size > ?", (entry.position, cap))]
        self.db.executemany(
            "DELETE FROM timeline WHERE user_id = ? AND position = "
            "(SELECT min(position) FROM timeline WHERE user_id = ?)", overfull)
        self.db.executemany("UPDATE tl_users SET size = ? WHERE user_id = ?",
                            [(cap, user_id) for user_id, _ in overfull])
        data = {"photo_id": entry.photo_id, "owner_id": entry.owner_id,
                "position": entry.position}
        # One `data` shared by the post's notices (nothing changes a notice's data):
        # the Redis live feed sends such a run as one message to many channels.
        self.outbox.extend(Notice(user_id=user_id, kind="timeline", data=data)
                           for user_id in receivers)

    def _grow(self, user_id: str, added: int, cap: int) -> None:
        """Count `added` new rows in the user's timeline and trim it to `cap`."""
        if added <= 0:
            return
        size = self.db.execute(
            "INSERT INTO tl_users (user_id, size) VALUES (?, ?) ON CONFLICT (user_id) "
            "DO UPDATE SET size = size + excluded.size RETURNING size",
            (user_id, added)).fetchone()[0]
        if size > cap:
            self.db.execute(
                "DELETE FROM timeline WHERE user_id = ? AND position IN "
                "(SELECT position FROM timeline WHERE user_id = ? ORDER BY position LIMIT ?)",
                (user_id, user_id, size - cap))
            self.db.execute("UPDATE tl_users SET size = ? WHERE user_id = ?", (cap, user_id))

    def _shrunk(self, removed: Counter[str], cap: int) -> list[str]:
        """Uncount removed rows; the users whose timelines were full before."""
        full = []
        for user_id, count in sorted(removed.items()):
            size = self.db.execute(
                "UPDATE tl_users SET size = size - ? WHERE user_id = ? RETURNING size",
                (count, user_id)).fetchone()
            if size is not None and size[0] + count >= cap:
                full.append(user_id)
            self._forget_if_empty(user_id)
        return full

    def backfill(self, user_id: str, owner_id: str, cap: int) -> None:
        added = self.db.execute(
            "INSERT OR IGNORE INTO timeline (user_id, position, photo_id, owner_id) "
            "SELECT ?, position, photo_id, owner_id FROM tl_posts WHERE owner_id = ? "
            "ORDER BY position DESC LIMIT ?", (user_id, owner_id, cap)).rowcount
        self._grow(user_id, added, cap)

    def remove_photo(self, entry: TimelineEntry, cap: int) -> list[str]:
        removed = Counter(row[0] for row in self.db.execute(
            "DELETE FROM timeline WHERE position = ? AND photo_id = ? RETURNING user_id",
            (entry.position, entry.photo_id)))
        return self._shrunk(removed, cap)

    def remove_owner(self, owner_id: str, user_id: str | None, cap: int) -> list[str]:
        # Only the owner's newest `cap` posts can be in any timeline (each holds the
        # newest `cap` posts of its non-celebrity followees), so look those up by position.
        newest = ("SELECT position FROM tl_posts WHERE owner_id = :owner "
                  "ORDER BY position DESC LIMIT :cap")
        mine = "" if user_id is None else " AND user_id = :user"
        removed = Counter(row[0] for row in self.db.execute(
            f"DELETE FROM timeline WHERE position IN ({newest}) AND owner_id = :owner{mine} "
            "RETURNING user_id", {"owner": owner_id, "cap": cap, "user": user_id}))
        return self._shrunk(removed, cap)

    def refill(self, user_id: str, cap: int) -> None:
        size, oldest = self.db.execute(
            "SELECT (SELECT size FROM tl_users WHERE user_id = :user), "
            "(SELECT min(position) FROM timeline WHERE user_id = :user)",
            {"user": user_id}).fetchone()
        missing = cap - (size or 0)
        if missing <= 0:
            return
        # The timeline is still a newest-first prefix of its followees' posts, so what is
        # missing is older than its oldest row.
        added = self.db.execute(_REFILL, {
            "user": user_id, "n": missing,
            "before": oldest if oldest is not None else _NO_LIMIT}).rowcount
        self._grow(user_id, added, cap)


class SqliteTimelineQueries(TimelineQueries):
    def __init__(self, connection: sqlite3.Connection, cap: int) -> None:
        self.db = connection
        self.cap = cap

    def home(self, user_id: str, before: int | None, limit: int) -> list[TimelineEntry]:
        if limit <= 0:
            return []
        # One statement, so one snapshot: the celebrity flags and the rows it merges
        # always agree, even while the runner commits between two pages.
        rows = self.db.execute(_MERGED_PAGE, {
            "user": user_id, "before": before if before is not None else _NO_LIMIT,
            "n": limit, "cap": self.cap})
        return [TimelineEntry(row[0], row[1], row[2]) for row in rows]


def binding(settings: Settings) -> Binding:
    projection = TimelinesProjection(cap=settings.timeline_cap,
                                     celebrity_threshold=settings.celebrity_threshold)
    return Binding(projection,
                   lambda connection, outbox: SqliteTimelineStore(connection, outbox))


def queries(connection: sqlite3.Connection, settings: Settings) -> SqliteTimelineQueries:
    return SqliteTimelineQueries(connection, settings.timeline_cap)

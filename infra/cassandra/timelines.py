"""Home timelines in the cluster: the view's own follows and post index in Cassandra, the
materialized timelines ("heads") as capped sorted sets in Redis, follower counts as
Redis counters (ARCHITECTURE.md §3, §5). Reads merge the user's celebrity followees' posts
and the user's own posts into the head from the post index, so neither is ever in a head.

Cassandra holds what the timelines are made from, so Redis holds only what can be
rebuilt: a user's head is a cache of the newest `cap` posts of their non-celebrity
followees. A head that is missing (never built, or Redis lost its data) is read from
Cassandra instead, and built again the next time the worker needs it (a follow, a
refill). The worker only fans out to heads that exist, so a head is never partial: it
starts with a sentinel member, written before the posts it is built from are read, so
a fan-out racing with the build lands in it too.

Workers apply different partitions at the same time, so a post's fan-out (photos
topic) can race with an unfollow (graph topic): the fan-out may read the follower list
just before the unfollow and add the post just after the unfollow removed the owner's
posts. Each user therefore also has a follow register in Redis, owner -> the position
of the last follow (+) or unfollow (-) of that pair, only ever replaced by a newer
position; every add to a head (fan-out, back-fill, build) is a script that checks, at
that moment, that the owner is still followed. Redis runs scripts one at a time, so
either the fan-out comes first (and the unfollow's removal, after its register write,
removes the post) or it sees the unfollow (and adds nothing).

Cassandra writes carry `USING TIMESTAMP <position>` (except a celebrity transition's and
a settle's re-flagging, stamped one above what they replace: `mark_celebrity`) and the
"add if absent" answers
are True again for the same event (`streams.delivery`): a worker that crashed half-way
through an event, and applies it again, finishes it. Unfollows keep the pair's row as
inactive (rather than deleting it) for the same reason.

In a worker, the pair rows (`tl_follows`, `tl_celebrity_follows`) are staged in the
batch's write buffer (infra/cassandra/write_buffer.py) and recalled from it: the pair
read of a later event of the batch, and a head built within the batch, see them. The
fan-out list (`tl_followers`) and the post index are written at once, as before: each
is one half of a write-then-read pair with an event another worker may be applying
(a follow's back-fill reads the post index after writing the fan-out list; a post's
fan-out reads the list after writing the index), which only works when the write is
durable before the read.

Keys: heads `{prefix}tl:{user_id}`, members `owner_id/photo_id` scored by the post's log
position, the sentinel `~` at score 0 (log positions start at 1); follow registers
`{prefix}tlf:{user_id}`, a hash of owner_id -> signed position.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import redis
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from photoshare.infra.cassandra.schema import (
    NO_POSITION_LIMIT,
    TUPLE_ROWS,
    keyspace_of,
    rows_of,
)
from photoshare.infra.cassandra.write_buffer import DirectWrites, WriteBuffer
from photoshare.infra.redis.counters import RedisCounters
from photoshare.projections.timelines import (
    TimelineEntry,
    TimelineQueries,
    TimelineStore,
)
from photoshare.streams.delivery import Delivery
from photoshare.streams.runner import Notice, Outbox

TABLES_CQL = (
    # Whom a user follows: one row per pair ever followed (`active` false once
    # unfollowed). Bound: the accounts one user follows (the write side caps it).
    """CREATE TABLE IF NOT EXISTS {keyspace}.tl_follows (
        follower_id text, followee_id text, active boolean, celebrity boolean,
        position bigint, PRIMARY KEY ((follower_id), followee_id))""",
    # Who follows a user, for fan-out. Only accounts under the celebrity threshold are
    # fanned out, but a celebrity's partition holds all its followers: ~40 bytes a row,
    # 400 MB at 10 M followers, read only when the account stops being a celebrity.
    """CREATE TABLE IF NOT EXISTS {keyspace}.tl_followers (
        followee_id text, follower_id text, PRIMARY KEY ((followee_id), follower_id))""",
    # The celebrities a user follows, whose posts a read merges in.
    # Bound: the accounts one user follows.
    """CREATE TABLE IF NOT EXISTS {keyspace}.tl_celebrity_follows (
        follower_id text, followee_id text, PRIMARY KEY ((follower_id), followee_id))""",
    # Each account's celebrity mark (`projections.timelines`, "The celebrity mark"),
    # written by every transition before it re-flags the edges. Bound: one row per
    # partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.tl_celebrities (
        user_id text PRIMARY KEY, celebrity boolean)""",
    # A user's live posts, newest first. Bound: one user's photos (~60 bytes each).
    """CREATE TABLE IF NOT EXISTS {keyspace}.tl_posts (
        owner_id text, position bigint, photo_id text,
        PRIMARY KEY ((owner_id), position, photo_id))
        WITH CLUSTERING ORDER BY (position DESC, photo_id ASC)""",
    # Each post by id; `deleted` stays, so a replayed post of a deleted photo is refused.
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.tl_posts_by_photo (
        photo_id text PRIMARY KEY, owner_id text, position bigint, deleted boolean)""",
)

SENTINEL = "~"
FOLLOWERS = "timelines.followers"
_CHUNK = 500  # heads per Redis script call
# Followers per page of their read: 10,000 rows of one short column (~0.5 MB); fewer
# round trips than the driver's 5,000 (135,000 against 126,000 rows/s of fan-out).
FOLLOWER_PAGE = 10_000

# A follow register moves to a newer position only (sign: followed or not).
_REGISTER_LUA = """
local function register(key, owner, signed)
  local current = tonumber(redis.call('HGET', key, owner) or '0')
  if math.abs(current) < math.abs(signed) then redis.call('HSET', key, owner, signed) end
end
local function followed(key, owner)
  return tonumber(redis.call('HGET', key, owner) or '0') > 0
end
"""
# KEYS: tlf. ARGV: owner, signed position.
_REGISTER = _REGISTER_LUA + "register(KEYS[1], ARGV[1], tonumber(ARGV[2])) return 0"
# KEYS: the first receiver's head (only so that a cluster-aware client sends the script
# where the heads are). ARGV: member, score, cap, owner, the heads' key prefix, the
# registers' key prefix, then the receivers' user ids. Adds the post to each head that
# exists and still follows the owner, trimmed to `cap` posts (the sentinel, at rank 0,
# stays) when the post made it longer than that. Three calls a head, the fewest that do
# it: a head's length says whether it exists (it holds the sentinel from the start, and
# Redis keeps no empty set), and most heads are below the cap, so the trim is rarely
# called (1.2x the rows/s of EXISTS, ZADD, trim, measured alone). The keys are made
# here from the ids: two key arguments a receiver, each built and packed by redis-py,
# were a fifth of a popular account's fan-out (143,000 -> 171,000 rows/s without them).
# Like the counters' script, it needs the heads on one Redis (or one shard, with hash
# tags in the prefix).
_FAN_OUT = _REGISTER_LUA + """
local longest = tonumber(ARGV[3]) + 1
for i = 7, #ARGV do
  local head = ARGV[5] .. ARGV[i]
  local length = redis.call('ZCARD', head)
  if length > 0 and followed(ARGV[6] .. ARGV[i], ARGV[4]) then
    if redis.call('ZADD', head, ARGV[2], ARGV[1]) == 1 and length >= longest then
      redis.call('ZREMRANGEBYRANK', head, 1, -longest)
    end
  end
end
return 0
"""
# KEYS: head, tlf. ARGV: cap, number of registers, then (owner, signed position) per
# register, then (member, score, owner) per post. Moves the registers, adds the posts
# of owners still followed (if the head still exists), trims to `cap`. Answers whether
# the head exists.
_MERGE = _REGISTER_LUA + """
local registers = tonumber(ARGV[2])
for i = 3, 2 + registers * 2, 2 do register(KEYS[2], ARGV[i], tonumber(ARGV[i + 1])) end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 3 + registers * 2, #ARGV, 3 do
  if followed(KEYS[2], ARGV[i + 2]) then redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) end
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(tonumber(ARGV[1]) + 1))
return 1
"""
# KEYS: heads. ARGV: members..., then cap as the last. Removes the members from each
# head; answers the 1-based indexes of heads that held `cap` posts and lost one.
_REMOVE = """
local cap = tonumber(ARGV[#ARGV])
local full = {}
for i, key in ipairs(KEYS) do
  local before = redis.call('ZCARD', key) - 1
  local removed = 0
  for j = 1, #ARGV - 1 do removed = removed + redis.call('ZREM', key, ARGV[j]) end
  if removed > 0 and before >= cap then table.insert(full, i) end
end
return full
"""
# KEYS: heads. ARGV: owner prefix ("owner_id/"), cap. Removes the owner's posts.
_REMOVE_OWNER = """
local cap = tonumber(ARGV[2])
local full = {}
for i, key in ipairs(KEYS) do
  local members = redis.call('ZRANGEBYSCORE', key, 1, '+inf')
  local removed = 0
  for _, member in ipairs(members) do
    if string.sub(member, 1, #ARGV[1]) == ARGV[1] then
      removed = removed + redis.call('ZREM', key, member)
    end
  end
  if removed > 0 and #members >= cap then table.insert(full, i) end
end
return full
"""


def member(entry: TimelineEntry) -> str:
    return f"{entry.owner_id}/{entry.photo_id}"


def entry_of(value: bytes | str, score: float) -> TimelineEntry:
    text = value.decode() if isinstance(value, bytes) else value
    owner_id, _, photo_id = text.partition("/")
    return TimelineEntry(photo_id=photo_id, owner_id=owner_id, position=int(score))


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class TimelineTables:
    """The prepared statements and Redis scripts both sides use."""

    def __init__(self, session: Session, client: redis.Redis, prefix: str) -> None:
        self.session, self.redis, self.prefix = session, client, prefix
        ks = keyspace_of(session)
        prepare = session.prepare
        self.follow_row = prepare(
            f"SELECT followee_id, active, celebrity, position FROM {ks}.tl_follows "
            "WHERE follower_id = ? AND followee_id = ?")
        self.put_follow = prepare(
            f"INSERT INTO {ks}.tl_follows (follower_id, followee_id, active, celebrity, "
            "position) VALUES (?, ?, true, ?, ?) USING TIMESTAMP ?")
        self.end_follow = prepare(
            f"UPDATE {ks}.tl_follows USING TIMESTAMP ? SET active = false, position = ? "
            "WHERE follower_id = ? AND followee_id = ?")
        self.flag_follow = prepare(
            f"UPDATE {ks}.tl_follows USING TIMESTAMP ? SET celebrity = ? "
            "WHERE follower_id = ? AND followee_id = ?")
        self.followees = prepare(
            f"SELECT followee_id, active, celebrity, position FROM {ks}.tl_follows "
            "WHERE follower_id = ?")
        self.put_follower = prepare(
            f"INSERT INTO {ks}.tl_followers (followee_id, follower_id) VALUES (?, ?) "
            "USING TIMESTAMP ?")
        self.drop_follower = prepare(
            f"DELETE FROM {ks}.tl_followers USING TIMESTAMP ? WHERE followee_id = ? "
            "AND follower_id = ?")
        self.followers = prepare(
            f"SELECT follower_id FROM {ks}.tl_followers WHERE followee_id = ?")
        self.followers.fetch_size = FOLLOWER_PAGE
        self.put_celebrity = prepare(
            f"INSERT INTO {ks}.tl_celebrity_follows (follower_id, followee_id) VALUES (?, ?) "
            "USING TIMESTAMP ?")
        self.drop_celebrity = prepare(
            f"DELETE FROM {ks}.tl_celebrity_follows USING TIMESTAMP ? WHERE follower_id = ? "
            "AND followee_id = ?")
        self.celebrities = prepare(
            f"SELECT followee_id FROM {ks}.tl_celebrity_follows WHERE follower_id = ?")
        self.celebrity_follow = prepare(
            f"SELECT followee_id FROM {ks}.tl_celebrity_follows WHERE follower_id = ? "
            "AND followee_id = ?")
        self.edge_flag = prepare(
            f"SELECT active, celebrity, writetime(celebrity) AS flagged_at "
            f"FROM {ks}.tl_follows WHERE follower_id = ? AND followee_id = ?")
        self.mark_row = prepare(
            f"SELECT celebrity, writetime(celebrity) AS marked_at FROM {ks}.tl_celebrities "
            "WHERE user_id = ?")
        self.put_mark = prepare(
            f"INSERT INTO {ks}.tl_celebrities (user_id, celebrity) VALUES (?, ?) "
            "USING TIMESTAMP ?")
        self.post_row = prepare(
            f"SELECT owner_id, position, deleted FROM {ks}.tl_posts_by_photo "
            "WHERE photo_id = ?")
        self.put_post_row = prepare(
            f"INSERT INTO {ks}.tl_posts_by_photo (photo_id, owner_id, position) "
            "VALUES (?, ?, ?) USING TIMESTAMP ?")
        self.end_post_row = prepare(
            f"UPDATE {ks}.tl_posts_by_photo USING TIMESTAMP ? SET deleted = true "
            "WHERE photo_id = ?")
        self.put_post = prepare(
            f"INSERT INTO {ks}.tl_posts (owner_id, position, photo_id) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?")
        self.drop_post = prepare(
            f"DELETE FROM {ks}.tl_posts USING TIMESTAMP ? WHERE owner_id = ? "
            "AND position = ? AND photo_id = ?")
        self.posts = prepare(
            f"SELECT photo_id, position FROM {ks}.tl_posts WHERE owner_id = ? "
            "AND position < ? LIMIT ?")
        self.positions_since = prepare(
            f"SELECT position FROM {ks}.tl_posts WHERE owner_id = ? AND position >= ? "
            "LIMIT ?")
        self.fan_out = client.register_script(_FAN_OUT)
        self.register = client.register_script(_REGISTER)
        self.merge = client.register_script(_MERGE)
        self.remove = client.register_script(_REMOVE)
        self.remove_owner = client.register_script(_REMOVE_OWNER)

    def head(self, user_id: str) -> str:
        return f"{self.prefix}tl:{user_id}"

    def follows(self, user_id: str) -> str:
        return f"{self.prefix}tlf:{user_id}"

    def set_register(self, user_id: str, owner_id: str, position: int, followed: bool) -> None:
        self.register(keys=[self.follows(user_id)],
                      args=[owner_id, position if followed else -position])

    def merge_into_head(self, user_id: str, entries: Sequence[TimelineEntry], cap: int,
                        registers: Sequence[tuple[str, int]] = ()) -> bool:
        """Whether the head exists (else nothing but the registers moved)."""
        args: list[Any] = [cap, len(registers)]
        args += [value for owner, signed in registers for value in (owner, signed)]
        args += [value for entry in entries
                 for value in (member(entry), entry.position, entry.owner_id)]
        return bool(self.merge(keys=[self.head(user_id), self.follows(user_id)], args=args))

    def follower_ids(self, user_id: str) -> list[str]:
        return [follower for page in self.follower_pages(user_id) for follower in page]

    def follower_pages(self, user_id: str) -> Iterator[list[str]]:
        """The user's followers, a page of the driver's at a time (`FOLLOWER_PAGE`), the
        next page fetched while the caller works on this one: a popular account's fan-out
        then writes the heads of one page while Cassandra reads the next. Rows as tuples
        (`TUPLE_ROWS`)."""
        future = self.session.execute_async(self.followers, (user_id,),
                                            execution_profile=TUPLE_ROWS)
        result = future.result()
        while True:
            rows = result.current_rows
            more = future.has_more_pages
            if more:
                future.start_fetching_next_page()
            yield [row[0] for row in rows]
            if not more:
                return
            result = future.result()

    def newest_posts(self, owner_ids: Sequence[str], before: int | None,
                     limit: int) -> list[TimelineEntry]:
        """The newest `limit` posts of all of `owner_ids` together, below `before`."""
        below = NO_POSITION_LIMIT if before is None else min(before, NO_POSITION_LIMIT)
        if not owner_ids or limit <= 0:
            return []
        pages = rows_of(execute_concurrent_with_args(
            self.session, self.posts, [(owner, below, limit) for owner in owner_ids]))
        found = [TimelineEntry(row.photo_id, owner, row.position)
                 for owner, rows in zip(owner_ids, pages, strict=True) for row in rows]
        found.sort(key=lambda entry: entry.position, reverse=True)
        return found[:limit]

    def count_since(self, owner_ids: Sequence[str], since: int, limit: int) -> int:
        """How many posts of `owner_ids` are at or above position `since`, each owner's
        counted up to `limit` (enough to know whether `limit` are)."""
        if not owner_ids:
            return 0
        pages = rows_of(execute_concurrent_with_args(
            self.session, self.positions_since,
            [(owner, since, limit) for owner in owner_ids]))
        return sum(len(rows) for rows in pages)

    def materialized(self, user_id: str, cap: int,
                     rows: Sequence[Any] | None = None) -> list[TimelineEntry]:
        """What the user's head holds when complete: the newest `cap` posts of their
        active non-celebrity followees, from Cassandra (`rows`: their tl_follows rows,
        if already read)."""
        if rows is None:
            rows = list(self.session.execute(self.followees, (user_id,)))
        owners = [row.followee_id for row in rows if row.active and not row.celebrity]
        return self.newest_posts(owners, None, cap)

    def rebuild_head(self, user_id: str, cap: int,
                     staged: Iterable[Any] = ()) -> None:
        """Make the user's head complete: the sentinel first (fan-outs land from now
        on), then the follows and the newest posts from Cassandra, merged in by a
        script that keeps only the posts of owners still followed, trimmed to `cap`.
        `staged`: the user's tl_follows rows a worker's batch has staged and not yet
        written, which replace Cassandra's rows of the same followees."""
        self.redis.zadd(self.head(user_id), {SENTINEL: 0})
        rows = list(self.session.execute(self.followees, (user_id,)))
        if staged:
            newer = {row.followee_id: row for row in staged}
            rows = [*(row for row in rows if row.followee_id not in newer), *newer.values()]
        registers = [(row.followee_id, row.position if row.active else -row.position)
                     for row in rows if row.position]
        self.merge_into_head(user_id, self.materialized(user_id, cap, rows), cap, registers)


class FollowRow(NamedTuple):
    """A tl_follows row as a batch staged it (the columns the store reads)."""

    followee_id: str
    active: bool
    celebrity: bool | None
    position: int


class CassandraTimelineStore(TimelineStore):
    def __init__(self, tables: TimelineTables, counters: RedisCounters, delivery: Delivery,
                 outbox: Outbox | None = None, buffer: WriteBuffer | None = None) -> None:
        self.t, self.counters, self.delivery = tables, counters, delivery
        self.outbox: Outbox = outbox if outbox is not None else []
        self.buffer: WriteBuffer | DirectWrites = buffer or DirectWrites(tables.session)

    def bind(self, outbox: Outbox) -> CassandraTimelineStore:
        bound = copy.copy(self)
        bound.outbox = outbox
        return bound

    @property
    def _at(self) -> int:
        return self.delivery.position

    # --- follows ----------------------------------------------------------------------

    def follower_count(self, user_id: str) -> int:
        return self.counters.get(FOLLOWERS, user_id)

    def _pair(self, follower_id: str, followee_id: str) -> Any:
        staged = self.buffer.recall(("tl_follows", follower_id, followee_id), None)
        if staged is not None:
            return staged
        return self.t.session.execute(self.t.follow_row, (follower_id, followee_id)).one()

    def _stage_pair(self, follower_id: str, row: FollowRow) -> None:
        self.buffer.remember(("tl_follows", follower_id, row.followee_id), row, self._at)

    def _staged_follows(self, user_id: str) -> list[Any]:
        return list(self.buffer.recall_all(("tl_follows", user_id)).values())

    def add_follow(self, follower_id: str, followee_id: str, celebrity: bool) -> bool:
        row = self._pair(follower_id, followee_id)
        if row is not None and (row.position > self._at
                                or (row.active and row.position != self._at)):
            return False  # followed already, or a stale replay (a newer event wrote it)
        session, at = self.t.session, self._at
        # The fan-out list at once, before the back-fill reads the post index: a post
        # racing with this follow reads the list after adding itself to that index. The
        # pair's rows are staged. (A crash part-way leaves the pair's row at this
        # position or missing: applied again, all is written again.)
        session.execute(self.t.put_follower, (followee_id, follower_id, at))
        writes = [(self.t.put_follow, (follower_id, followee_id, celebrity, at, at))]
        if celebrity:
            writes.append((self.t.put_celebrity, (follower_id, followee_id, at)))
        self._stage_pair(follower_id, FollowRow(followee_id, True, celebrity, at))
        self.buffer.stage(writes)
        self.t.set_register(follower_id, followee_id, at, followed=True)
        self.counters.add(FOLLOWERS, followee_id, +1)
        return True

    def remove_follow(self, follower_id: str, followee_id: str) -> bool:
        row = self._pair(follower_id, followee_id)
        if row is None or row.position > self._at or (not row.active
                                                      and row.position != self._at):
            return False  # not followed, or a stale replay (a newer event wrote it)
        session, at = self.t.session, self._at
        # The fan-out list at once (it is never staged, so never recalled); the pair's
        # rows are staged.
        session.execute(self.t.drop_follower, (at, followee_id, follower_id))
        self._stage_pair(follower_id, FollowRow(followee_id, False, row.celebrity, at))
        self.buffer.stage([(self.t.drop_celebrity, (at, follower_id, followee_id)),
                           (self.t.end_follow, (at, at, follower_id, followee_id))])
        # Before the projection removes the owner's posts from the head: a fan-out
        # after this adds none (module docstring).
        self.t.set_register(follower_id, followee_id, at, followed=False)
        self.counters.add(FOLLOWERS, followee_id, -1)
        return True

    def mark_celebrity(self, user_id: str, celebrity: bool) -> None:
        """The mark, then every edge. Transitions are decided by different workers (a
        handler, or `settle` after a batch), not in log order, so their writes are
        stamped to win over what they replace rather than with the event's position: the
        mark one above its last write (a later transition wins), each edge one above its
        flag's last write (a follow written from a stale count, at a newer position than
        this event's, is overridden). A transition deciding from a count that has moved
        since is undone by the settle of whoever moved it."""
        session = self.t.session
        row = session.execute(self.t.mark_row, (user_id,)).one()
        stamp = max(self._at, (row.marked_at or 0) + 1 if row is not None else 0)
        session.execute(self.t.put_mark, (user_id, celebrity, stamp))
        followers = self.t.follower_ids(user_id)  # after the mark (Dekker with follows)
        edges = rows_of(execute_concurrent_with_args(
            session, self.t.edge_flag, [(f, user_id) for f in followers]))
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for follower, found in zip(followers, edges, strict=True):
            # A pair this batch staged is not in Cassandra yet: the staged row stands for
            # the edge, and is staged again with the new flag for the batch's later
            # reads (its own write is older than the flag's, so Cassandra keeps the flag).
            staged = self.buffer.recall(("tl_follows", follower, user_id), None)
            if staged is not None:
                if not staged.active:
                    continue
                self._stage_pair(follower, staged._replace(celebrity=celebrity))
                at = max(stamp, staged.position + 1)
            else:
                edge = next(iter(found), None)
                if edge is None or not edge.active:
                    continue  # unfollowed meanwhile: its unfollow dropped what it had
                at = max(stamp, (edge.flagged_at or 0) + 1)
            writes += self._flag_writes(follower, user_id, celebrity, at)
        if writes:
            execute_concurrent(session, writes, raise_on_first_error=True)

    def _flag_writes(self, follower_id: str, followee_id: str, celebrity: bool,
                     at: int) -> list[tuple[Any, tuple[Any, ...]]]:
        """The edge's flag and its celebrity-follow row (what reads merge), both at `at`:
        the flag's write time stands for the row's."""
        row = ((self.t.put_celebrity, (follower_id, followee_id, at)) if celebrity
               else (self.t.drop_celebrity, (at, follower_id, followee_id)))
        return [(self.t.flag_follow, (at, celebrity, follower_id, followee_id)), row]

    def celebrities(self, user_ids: list[str]) -> set[str]:
        if not user_ids:
            return set()
        found = rows_of(execute_concurrent_with_args(
            self.t.session, self.t.mark_row, [(user_id,) for user_id in user_ids]))
        return {user_id for user_id, rows in zip(user_ids, found, strict=True)
                if any(row.celebrity for row in rows)}

    def follower_counts(self, user_ids: list[str]) -> dict[str, int]:
        return self.counters.many(FOLLOWERS, user_ids)

    def settle_follows(self, pairs: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
        """All pairs read at once; writes only where an edge or its celebrity-follow row
        disagrees with the mark, each one above the flag's last write (which a
        transition or a follow wrote together with the row: `_flag_writes`,
        `add_follow`)."""
        if not pairs:
            return []
        session = self.t.session
        reads = rows_of(execute_concurrent(session, [
            statement for follower, followee, _ in pairs
            for statement in ((self.t.edge_flag, (follower, followee)),
                              (self.t.celebrity_follow, (follower, followee)))]))
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        flipped: list[tuple[str, str]] = []
        for index, (follower, followee, celebrity) in enumerate(pairs):
            edge = next(iter(reads[2 * index]), None)
            listed = bool(reads[2 * index + 1])
            following = edge is not None and bool(edge.active)
            flagged = following and bool(edge.celebrity)
            if (following and flagged == celebrity and listed == celebrity) or (
                    not following and not listed):
                continue
            at = max(self._at, ((edge.flagged_at or 0) if edge is not None else 0) + 1)
            if following:
                writes += self._flag_writes(follower, followee, celebrity, at)
                if flagged != celebrity:
                    flipped.append((follower, followee))
            else:  # unfollowed: no celebrity follow left behind by a transition
                writes.append((self.t.drop_celebrity, (at, follower, followee)))
        if writes:
            execute_concurrent(session, writes, raise_on_first_error=True)
        return flipped

    def followers(self, user_id: str) -> list[str]:
        return sorted(self.t.follower_ids(user_id))

    # --- posts ------------------------------------------------------------------------

    def add_post(self, entry: TimelineEntry) -> bool:
        row = self.t.session.execute(self.t.post_row, (entry.photo_id,)).one()
        if row is not None and (row.deleted or row.position != entry.position):
            return False  # deleted already, or known from an earlier event
        at = self._at
        execute_concurrent(self.t.session, [
            (self.t.put_post_row, (entry.photo_id, entry.owner_id, entry.position, at)),
            (self.t.put_post, (entry.owner_id, entry.position, entry.photo_id, at))],
            raise_on_first_error=True)
        return True

    def remove_post(self, photo_id: str) -> TimelineEntry | None:
        row = self.t.session.execute(self.t.post_row, (photo_id,)).one()
        if row is None or row.owner_id is None:
            return None
        # Answered even when already marked deleted: a replay goes on to clean the heads.
        at = self._at
        self.t.session.execute(self.t.drop_post, (at, row.owner_id, row.position, photo_id))
        self.t.session.execute(self.t.end_post_row, (at, photo_id))
        return TimelineEntry(photo_id, row.owner_id, row.position)

    # --- heads ------------------------------------------------------------------------

    def fan_out(self, entry: TimelineEntry, cap: int) -> None:
        receivers: list[str] = []
        for page in self.t.follower_pages(entry.owner_id):
            for chunk in _chunks(page):
                self.t.fan_out(keys=[self.t.head(chunk[0])],
                               args=[member(entry), entry.position, cap, entry.owner_id,
                                     self.t.head(""), self.t.follows(""), *chunk])
            receivers += page
        data = {"photo_id": entry.photo_id, "owner_id": entry.owner_id,
                "position": entry.position}
        # One `data` shared by the post's notices (nothing changes a notice's data):
        # the Redis live feed sends such a run as one message to many channels.
        self.outbox.extend(Notice(user_id=user_id, kind="timeline", data=data)
                           for user_id in receivers)

    def backfill(self, user_id: str, owner_id: str, cap: int) -> None:
        # The merge answers whether the head exists (one round trip less than asking
        # first); without one, it is built whole.
        if not self.t.merge_into_head(user_id, self.t.newest_posts([owner_id], None, cap),
                                      cap):
            self.t.rebuild_head(user_id, cap, self._staged_follows(user_id))

    def _full_after(self, script: Any, users: Sequence[str], args: list[Any]) -> list[str]:
        full: list[str] = []
        for chunk in _chunks(users):
            indexes = script(keys=[self.t.head(user) for user in chunk], args=args)
            full += [chunk[int(index) - 1] for index in indexes]
        return sorted(full)

    def remove_photo(self, entry: TimelineEntry, cap: int) -> list[str]:
        return self._full_after(self.t.remove, self.t.follower_ids(entry.owner_id),
                                [member(entry), cap])

    def remove_owner(self, owner_id: str, user_id: str | None, cap: int) -> list[str]:
        users = [user_id] if user_id is not None else self.t.follower_ids(owner_id)
        return self._full_after(self.t.remove_owner, users, [f"{owner_id}/", cap])

    def refill(self, user_id: str, cap: int) -> None:
        if self.t.redis.exists(self.t.head(user_id)):
            self.t.rebuild_head(user_id, cap, self._staged_follows(user_id))


class CassandraTimelineQueries(TimelineQueries):
    """Pages of the head (or, without one, of the same posts read from Cassandra) merged
    with the user's celebrity followees' posts and the user's own posts, never past the
    newest `cap` overall."""

    def __init__(self, tables: TimelineTables, cap: int) -> None:
        self.t, self.cap = tables, cap

    def home(self, user_id: str, before: int | None, limit: int) -> list[TimelineEntry]:
        if limit <= 0:
            return []
        below = NO_POSITION_LIMIT if before is None else min(before, NO_POSITION_LIMIT)
        session = self.t.session
        # The user's own posts come from their own partition of the post index, read
        # while Redis answers (`projections.timelines` says why they are not in the head).
        own_rows = session.execute_async(self.t.posts, (user_id, below, limit))
        celebrity_rows = session.execute_async(self.t.celebrities, (user_id,))
        key = self.t.head(user_id)
        pipe = self.t.redis.pipeline(transaction=False)
        pipe.exists(key)
        pipe.zcount(key, below, "+inf")
        pipe.zrevrangebyscore(key, f"({below}", 1, start=0, num=limit, withscores=True)
        exists, above, values = pipe.execute()
        if exists:
            page = [entry_of(value, score) for value, score in values]
        else:  # no head (never built, or Redis lost it): the same posts from Cassandra
            materialized = self.t.materialized(user_id, self.cap)
            above = sum(1 for entry in materialized if entry.position >= below)
            page = [entry for entry in materialized if entry.position < below][:limit]
        own = [TimelineEntry(row.photo_id, user_id, row.position)
               for row in own_rows.result()]
        celebrities = [row.followee_id for row in celebrity_rows.result()]
        # The page may only show what remains of the newest `cap` posts once those at or
        # above `before` are counted (each part counted up to `cap`).
        if before is not None:
            above += self.t.count_since([*celebrities, user_id], below, self.cap)
        room = max(0, min(limit, self.cap - above))
        if room == 0:
            return []
        unique = {entry.photo_id: entry
                  for entry in [*page, *own, *self.t.newest_posts(celebrities, below, room)]}
        return sorted(unique.values(), key=lambda entry: entry.position, reverse=True)[:room]

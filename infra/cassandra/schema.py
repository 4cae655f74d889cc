"""The Cassandra keyspace of the graph and photos views: tables, partition layout, setup.

Cassandra has no joins and no transactions across partitions, so each table serves one
query, and every write is an idempotent upsert or delete keyed by ids (never a
`counter` column: replaying an increment counts twice). Counts are derived from rows.
Every write of the views carries `USING TIMESTAMP <log position of its event>`
(`streams.delivery`): the newest event wins whatever the delivery order, and a worker
that lost its partition and finishes a stale batch late cannot undo newer writes. (A
keyspace written before the views used positions as timestamps holds wall-clock ones,
which would always win: rebuild such views into a new keyspace.)

Partitions must stay bounded; each table's comment gives its bound. Two layout rules
keep the unbounded lists bounded:

- **Position buckets** for lists read newest first (followers, following, a user's
  photos): rows are partitioned by (key, bucket), bucket = position // BUCKET_SPAN.
  One log position holds one event, so a partition never holds more than BUCKET_SPAN
  rows; in practice it holds what one key gains while the log advances BUCKET_SPAN
  positions (about 10 minutes at the design rate of ~7,000 events/s). `list_buckets`
  records which buckets of a list hold rows, so a quiet list skips empty buckets.
- **Hash shards** for a photo's likes and comments, which are read by id, counted, or
  merged client side: rows are spread over SHARDS partitions by a hash of the liker or
  comment id, so a partition holds about 1/SHARDS of the photo's rows.

Changing BUCKET_SPAN or SHARDS changes where rows live: do it by rebuilding the views
into a new keyspace, never in place.
"""

from __future__ import annotations

import importlib
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import named_tuple_factory, tuple_factory

BUCKET_SPAN = 2**22
SHARDS = 8
ALL_SHARDS_CQL = "(" + ", ".join(str(shard) for shard in range(SHARDS)) + ")"
NO_POSITION_LIMIT = 2**62  # above any log position: "before" when a query has none
# A write timestamp above every event's (writes carry their event's position): a deletion
# at it shadows every write of the row or partition, earlier or later in the log.
FOREVER = NO_POSITION_LIMIT
BUCKETS_PER_FETCH = 64
# The execution profile whose rows are plain tuples, for reads of many rows of one
# column (a popular account's followers): named rows cost the driver's reply handling
# twice the time there (`connect`).
TUPLE_ROWS = "tuple_rows"

KEYSPACE_CQL = "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"

TABLES_CQL = (
    # One row per (follower, followee) pair ever followed: where the pair's list rows
    # are (their position), so an unfollow or a refollow can delete them.
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.follow_edges (
        follower_id text, followee_id text, position bigint,
        PRIMARY KEY ((follower_id, followee_id)))""",
    # Who follows user_id, most recent follow first. Bound: position bucket.
    """CREATE TABLE IF NOT EXISTS {keyspace}.followers_by_user (
        user_id text, bucket bigint, position bigint, follower_id text,
        PRIMARY KEY ((user_id, bucket), position, follower_id))
        WITH CLUSTERING ORDER BY (position DESC, follower_id ASC)""",
    # Whom user_id follows, most recent first. Bound: position bucket.
    """CREATE TABLE IF NOT EXISTS {keyspace}.following_by_user (
        user_id text, bucket bigint, position bigint, followee_id text,
        PRIMARY KEY ((user_id, bucket), position, followee_id))
        WITH CLUSTERING ORDER BY (position DESC, followee_id ASC)""",
    # The buckets of one bucketed list (list_name = its table) that hold rows, newest
    # first. Rows are never removed: an emptied bucket only costs one read.
    # Bound: one small row per bucket the key was active in, at most
    # log length / BUCKET_SPAN (~50,000 a year at the design rate, ~1 MB).
    """CREATE TABLE IF NOT EXISTS {keyspace}.list_buckets (
        list_name text, list_key text, bucket bigint,
        PRIMARY KEY ((list_name, list_key), bucket))
        WITH CLUSTERING ORDER BY (bucket DESC)""",
    # One photo's details, or its tombstone (deleted = true, details nulled) so that
    # a late like or comment, or a redelivered post, stays hidden. Collections are
    # frozen: always written whole, so an upsert leaves no collection tombstone.
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.photos (
        photo_id text PRIMARY KEY, owner_id text, caption text, location text,
        hashtags frozen<list<text>>, tagged_user_ids frozen<list<text>>,
        variants frozen<map<text, text>>,
        width int, height int, posted_at text, position bigint, deleted boolean,
        variant_sizes frozen<map<text, frozen<map<text, int>>>>, placeholder text,
        alt_text text, original_key text)""",
    # A user's photos, newest first (ids; details come from `photos`).
    # Bound: position bucket.
    """CREATE TABLE IF NOT EXISTS {keyspace}.photos_by_owner (
        owner_id text, bucket bigint, position bigint, photo_id text,
        PRIMARY KEY ((owner_id, bucket), position, photo_id))
        WITH CLUSTERING ORDER BY (position DESC, photo_id ASC)""",
    # Who likes a photo; the count is COUNT(*) over its shards.
    # Bound: hash shard, ~likes / SHARDS rows of ~60 bytes: under 100 MB up to ~13 M
    # likes per photo. Counts of hot photos belong in Redis, not in COUNT(*).
    """CREATE TABLE IF NOT EXISTS {keyspace}.photo_likes (
        photo_id text, shard int, user_id text, position bigint,
        PRIMARY KEY ((photo_id, shard), user_id))""",
    # Comments on a photo, oldest first within a shard (pages merge the shards).
    # Bound: hash shard, ~comments / SHARDS rows (text is at most a few KB).
    """CREATE TABLE IF NOT EXISTS {keyspace}.photo_comments (
        photo_id text, shard int, position bigint, comment_id text,
        author_id text, comment_text text, created_at text,
        PRIMARY KEY ((photo_id, shard), position, comment_id))
        WITH CLUSTERING ORDER BY (position ASC, comment_id ASC)""",
    # Where a comment's row is, for a delete that only knows the comment id.
    # Bound: one row per partition.
    """CREATE TABLE IF NOT EXISTS {keyspace}.comments_by_id (
        comment_id text PRIMARY KEY, photo_id text, position bigint)""",
    # The photos a user likes, most recent like first, for their data export (rows of
    # photos deleted since are skipped when read). Bound: position bucket.
    """CREATE TABLE IF NOT EXISTS {keyspace}.likes_by_user (
        user_id text, bucket bigint, position bigint, photo_id text,
        PRIMARY KEY ((user_id, bucket), position, photo_id))
        WITH CLUSTERING ORDER BY (position DESC, photo_id ASC)""",
    # The comments a user wrote, newest first (ids; the text is in `photo_comments`,
    # found through `comments_by_id`), for their data export. Bound: position bucket.
    """CREATE TABLE IF NOT EXISTS {keyspace}.comments_by_author (
        author_id text, bucket bigint, position bigint, comment_id text,
        PRIMARY KEY ((author_id, bucket), position, comment_id))
        WITH CLUSTERING ORDER BY (position DESC, comment_id ASC)""",
)

# Columns added to a table above after it was first released: a keyspace created before
# gains them in create_schema. Rows written before have them null (readers say what null
# means for each).
ADDED_COLUMNS_CQL = (
    "ALTER TABLE {keyspace}.photos ADD variant_sizes frozen<map<text, frozen<map<text, int>>>>",
    "ALTER TABLE {keyspace}.photos ADD placeholder text",
    "ALTER TABLE {keyspace}.photos ADD alt_text text",
    "ALTER TABLE {keyspace}.photos ADD original_key text",
    "ALTER TABLE {keyspace}.profiles ADD private boolean",
)

# How Cassandra (4, 5) and ScyllaDB say a column to add is there already.
_COLUMN_EXISTS_MESSAGES = ("already exists", "conflicts with an existing column")

# Modules of this package that own tables of their own (each exports TABLES_CQL).
TABLE_MODULES = ("checkpoints", "profiles", "notifications", "timelines", "controls",
                 "follow_requests")


def all_tables_cql() -> list[str]:
    """Every table of the views' keyspace: the graph and photos ones above, and each
    TABLE_MODULES module's (imported here, since those modules import this one)."""
    tables = list(TABLES_CQL)
    for name in TABLE_MODULES:
        tables += importlib.import_module(f"photoshare.infra.cassandra.{name}").TABLES_CQL
    return tables


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_OPTION = re.compile(r"[A-Za-z0-9_.]+")


def bucket_of(position: int) -> int:
    """The position bucket that holds `position`."""
    return position // BUCKET_SPAN


def shard_of(row_id: str) -> int:
    """The hash shard of a liker or comment id: stable across processes and restarts
    (Python's own `hash` of a str is salted per process)."""
    return zlib.crc32(row_id.encode()) % SHARDS


def contact_points(hosts: str | Iterable[str], default_port: int = 9042) -> list[tuple[str, int]]:
    """The (host, port) of each entry of `hosts`: a comma-separated string (the form of
    PHOTOSHARE_CASSANDRA_HOSTS) or a list of entries. An entry is `host`, `host:port`,
    `[ipv6]:port` or a bare IPv6 address; without a port it gets `default_port`. Blank
    entries are skipped; no entry at all is an error."""
    entries = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    points: list[tuple[str, int]] = []
    for entry in (str(entry).strip() for entry in entries):
        if not entry:
            continue
        host, port = entry, default_port
        if entry.startswith("["):  # [ipv6] or [ipv6]:port
            host, _, rest = entry[1:].partition("]")
            if rest:
                port = _port(entry, rest.removeprefix(":"))
        elif entry.count(":") == 1:  # host:port (several colons: a bare IPv6 address)
            host, text = entry.split(":")
            port = _port(entry, text)
        if not host:
            raise ValueError(f"not a Cassandra host: {entry!r}")
        points.append((host, port))
    if not points:
        raise ValueError("no Cassandra host given")
    return points


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"not a Cassandra host:port: {entry!r}")
    return int(text)


_ROW_CLASSES: dict[tuple[str, ...], type] = {}


def named_rows(column_names: list[str], rows: list[Any]) -> list[Any]:
    """The driver's named-tuple rows, with each row class made once per column list.

    The driver's own factory makes a new namedtuple class for every result (it builds
    the class from source each time): a fifth of a cluster read API's CPU went there.
    The column lists are those of this code's queries, so the cache stays small."""
    key = tuple(column_names)
    row_class = _ROW_CLASSES.get(key)
    if row_class is None:
        if not rows:
            return []
        row_class = _ROW_CLASSES[key] = type(named_tuple_factory(column_names, rows[:1])[0])
    return [row_class(*row) for row in rows]


def connect(hosts: str | Iterable[str], keyspace: str | None = None,
            port: int = 9042) -> Session:
    """A session on `hosts` (see `contact_points`: `host` or `host:port` entries, `port`
    for those without one), bound to `keyspace` if given. The caller owns it and ends
    it with `session.cluster.shutdown()`.

    Reads and writes use LOCAL_QUORUM (the driver defaults to LOCAL_ONE): the stores
    read before they write (a follow's old position, a photo's tombstone), and a read
    asking for X-Min-Position must see writes acknowledged before it."""
    def profile(row_factory: Callable[[list[str], list[Any]], list[Any]]) -> ExecutionProfile:
        return ExecutionProfile(
            consistency_level=ConsistencyLevel.LOCAL_QUORUM, row_factory=row_factory,
            # The driver's default policy, named so that it does not warn about its
            # absence.
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()))
    cluster = Cluster(contact_points=contact_points(hosts, port), port=port,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile(named_rows),
                                          TUPLE_ROWS: profile(tuple_factory)})
    return cluster.connect(keyspace)


def create_schema(session: Session, keyspace: str, replication: Mapping[str, Any]) -> None:
    """Create the keyspace and every table, leaving existing ones as they are.

    `replication` is the keyspace's replication map, e.g. {"class":
    "NetworkTopologyStrategy", "dc1": 3}. Identifiers cannot be bound as parameters in
    DDL, so the keyspace name and the map are checked before they are formatted in."""
    if not _IDENTIFIER.fullmatch(keyspace):
        raise ValueError(f"not a Cassandra keyspace name: {keyspace!r}")
    session.execute(KEYSPACE_CQL.format(keyspace=keyspace,
                                        replication=_replication_cql(replication)))
    for table in all_tables_cql():
        session.execute(table.format(keyspace=keyspace))
    for added in ADDED_COLUMNS_CQL:
        try:
            session.execute(added.format(keyspace=keyspace))
        except InvalidRequest as error:  # no ADD ... IF NOT EXISTS before Cassandra 5
            if not any(words in str(error) for words in _COLUMN_EXISTS_MESSAGES):
                raise


def init_cassandra(hosts: str | Iterable[str], keyspace: str, replication_factor: int) -> None:
    """Create the views' keyspace (SimpleStrategy, for one data centre) and tables on
    `hosts`. Safe to run again. Several data centres: call `create_schema` with a
    NetworkTopologyStrategy map instead."""
    session = connect(hosts)
    try:
        create_schema(session, keyspace,
                      {"class": "SimpleStrategy", "replication_factor": replication_factor})
    finally:
        session.cluster.shutdown()


def _replication_cql(replication: Mapping[str, Any]) -> str:
    pairs = []
    for name, value in replication.items():
        if not (_OPTION.fullmatch(str(name)) and _OPTION.fullmatch(str(value))):
            raise ValueError(f"not a replication option: {name!r}: {value!r}")
        pairs.append(f"'{name}': '{value}'")
    return "{" + ", ".join(pairs) + "}"


def keyspace_of(session: Session) -> str:
    """The keyspace `session` is bound to, which the stores' statements name: prepared
    under `USE` without it, Cassandra 5 warns on every prepare (the statement's table
    would depend on the connection's current keyspace)."""
    if not session.keyspace:
        raise ValueError("the session must be bound to the views' keyspace "
                         "(connect(hosts, keyspace) or session.set_keyspace)")
    return session.keyspace


@dataclass(frozen=True)
class BucketedTable:
    """A list read newest first, stored in position buckets: `table` has the primary
    key ((`key`, bucket), position, `item`) with position descending."""

    table: str
    key: str
    item: str


FOLLOWERS = BucketedTable("followers_by_user", key="user_id", item="follower_id")
FOLLOWING = BucketedTable("following_by_user", key="user_id", item="followee_id")
PHOTOS_BY_OWNER = BucketedTable("photos_by_owner", key="owner_id", item="photo_id")
LIKES_BY_USER = BucketedTable("likes_by_user", key="user_id", item="photo_id")
COMMENTS_BY_AUTHOR = BucketedTable("comments_by_author", key="author_id", item="comment_id")

Write = tuple[Any, tuple[Any, ...]]  # (prepared statement, parameters)


class BucketedList:
    """Reads and writes one BucketedTable (and its buckets in `list_buckets`) on a
    session bound to the views' keyspace. Statements are prepared once, here."""

    def __init__(self, session: Session, spec: BucketedTable) -> None:
        self.session = session
        self.spec = spec
        ks = keyspace_of(session)
        self._mark_bucket = session.prepare(
            f"INSERT INTO {ks}.list_buckets (list_name, list_key, bucket) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?")
        self._buckets_from = session.prepare(
            f"SELECT bucket FROM {ks}.list_buckets WHERE list_name = ? AND list_key = ? "
            "AND bucket <= ?")
        self._insert = session.prepare(
            f"INSERT INTO {ks}.{spec.table} ({spec.key}, bucket, position, {spec.item}) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?")
        self._delete = session.prepare(
            f"DELETE FROM {ks}.{spec.table} USING TIMESTAMP ? WHERE {spec.key} = ? "
            f"AND bucket = ? AND position = ? AND {spec.item} = ?")
        self._page = session.prepare(
            f"SELECT {spec.item}, position FROM {ks}.{spec.table} WHERE {spec.key} = ? "
            "AND bucket = ? AND position < ? LIMIT ?")
        self._count = session.prepare(
            f"SELECT COUNT(*) FROM {ks}.{spec.table} WHERE {spec.key} = ? AND bucket = ?")

    def writes_to_add(self, key: str, position: int, item: str, at: int) -> list[Write]:
        """Upserts that put `item` at `position` in `key`'s list (run them together),
        written at timestamp `at` (the position of the event writing them)."""
        bucket = bucket_of(position)
        return [(self._mark_bucket, (self.spec.table, key, bucket, at)),
                (self._insert, (key, bucket, position, item, at))]

    def names_to_add(self, key: str, position: int) -> list[tuple[str, ...] | None]:
        """Names of `writes_to_add`'s writes for a write buffer's `once`: the bucket's
        mark is the same row for every item of the bucket (never removed, so any
        event's write of it will do), the item's row is its own."""
        return [("list_buckets", self.spec.table, key, str(bucket_of(position))), None]

    def writes_to_remove(self, key: str, position: int, item: str, at: int) -> list[Write]:
        """The delete of `item` at `position`, at timestamp `at`: it shadows writes of
        older events only, so a stale replay of one cannot bring the row back."""
        return [(self._delete, (at, key, bucket_of(position), position, item))]

    def count(self, key: str) -> int:
        """How many items `key`'s list holds: one COUNT per bucket, concurrently. (For
        rebuilds and for reads while Redis's counters are lost, not for every read.)"""
        buckets = [row.bucket for row in self.session.execute(
            self._buckets_from, (self.spec.table, key, bucket_of(NO_POSITION_LIMIT)))]
        counts = rows_of(execute_concurrent_with_args(
            self.session, self._count, [(key, bucket) for bucket in buckets]))
        return sum(rows[0][0] for rows in counts)

    def newest(self, key: str, before: int | None, limit: int) -> list[tuple[str, int]]:
        """(item, position) of `key`'s list, newest first, positions below `before`.

        The newest bucket is read alone first, since a busy list fills a page from one
        partition; then as many buckets at once as rows are still missing, since a
        quiet list has about one row per bucket."""
        below = NO_POSITION_LIMIT if before is None else min(before, NO_POSITION_LIMIT)
        if limit <= 0 or below <= 0:
            return []
        newest_buckets = self._buckets_from.bind((self.spec.table, key, bucket_of(below - 1)))
        # A page needs a few buckets, not the driver's default fetch of 5,000 rows.
        newest_buckets.fetch_size = BUCKETS_PER_FETCH
        # One generator over the rows: iter() of a driver ResultSet restarts it at its
        # current page, so each islice straight on it would read the first buckets again.
        buckets = (row.bucket for row in self.session.execute(newest_buckets))
        found: list[tuple[str, int]] = []
        wanted = 1
        while len(found) < limit:
            batch = list(islice(buckets, wanted))
            if not batch:
                break
            missing = limit - len(found)
            pages = execute_concurrent_with_args(
                self.session, self._page, [(key, bucket, below, missing) for bucket in batch])
            for page in pages:
                found.extend((getattr(row, self.spec.item), row.position)
                             for row in page.result_or_exc)
            wanted = limit - len(found)
        return found[:limit]


def rows_of(results: Iterable[Any]) -> list[list[Any]]:
    """The rows of each result of an `execute_concurrent*` call, in statement order."""
    return [list(result.result_or_exc) for result in results]


# Partitions named in one `IN ?` list at most: a page's worth. The coordinator reads them
# side by side, so a page costs the client one query instead of one per partition (the
# Python driver's cost per query, not Cassandra's, bounds a read API process).
IN_CHUNK = 100


def rows_in(session: Any, reads: Iterable[tuple[Any, Sequence[Any], tuple[Any, ...]]]
            ) -> list[list[Any]]:
    """The rows of each read `(statement, keys, rest)`, whose statement is `... WHERE key
    IN ? ...` with `rest` bound after the list, for every one of `keys` (`IN_CHUNK` keys
    a query); all the reads' queries run concurrently, one round trip in all."""
    return rows_in_started(session, reads)()


def rows_in_started(session: Any, reads: Iterable[tuple[Any, Sequence[Any], tuple[Any, ...]]]
                    ) -> Callable[[], list[list[Any]]]:
    """`rows_in`, sent now; the call it returns waits for the rows. What a query costs
    this driver is mostly the wait for its answer (a thread woken each way: see
    bench/RESULTS.md, "What a Cassandra query costs the Python driver"), paid once for
    every query in flight when the wait begins: reads started one after another and then
    answered wait once for all of them."""
    reads = list(reads)
    futures = [(n, session.execute_async(statement, (list(keys[at:at + IN_CHUNK]), *rest)))
               for n, (statement, keys, rest) in enumerate(reads)
               for at in range(0, len(keys), IN_CHUNK)]

    def rows() -> list[list[Any]]:
        found: list[list[Any]] = [[] for _ in reads]
        for n, future in futures:
            found[n] += future.result()
        return found
    return rows

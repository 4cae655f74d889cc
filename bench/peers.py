"""Photoshare's home-timeline store next to its peers, on one graph (issue 14): the
page read at the store and the fan-out of a post, against stream-framework 1.4 on Redis
(fan-out on write, its own feed code) and the pull query on PostgreSQL that Pixelfed's
home timeline uses by default (the newest posts of the people one follows, read when
asked).

The graph is the embedded views of `bench/readpath.py`'s (20,000 users, 400,000
power-law follows, 10,000 posts by default; seeded into `--data-dir` if it is empty):
its follow edges and posts are loaded into each peer. Timed, for `--readers` users
picked at random (each read once to warm up, then once timed):

- photoshare: `SqliteTimelineQueries.home(user, None, 20)` on the views (the merged page:
  materialized rows, celebrities' posts, one's own);
- stream-framework: a `RedisFeed`'s first 20 activities (`feed[:20]`, hydrated), after
  every post was fanned out to its author's followers' feeds (capped at 800, as
  photoshare's timelines are);
- PostgreSQL: `SELECT ... FROM posts WHERE owner_id = ANY(ARRAY(SELECT followee_id FROM
  follows WHERE follower_id = $1) || $1) ORDER BY position DESC LIMIT 20`, with the
  primary key (follower_id, followee_id) and an index (owner_id, position), after
  ANALYZE.

Fan-out: `--timed-posts` new posts by accounts under the celebrity threshold, picked by
their followers (popular accounts post more often), applied by photoshare's timelines
projection to a copy of the views in one transaction (as the runner applies a batch),
and by stream-framework as its `Manager.fanout` does; rows/s = the followers reached.

stream-framework 1.4 calls redis-py 2's `zadd`, so it runs in a virtualenv of its own
(`--peer-venv`, made on first use from PyPI: stream-framework 1.4.0, redis 2.10.6),
through `bench/peer_stream_framework.py`. Redis and PostgreSQL are started on free ports
(tests/support/engines.py). Run: `.venv/bin/python bench/peers.py --data-dir
/tmp/readpath-20k`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import psycopg

# The test helpers that start the servers (tests/support), as pytest finds them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import timeline as seeding  # noqa: E402  (bench/timeline.py)
from photoshare.events import (  # noqa: E402
    Envelope,
    PhotoPosted,
    event_from_data,
    event_to_data,
)
from photoshare.infra.postgres.event_store import ensure_database  # noqa: E402
from photoshare.infra.settings import Settings  # noqa: E402
from photoshare.infra.sqlite import timelines  # noqa: E402
from photoshare.infra.sqlite.catalog import open_views  # noqa: E402
from photoshare.infra.sqlite.viewdb import connect  # noqa: E402
from support.engines import Engines  # noqa: E402

PAGE = 20
PEER = Path(__file__).with_name("peer_stream_framework.py")
PEER_PACKAGES = ("stream-framework==1.4.0", "redis==2.10.6")

# The followed accounts and one's own, as Pixelfed's home timeline asks for them (the
# list then `whereIn('profile_id', ...)`), in one statement: an array the planner can
# probe the (owner_id, position) index with.
_PULL = """
SELECT photo_id, owner_id, position FROM posts
WHERE owner_id = ANY(ARRAY(SELECT followee_id FROM follows WHERE follower_id = %(user)s)
                     || %(user)s::text)
ORDER BY position DESC LIMIT 20
"""


def percentiles(micros: list[float]) -> str:
    return (f"p50 {seeding.percentile(micros, 0.5):,.0f} µs, "
            f"p99 {seeding.percentile(micros, 0.99):,.0f} µs")


def peer_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} (stream-framework 1.4.0, redis 2.10.6 from PyPI)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES],
                       check=True)
    return python


def load_graph(settings: Settings) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]],
                                            set[str]]:
    """(follower, followee) edges, (photo, owner, position) posts oldest first, and the
    accounts the timelines treat as celebrities."""
    db = connect(settings.views_path)
    try:
        edges = [(row[0], row[1]) for row in
                 db.execute("SELECT follower_id, followee_id FROM tl_follows")]
        posts = [(row[0], row[1], row[2]) for row in db.execute(
            "SELECT photo_id, owner_id, position FROM tl_posts ORDER BY position")]
        celebrities = {row[0] for row in db.execute(
            "SELECT DISTINCT followee_id FROM tl_follows WHERE celebrity = 1")}
    finally:
        db.close()
    return edges, posts, celebrities


def photoshare_reads(settings: Settings, readers: list[str]) -> list[float]:
    db = connect(settings.views_path)
    queries = timelines.SqliteTimelineQueries(db, settings.timeline_cap)
    timed = []
    try:
        for user in readers * 2:
            started = time.perf_counter()
            page = queries.home(user, None, PAGE)
            timed.append((time.perf_counter() - started) * 1e6)
            assert len(page) <= PAGE
    finally:
        db.close()
    return timed[len(readers):]


def photoshare_fan_out(settings: Settings, posts: list[tuple[str, str, int]]) -> float:
    """Seconds the timelines projection takes to apply `posts` in one transaction, on a
    copy of the views (the data dir is left as it was)."""
    with tempfile.TemporaryDirectory(prefix="photoshare-bench-") as tmp:
        copy = Path(tmp) / "views.sqlite3"
        shutil.copyfile(settings.views_path, copy)
        views = open_views(copy)
        binding = timelines.binding(settings)
        now = datetime.now(UTC)
        envelopes = [Envelope(
            event_id=str(uuid4()), event_type="PhotoPosted", schema_version=1,
            aggregate_id=photo, aggregate_version=1, position=position, occurred_at=now,
            actor_id=owner, correlation_id="bench",
            data=event_to_data(PhotoPosted(photo_id=photo, owner_id=owner,
                                           original_key="k", format="jpeg", width=1,
                                           height=1, variants={})))
            for photo, owner, position in posts]
        try:
            started = time.perf_counter()
            with views.transaction() as connection:
                store = binding.store(connection, [])
                for envelope in envelopes:
                    event = event_from_data(envelope.event_type, envelope.schema_version,
                                            envelope.data)
                    binding.projection.apply(event, envelope, store)
            return time.perf_counter() - started
        finally:
            views.close()


def postgres_reads(dsn: str, edges: list[tuple[str, str]],
                   posts: list[tuple[str, str, int]], readers: list[str]) -> list[float]:
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("CREATE TABLE follows (follower_id text, followee_id text, "
                   "PRIMARY KEY (follower_id, followee_id))")
        db.execute("CREATE TABLE posts (photo_id text PRIMARY KEY, owner_id text, "
                   "position bigint)")
        db.execute("CREATE INDEX posts_by_owner ON posts (owner_id, position)")
        with db.cursor().copy("COPY follows FROM STDIN") as copy:
            for edge in edges:
                copy.write_row(edge)
        with db.cursor().copy("COPY posts FROM STDIN") as copy:
            for post in posts:
                copy.write_row(post)
        db.execute("ANALYZE")
        query = db.cursor()
        timed = []
        for user in readers * 2:
            started = time.perf_counter()
            page = query.execute(_PULL, {"user": user}, prepare=True).fetchall()
            timed.append((time.perf_counter() - started) * 1e6)
            assert len(page) <= PAGE
    return timed[len(readers):]


def stream_framework(python: Path, redis_port: int, edges: list[tuple[str, str]],
                     posts: list[tuple[str, str, int]], timed: list[tuple[str, str, int]],
                     readers: list[str]) -> dict[str, Any]:
    ids: dict[str, int] = {}

    def number(key: str) -> int:  # stream-framework's activities carry integer ids
        return ids.setdefault(key, len(ids) + 1)

    followers: dict[int, list[int]] = {}
    for follower, followee in edges:
        followers.setdefault(number(followee), []).append(number(follower))
    graph = {
        "followers": followers,
        "posts": [(number(photo), number(owner), position) for photo, owner, position in posts],
        "timed": [(number(photo), number(owner), position) for photo, owner, position in timed],
        "readers": [number(user) for user in readers]}
    out = subprocess.run([str(python), str(PEER), str(redis_port)], input=json.dumps(graph),
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="the embedded data of bench/readpath.py's graph (seeded if empty)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--follows", type=int, default=400_000)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--celebrity-threshold", type=int, default=10_000)
    parser.add_argument("--readers", type=int, default=1_000)
    parser.add_argument("--timed-posts", type=int, default=200)
    parser.add_argument("--peer-venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "photoshare-bench-stream-framework")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, secret_key=seeding.SECRET,
                        celebrity_threshold=args.celebrity_threshold)
    seeding.seed_unless_seeded(settings, args.users, args.follows, args.posts, args.seed)
    python = peer_python(args.peer_venv)
    edges, posts, celebrities = load_graph(settings)
    rng = random.Random(args.seed)
    users = sorted({user for edge in edges for user in edge})
    readers = rng.sample(users, min(args.readers, len(users)))
    # New posts after the graph's, by accounts under the threshold with followers, each
    # picked by its followers (edges of non-celebrities, drawn at random).
    candidates = [followee for _, followee in edges if followee not in celebrities]
    head = posts[-1][2] if posts else 0
    timed = [(f"bench-new-{n}", rng.choice(candidates), head + 1 + n)
             for n in range(args.timed_posts)]
    fanned = sum(1 for _, followee in edges if followee not in celebrities)
    print(f"graph: {len(users):,} users, {len(edges):,} follows, {len(posts):,} posts, "
          f"{len(celebrities)} celebrities; {len(readers):,} readers; {len(timed)} timed "
          f"posts ({fanned:,} of the follows are fanned out to)", flush=True)

    engines = Engines(Path(tempfile.mkdtemp(prefix="photoshare-bench-")) / "engine-logs")
    try:
        ours = photoshare_reads(settings, readers)
        print(f"photoshare store (SQLite views), home page: {percentiles(ours)}", flush=True)
        our_p50 = seeding.percentile(ours, 0.5)
        dsn = f"{engines.address('postgres')}/photoshare_bench_{uuid4().hex[:8]}"
        ensure_database(dsn)
        pulled = postgres_reads(dsn, edges, posts, readers)
        print(f"PostgreSQL pull query: {percentiles(pulled)} "
              f"({seeding.percentile(pulled, 0.5) / our_p50:.1f}x photoshare's p50)",
              flush=True)
        redis_port = urlsplit(engines.address("redis")).port or 6379
        started = time.perf_counter()
        peer = stream_framework(python, redis_port, edges, posts, timed, readers)
        print(f"stream-framework 1.4 (Redis), feed[:20]: {percentiles(peer['read_us'])} "
              f"({seeding.percentile(peer['read_us'], 0.5) / our_p50:.1f}x "
              f"photoshare's p50); its load took {time.perf_counter() - started:.0f} s",
              flush=True)
        their_rate = peer["fan_out_rows"] / peer["fan_out_seconds"]
        followers: dict[str, int] = {}
        for _, followee in edges:
            followers[followee] = followers.get(followee, 0) + 1
        reached = sum(followers[owner] for _, owner, _ in timed)
        assert reached == peer["fan_out_rows"]
        our_rate = reached / photoshare_fan_out(settings, timed)
        print(f"fan-out of {len(timed)} new posts: photoshare (SQLite, one transaction) "
              f"{our_rate:,.0f} rows/s; stream-framework {their_rate:,.0f} rows/s "
              f"({our_rate / their_rate:.1f}x)")
    finally:
        print(engines.summary())
        engines.close()


if __name__ == "__main__":
    main()

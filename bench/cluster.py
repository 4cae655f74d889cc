"""Cluster-profile benchmark: relay events/s, worker events/s per process, fan-out rows/s
(next to Redis's pipelined ZADD rate from `redis-benchmark -P 16 -t zadd -r 200000`,
measured in the same run), and post-to-timeline latency through Kafka.

Fan-out is given twice: the timeline rows the worker added over its whole run on the
mixed workload (mostly follows, so bound by the follows' rate), and one post's fan-out
alone (`--fan-out-followers` heads, the store's own code as the worker runs it for a
post: the followers read from Cassandra, then the heads' script in chunks).

`--views cluster` (the default) applies the views to Cassandra, Redis and OpenSearch,
`--views sqlite` to the one-machine SQLite file. Starts its own servers on free ports,
as the tests do (tests/support/engines.py; `make engines` first), and needs
`redis-benchmark` (Debian's redis-tools).
Run: `.venv/bin/python bench/cluster.py [--views cluster|sqlite] [--users 300]
[--follows 20000] [--posts 300] [--rebuild-search]`. `--rebuild-search` also times
`projections rebuild search` (streams/cluster_rebuild.py) over the same log, while the
worker runs, next to the worker's rate.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

# The test helpers that start the servers (tests/support), as pytest finds them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photoshare.commands import messages as m  # noqa: E402
from photoshare.infra.cassandra.schema import connect  # noqa: E402
from photoshare.infra.cassandra.timelines import (  # noqa: E402
    SENTINEL,
    CassandraTimelineStore,
    TimelineTables,
)
from photoshare.infra.redis.counters import RedisCounters  # noqa: E402
from photoshare.infra.redis.live_feed import RedisLiveFeed  # noqa: E402
from photoshare.projections.timelines import TimelineEntry  # noqa: E402
from photoshare.streams.delivery import Delivery  # noqa: E402
from photoshare.infra.roots.embedded import open_event_store  # noqa: E402
from photoshare.infra.kafka.client import ensure_topics, idempotent_producer  # noqa: E402
from photoshare.infra.postgres.relay_positions import RelayPositions  # noqa: E402
from photoshare.infra.roots.cluster import log_appends_for  # noqa: E402
from photoshare.infra.roots.supervisor import prepare  # noqa: E402
from photoshare.infra.roots.view_stores import open_view_stores  # noqa: E402
from photoshare.infra.settings import Settings  # noqa: E402
from photoshare.streams.partitioned import watermark  # noqa: E402
from photoshare.streams.relay import Relay, SealedLog  # noqa: E402
from support.cluster import cluster_servers  # noqa: E402
from support.engines import Engines  # noqa: E402

IMAGE = m.StoredImage(original_key="0" * 64 + ".jpg", format="jpeg", width=10, height=10,
                      variants={"large": "1" * 64 + ".jpg"})


def redis_zadd_rate(url: str) -> float:
    address = urlsplit(url)
    out = subprocess.run(["redis-benchmark", "-h", address.hostname or "127.0.0.1",
                          "-p", str(address.port or 6379),
                          "-q", "-t", "zadd", "-n", "200000", "-P", "16", "-r", "200000"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])


def fan_out_rate(settings: Settings, followers: int, posts: int,
                 warm_up: int = 3) -> tuple[float, float, float]:
    """Rows/s of one post's fan-out to `followers` heads (median and best of `posts`
    posts, after `warm_up` more), through `CassandraTimelineStore.fan_out` on the run's
    Cassandra and Redis: the followers' list as the worker's follows left it in
    Cassandra, and each follower with a head and a follow register in Redis, as the
    worker leaves them. Third: the median with the post's live notices published too
    (`RedisLiveFeed.publish`, as the worker does after the batch)."""
    from cassandra.concurrent import execute_concurrent_with_args

    session = connect(settings.cassandra_hosts or "", settings.cassandra_keyspace)
    client = redis.Redis.from_url(settings.redis_url or "")
    feed = RedisLiveFeed(settings.redis_url or "", prefix=settings.redis_prefix)
    try:
        tables = TimelineTables(session, client, settings.redis_prefix)
        delivery = Delivery()
        outbox: list[Any] = []
        store = CassandraTimelineStore(
            tables, RedisCounters(client, settings.redis_prefix, delivery), delivery, outbox)
        owner = "fan-out-owner"
        receivers = [f"fan-out-follower-{n}" for n in range(followers)]
        execute_concurrent_with_args(session, tables.put_follower,
                                     [(owner, user, 1) for user in receivers],
                                     concurrency=64, raise_on_first_error=True)
        pipe = client.pipeline(transaction=False)
        for user in receivers:
            pipe.zadd(tables.head(user), {SENTINEL: 0})
            pipe.hset(tables.follows(user), owner, 1)
        pipe.execute()
        rates, with_notices = [], []
        for n in range(warm_up + posts):
            position = 2 + n
            delivery.at("bench:0", position)
            started = time.perf_counter()
            store.fan_out(TimelineEntry(f"fan-out-photo-{n}", owner, position),
                          settings.timeline_cap)
            heads_done = time.perf_counter()
            feed.publish(outbox)
            outbox.clear()
            rates.append(followers / (heads_done - started))
            with_notices.append(followers / (time.perf_counter() - started))
        assert client.zcard(tables.head(receivers[-1])) == 1 + min(warm_up + posts,
                                                                    settings.timeline_cap)
        return (statistics.median(rates[warm_up:]), max(rates[warm_up:]),
                statistics.median(with_notices[warm_up:]))
    finally:
        feed.close()
        session.cluster.shutdown()
        client.close()


def timeline_rows(settings: Settings, views: Any) -> Any:
    """How many rows the materialized timelines hold (Redis heads or SQLite rows)."""
    if views.kind == "sqlite":
        path = settings.views_path
        return lambda: sqlite3.connect(path).execute("SELECT count(*) FROM timeline").fetchone()[0]
    client = redis.Redis.from_url(settings.redis_url or "")

    def count() -> int:
        heads = list(client.scan_iter(match=f"{settings.redis_prefix}tl:*", count=1000))
        pipe = client.pipeline(transaction=False)
        for head in heads:
            pipe.zcard(head)
        return sum(size - 1 for size in pipe.execute())  # each head holds a sentinel
    return count


def timeline_probe(settings: Settings, views: Any) -> Any:
    """Whether a post is on a user's materialized timeline yet."""
    if views.kind == "sqlite":
        probe = sqlite3.connect(settings.views_path)
        return lambda user, _owner, photo: probe.execute(
            "SELECT 1 FROM timeline WHERE user_id = ? AND photo_id = ?",
            (user, photo)).fetchone() is not None
    client = redis.Redis.from_url(settings.redis_url or "")
    return lambda user, owner, photo: client.zscore(
        f"{settings.redis_prefix}tl:{user}", f"{owner}/{photo}") is not None


def rebuild_search(settings: Settings, commands: Any, worker_rate: float) -> None:
    """`projections rebuild search` over the whole log, the worker running beside it:
    log positions read per second through the search projection into new indices, until
    the first catch-up with the head (then the rebuild may wait for the workers' cached
    answers to expire, streams/cluster_rebuild.py: not part of the rate)."""
    from photoshare.streams.cluster_rebuild import rebuild_cluster_view

    started = time.perf_counter()
    progress: list[tuple[float, int]] = []
    switching: list[float] = []

    def advanced(step: Any) -> None:
        if not switching:
            progress.append((time.perf_counter(), step.position))

    rebuilt = rebuild_cluster_view(settings, commands, "search", drop_after_seconds=0,
                                   on_progress=advanced,
                                   on_switching=lambda: switching.append(time.perf_counter()))
    switched = time.perf_counter() - switching[0]
    at, position = progress[-1]
    rate = position / (at - started)
    print(f"rebuild search (PostgreSQL log -> new OpenSearch indices, worker running): "
          f"{position:,} events in {at - started:.2f} s = {rate:,.0f} events/s "
          f"({rate / worker_rate:.2f}x the worker's all-view rate); switch to version "
          f"{rebuilt.version} (workers waiting) {switched:.2f} s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--follows", type=int, default=20000)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--views", choices=("cluster", "sqlite"), default="cluster")
    parser.add_argument("--partitions", type=int, default=8, help="per topic")
    parser.add_argument("--fan-out-followers", type=int, default=20000,
                        help="heads one post is fanned out to, timed alone")
    parser.add_argument("--rebuild-search", action="store_true",
                        help="also time the cluster rebuild of the search view")
    args = parser.parse_args()
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="photoshare-bench-"))
    engines = Engines(tmp / "engine-logs")
    try:
        run(args, rng, engines, tmp)
    finally:
        print(engines.summary())
        engines.close()


def run(args: argparse.Namespace, rng: random.Random, engines: Engines, tmp: Path) -> None:
    with cluster_servers(engines, tmp, s3=False, partitions=args.partitions,
                         view_engines=args.views == "cluster") as servers:
        settings = servers.settings()
        prepare(settings)  # the database, topics, keyspace and indices
        ensure_topics(settings)
        commands = open_event_store(settings)
        ctx = m.CommandContext(actor_id=None, correlation_id="bench")
        users = [commands.execute(m.RegisterUser(username=f"user{n}", email=f"user{n}@b.example",
                                                 password_hash="x", display_name=f"U {n}"),
                                  ctx).value for n in range(args.users)]
        # Power law: a few accounts get most follows.
        weights = [1 / (rank + 1) for rank in range(args.users)]
        started = time.perf_counter()
        for _ in range(args.follows):
            follower = rng.choice(users)
            followee = rng.choices(users, weights)[0]
            if follower != followee:
                commands.execute(m.FollowUser(follower_id=follower, followee_id=followee), ctx)
        write_seconds = time.perf_counter() - started
        for n in range(args.posts // 2):
            commands.execute(m.PostPhoto(owner_id=rng.choices(users, weights)[0], image=IMAGE,
                                         caption=f"warm {n}"), ctx)
        head = commands.head_position()
        print(f"event store (PostgreSQL): {args.follows / write_seconds:,.0f} commands/s "
              f"through PhotoShareCommands.execute; log head {head}")

        # Relay: publish the whole log.
        positions = RelayPositions(settings.postgres_dsn)
        producer = idempotent_producer(settings)
        relay = Relay(SealedLog(commands), producer, positions,
                      topic_prefix=settings.kafka_topic_prefix,
                      batch_size=settings.relay_batch_size)
        started = time.perf_counter()
        published = 0
        while moved := relay.publish_batch():
            published += moved
        relay_seconds = time.perf_counter() - started
        print(f"relay: {published:,} events in {relay_seconds:.2f} s = "
              f"{published / relay_seconds:,.0f} events/s (idempotent producer, acks=all)")

        # One worker process: from its first applied batch to the head.
        worker = servers.role("worker", log_name="worker.log")
        views = open_view_stores(settings)
        rows_of = timeline_rows(settings, views)
        first = None
        while True:
            checkpoints = views.checkpoints()
            if checkpoints and first is None:
                first = time.perf_counter()
            if watermark(*positions.load(), checkpoints) >= head:
                break
            time.sleep(0.01)
        worker_seconds = time.perf_counter() - (first or time.perf_counter())
        rows = rows_of()
        where = ("Cassandra, Redis and OpenSearch" if views.kind == "cluster"
                 else "one SQLite file")
        print(f"worker (1 process, all six views on {where}): {published:,} events in "
              f"{worker_seconds:.2f} s = {published / worker_seconds:,.0f} events/s "
              f"({published / worker_seconds / (published / relay_seconds):.2f}x the relay); "
              f"{rows:,} timeline rows fanned out = {rows / worker_seconds:,.0f} rows/s")
        if args.rebuild_search:
            rebuild_search(settings, commands, published / worker_seconds)
        zadd = redis_zadd_rate(settings.redis_url or '')
        print(f"redis-benchmark -P 16 -t zadd -r 200000: {zadd:,.0f} ops/s "
              f"(fan-out into the timelines over the worker's run is "
              f"{rows / worker_seconds / zadd:.3f}x that)")
        if views.kind == "cluster":
            median, best, with_notices = fan_out_rate(settings, args.fan_out_followers,
                                                      posts=20)
            print(f"one post's fan-out to {args.fan_out_followers:,} heads "
                  f"(CassandraTimelineStore.fan_out, 20 posts after 3): median "
                  f"{median:,.0f} rows/s = {median / zadd:.2f}x redis-benchmark's ZADD "
                  f"rate, best {best:,.0f}; with each follower's live notice published "
                  f"(RedisLiveFeed.publish) {with_notices:,.0f} rows/s = "
                  f"{with_notices / zadd:.2f}x")

        # Post-to-timeline latency through relay, Kafka and the worker.
        stop = threading.Event()
        appends = log_appends_for(settings, commands)
        assert appends is not None  # the bench's event store is PostgreSQL's
        pumping = threading.Thread(target=relay.run, args=(stop,),
                                   kwargs={"poll_seconds": settings.relay_poll_seconds,
                                           "wait_for_appends": appends.wait})
        pumping.start()
        poster, reader = users[-1], users[-2]
        commands.execute(m.FollowUser(follower_id=reader, followee_id=poster), ctx)
        on_timeline = timeline_probe(settings, views)
        latencies = []
        for n in range(args.posts):
            result = commands.execute(m.PostPhoto(owner_id=poster, image=IMAGE,
                                                  caption=f"probe {n}"), ctx)
            sent = time.perf_counter()
            while not on_timeline(reader, poster, result.value):
                time.sleep(0.001)
            latencies.append((time.perf_counter() - sent) * 1000)
        stop.set()
        pumping.join()
        appends.close()
        print(f"post-to-timeline through Kafka ({args.posts} posts): p50 "
              f"{statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
              f"max {max(latencies):.1f} ms")
        worker.terminate()
        worker.wait()
        producer.close()
        positions.close()
        views.close()
        commands.close()


if __name__ == "__main__":
    main()

"""What the cluster applier's settle step costs (`TimelinesProjection.settle`: the
celebrity crossings of a batch decided again from the committed counts after the save).

Applies one seed (power-law follows and some posts, as bench/cluster.py's, smaller) to
the cluster's Cassandra and Redis stores through the real ClusterApplier, in batches of
500 over 8 partitions, several times on fresh ids and Redis prefixes, alternating runs
with the settle step and runs with it switched off (same servers, same process), and
prints events/s of each and the ratio of the means. The first run only warms the
servers up. Starts its own Cassandra and Redis on free ports (tests/support/engines.py).
Run: `.venv/bin/python bench/settle.py [--users 200] [--follows 3000] [--posts 150]`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any
from uuid import uuid4

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photoshare.events import Envelope, Event, PhotoPosted, UserFollowed, UserRegistered  # noqa: E402
from photoshare.infra.cassandra.checkpoints import CassandraCheckpoints  # noqa: E402
from photoshare.infra.redis.counters import RedisCounters  # noqa: E402
from photoshare.infra.roots.view_stores import ClusterCheckpoints, cluster_bindings  # noqa: E402
from photoshare.infra.settings import Settings  # noqa: E402
from photoshare.streams.delivery import Delivery  # noqa: E402
from photoshare.streams.partitioned import ClusterApplier  # noqa: E402
from support.engines import Engines  # noqa: E402
from support.histories import envelopes  # noqa: E402
from support.views import fresh_keyspace  # noqa: E402

PARTITIONS, BATCH = 8, 500
ORDER = (False, True, False, False, True, True, False)  # settle on/off; the first warms up


def seed(args: argparse.Namespace, tag: str) -> list[Envelope]:
    rng = random.Random(7)
    users = [f"u{n}-{tag}" for n in range(args.users)]
    history: list[tuple[Event, str]] = [
        (UserRegistered(user_id=u, username=u, display_name=u), u) for u in users]
    weights = [1 / (rank + 1) for rank in range(args.users)]  # a few accounts get most
    seen: set[tuple[str, str]] = set()
    for n in range(args.follows):
        follower, followee = rng.choice(users), rng.choices(users, weights)[0]
        if follower != followee and (follower, followee) not in seen:
            seen.add((follower, followee))
            history.append((UserFollowed(follower_id=follower, followee_id=followee), follower))
        if n % max(1, args.follows // args.posts) == 0:
            owner = rng.choices(users, weights)[0]
            history.append((PhotoPosted(
                photo_id=f"p{n}-{tag}", owner_id=owner, caption="x", hashtags=[],
                tagged_user_ids=[], original_key="o.jpg", format="jpeg", width=1, height=1,
                variants={"large": "l.jpg"}), owner))
    return envelopes(history)


def run(args: argparse.Namespace, session: Any, client: redis.Redis,
        settle: bool) -> tuple[int, float]:
    tag = uuid4().hex[:8]
    settings = Settings(timeline_cap=800, celebrity_threshold=args.threshold,
                        redis_prefix=f"bench-settle-{tag}:")
    delivery = Delivery()
    counters = RedisCounters(client, settings.redis_prefix, delivery)
    checkpoints = ClusterCheckpoints(
        counters, CassandraCheckpoints(session, scope=settings.redis_prefix), strict=True)
    applier = ClusterApplier(checkpoints, cluster_bindings(session, client, settings, delivery,
                                                           counters, None),
                             delivery, discards=[counters.discard], threads=8)
    if not settle:
        applier._settle = lambda *_: None  # type: ignore[method-assign]
    items = seed(args, tag)
    delivered = [(f"t:{zlib.crc32(e.aggregate_id.encode()) % PARTITIONS}", e) for e in items]
    started = time.perf_counter()
    for start in range(0, len(delivered), BATCH):
        applier.apply(delivered[start:start + BATCH])
    return len(items), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--follows", type=int, default=3000)
    parser.add_argument("--posts", type=int, default=150)
    parser.add_argument("--threshold", type=int, default=50, help="celebrity threshold")
    args = parser.parse_args()
    engines = Engines(Path(tempfile.mkdtemp(prefix="photoshare-bench-")) / "engine-logs")
    try:
        with fresh_keyspace(engines.address("cassandra")) as session:
            client = redis.Redis.from_url(engines.address("redis"))
            rates: dict[bool, list[float]] = {True: [], False: []}
            for index, settle in enumerate(ORDER):
                events, seconds = run(args, session, client, settle)
                if index:
                    rates[settle].append(events / seconds)
                print(f"{'with' if settle else 'without'} settle: {events:,} events in "
                      f"{seconds:.1f} s = {events / seconds:,.0f} events/s"
                      f"{' (warm-up)' if not index else ''}", flush=True)
            on, off = (sum(rates[key]) / len(rates[key]) for key in (True, False))
            print(f"mean with settle {on:,.0f} events/s, without {off:,.0f}: "
                  f"{on / off:.2f}x")
    finally:
        print(engines.summary())
        engines.close()


if __name__ == "__main__":
    main()

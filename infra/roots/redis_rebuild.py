"""Rebuild what the cluster keeps in Redis from Cassandra, after Redis lost its data.

Redis holds the views' counters, the materialized home timelines and the workers'
checkpoints (infra/redis/counters.py, infra/cassandra/timelines.py); Cassandra holds the
rows they are made from and a copy of the checkpoints. While Redis is empty, reads fall
back to Cassandra (timelines read the follows and posts, profiles count the graph's and
photos' rows) and the workers wait (they cannot count exactly once without the
checkpoints). `photoshare projections rebuild-redis` then puts everything back:

1. the counters, counted from the rows: followers, following and photos per profile
   (the graph's and photos' lists), likes and comments per live photo, followers per
   timeline owner (`tl_followers`);
2. the home timeline of every user who follows someone;
3. last, the checkpoints, from their Cassandra copy: the workers go on from there.

Stop the workers first (SIGTERM lets each finish its batch): the rows must be exactly
what the checkpoints say has been applied.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

log = logging.getLogger("photoshare.rebuild")


def rebuild_redis(session: Any, client: Any, prefix: str, cap: int, *,
                  checkpoints_scope: str | None = None,
                  progress: Callable[[str, int], None] = lambda _step, _count: None
                  ) -> dict[str, int]:
    """What `rebuild-redis` does (module docstring); how many of each it wrote."""
    from photoshare.infra.cassandra.checkpoints import CassandraCheckpoints
    from photoshare.infra.cassandra.photos import COMMENTS, LIKES, CassandraPhotoQueries
    from photoshare.infra.cassandra.profiles import COUNTERS, counter_name
    from photoshare.infra.cassandra.schema import (
        FOLLOWERS,
        FOLLOWING,
        PHOTOS_BY_OWNER,
        BucketedList,
        keyspace_of,
    )
    from photoshare.infra.cassandra.timelines import FOLLOWERS as TIMELINE_FOLLOWERS
    from photoshare.infra.cassandra.timelines import TimelineTables
    from photoshare.infra.redis.counters import RedisCounters
    from photoshare.streams.delivery import Delivery

    ks = keyspace_of(session)
    counters = RedisCounters(client, prefix, Delivery())
    lists = dict(zip(COUNTERS, (BucketedList(session, spec)
                                for spec in (FOLLOWERS, FOLLOWING, PHOTOS_BY_OWNER)),
                     strict=True))
    users = [row.user_id for row in session.execute(f"SELECT user_id FROM {ks}.profiles")]
    for user in users:
        pipe = client.pipeline(transaction=False)
        for counter, items in lists.items():
            pipe.set(counters.key(counter_name(counter), user), items.count(user))
        pipe.execute()
        progress("profiles", 1)
    photo_ids = [row.photo_id for row in session.execute(
        f"SELECT photo_id, owner_id, deleted FROM {ks}.photos")
        if row.owner_id is not None and not row.deleted]
    photos = CassandraPhotoQueries(session, counters)
    for start in range(0, len(photo_ids), 50):
        chunk = photo_ids[start:start + 50]
        pipe = client.pipeline(transaction=False)
        for photo_id, (likes, comments) in photos.counts_from_rows(chunk).items():
            pipe.set(counters.key(LIKES, photo_id), likes)
            pipe.set(counters.key(COMMENTS, photo_id), comments)
        pipe.execute()
        progress("photos", len(chunk))
    followers = Counter(row.followee_id for row in
                        session.execute(f"SELECT followee_id FROM {ks}.tl_followers"))
    pipe = client.pipeline(transaction=False)
    for owner, count in followers.items():
        pipe.set(counters.key(TIMELINE_FOLLOWERS, owner), count)
    pipe.execute()
    progress("timeline owners", len(followers))
    tables = TimelineTables(session, client, prefix)
    readers = sorted({row.follower_id for row in
                      session.execute(f"SELECT follower_id FROM {ks}.tl_follows")})
    for reader in readers:
        tables.rebuild_head(reader, cap)
        progress("timelines", 1)
    kept = (CassandraCheckpoints(session) if checkpoints_scope is None
            else CassandraCheckpoints(session, scope=checkpoints_scope)).load()
    if kept:
        client.hset(f"{prefix}checkpoints", mapping=kept)
    log.info("Redis rebuilt: %d profiles, %d photos, %d timeline owners, %d timelines, "
             "%d checkpoints", len(users), len(photo_ids), len(followers), len(readers),
             len(kept))
    return {"profiles": len(users), "photos": len(photo_ids),
            "timeline_owners": len(followers), "timelines": len(readers),
            "checkpoints": len(kept)}

"""The stream-framework side of `bench/peers.py`; runs in its own virtualenv
(stream-framework 1.4.0 needs redis-py 2.x, whose `zadd` signature it calls), made by
`bench/peers.py`. Not part of photoshare: it imports only stream-framework.

Reads a JSON graph on stdin: `followers` (owner id -> follower ids), `posts` (photo id,
owner id, position, oldest first), `readers` (user ids whose feeds are read) and `timed`
(posts whose fan-out is timed, after the others). Loads every post into the followers'
Redis feeds the way stream-framework's `Manager.fanout` does (the activity stored once,
then `add_many` for each follower, 100 followers a batch interface, i.e. one Redis
pipeline), reads each reader's first page (`feed[:20]`, activities hydrated from the
activity storage), and prints JSON: the read's microseconds per reader and the fan-out's
rows/s over the `timed` posts.
"""

from __future__ import annotations

import datetime
import json
import sys
import time

from stream_framework import settings
from stream_framework.activity import Activity
from stream_framework.feeds.redis import RedisFeed
from stream_framework.verbs import register
from stream_framework.verbs.base import Verb

CHUNK = 100  # Manager.fanout_chunk_size


class Post(Verb):
    id = 9
    infinitive = "post"
    past_tense = "posted"


register(Post)


class HomeFeed(RedisFeed):
    key_format = "bench:home:%(user_id)s"
    max_length = 800  # photoshare's timeline cap


def activity(photo: str, owner: str, position: int) -> Activity:
    # Integer ids (stream-framework serializes actor and object as numbers); the
    # position orders the feed, as photoshare's log position does.
    return Activity(actor=owner, verb=Post, object=photo,
                    time=datetime.datetime.fromtimestamp(1_700_000_000 + position))


def fan_out(followers: list[int], item: Activity) -> None:
    HomeFeed.insert_activity(item)
    for start in range(0, len(followers), CHUNK):
        with HomeFeed.get_timeline_batch_interface() as batch:
            for user in followers[start:start + CHUNK]:
                HomeFeed(user).add_many([item], batch_interface=batch, trim=True)


def main() -> None:
    port = int(sys.argv[1])
    settings.STREAM_REDIS_CONFIG["default"].update(host="127.0.0.1", port=port, db=0)
    graph = json.load(sys.stdin)
    followers = {int(owner): users for owner, users in graph["followers"].items()}
    for photo, owner, position in graph["posts"]:
        fan_out(followers.get(owner, []), activity(photo, owner, position))
    rows = 0
    started = time.perf_counter()
    for photo, owner, position in graph["timed"]:
        audience = followers.get(owner, [])
        fan_out(audience, activity(photo, owner, position))
        rows += len(audience)
    fan_out_seconds = time.perf_counter() - started
    reads = []
    for user in graph["readers"] * 2:  # the first pass warms up; the second is timed
        started = time.perf_counter()
        page = HomeFeed(user)[:20]
        reads.append((time.perf_counter() - started) * 1e6)
        assert len(page) <= 20
    json.dump({"read_us": reads[len(graph["readers"]):], "fan_out_rows": rows,
               "fan_out_seconds": fan_out_seconds}, sys.stdout)


if __name__ == "__main__":
    main()

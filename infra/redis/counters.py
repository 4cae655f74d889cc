"""Counters of the cluster views in Redis (followers, following, photos; a photo's likes
and comments; a timeline owner's followers) and the workers' per-partition checkpoints,
moved together so that each event counts exactly once.

Kafka delivers at least once and Redis shares no transaction with the other stores, so
an increment simply replayed would count twice. Increments are therefore staged during
a batch, each tagged with the (partition, position) of the event that caused it, and
applied at the batch's end by one Lua script that, atomically, skips those at or below
their partition's checkpoint, and advances the checkpoints to the end of the batch. A
crash before the script leaves nothing counted and nothing checkpointed: the batch is
applied again, and reads counters that hold none of its own increments (a celebrity
decision made again is the same decision). A crash after it leaves the batch
checkpointed, so it is skipped. A second worker applying the same partition in a
rebalance counts nothing twice either.

Keys: `{prefix}count:{name}:{id}` (a plain integer) and `{prefix}checkpoints` (a hash of
partition -> position). Both are lost together if Redis loses its data; the checkpoints
have a durable copy in Cassandra (infra/roots/view_stores.py), and `photoshare
projections rebuild-redis` counts the counters again from Cassandra's rows
(infra/roots/redis_rebuild.py).
The script touches keys of many hash slots: it needs a single Redis (or one shard with
hash tags in the prefix), not a Redis Cluster spread over several shards.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

import redis
from photoshare.streams.delivery import Delivery

# KEYS[1]: the checkpoints hash; KEYS[2..n]: counters. ARGV[1]: how many counters; then
# per counter: delta, partition, position; then per moved partition: partition,
# position. Checkpoints are read once, before anything moves, so all the deltas of one
# event stand or fall together.
_APPLY = """
local counters = tonumber(ARGV[1])
local done = {}
local function checkpoint(partition)
  if done[partition] == nil then
    done[partition] = tonumber(redis.call('HGET', KEYS[1], partition) or '0')
  end
  return done[partition]
end
for i = 1, counters do
  local base = 1 + (i - 1) * 3
  if tonumber(ARGV[base + 3]) > checkpoint(ARGV[base + 2]) then
    redis.call('INCRBY', KEYS[i + 1], ARGV[base + 1])
  end
end
for j = 2 + counters * 3, #ARGV, 2 do
  if tonumber(ARGV[j + 1]) > checkpoint(ARGV[j]) then
    redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
  end
end
return counters
"""


class RedisCounters:
    """Staged, exactly-once counters and the checkpoints they move with. `add` stages;
    `get`/`many` read the saved value plus what this batch staged; `save` applies the
    batch (once its other writes are done). A reader (the read API) uses one with a
    `Delivery()` and never stages anything."""

    def __init__(self, client: redis.Redis, prefix: str, delivery: Delivery) -> None:
        self.client, self.prefix, self.delivery = client, prefix, delivery
        self._checkpoints = f"{prefix}checkpoints"
        self._apply = client.register_script(_APPLY)
        # (key, partition, position) -> delta, in staging order
        self._staged: dict[tuple[str, str, int], int] = {}
        self._pending: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()  # partitions are applied by several threads

    def key(self, name: str, entity_id: str) -> str:
        return f"{self.prefix}count:{name}:{entity_id}"

    def add(self, name: str, entity_id: str, delta: int) -> None:
        """Stage `delta` for counter `name` of `entity_id`, caused by the current event."""
        key = self.key(name, entity_id)
        tag = (key, self.delivery.partition, self.delivery.position)
        with self._lock:
            self._staged[tag] = self._staged.get(tag, 0) + delta
            self._pending[key] += delta

    def get(self, name: str, entity_id: str) -> int:
        return self.many(name, [entity_id])[entity_id]

    def many(self, name: str, entity_ids: Iterable[str]) -> dict[str, int]:
        """Committed values plus this batch's staged deltas, never below 0."""
        return self.table([name], entity_ids)[name]

    def table(self, names: Iterable[str],
              entity_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """Several counters of several entities in one round trip: name -> id -> value,
        as `many` reads them (the likes and comments of a page of photos, say)."""
        names, ids = list(names), list(dict.fromkeys(entity_ids))
        if not names or not ids:
            return {name: {} for name in names}
        keys = [self.key(name, entity_id) for name in names for entity_id in ids]
        values = self.client.mget(keys)
        pending = self._pending
        return _by_name(names, ids, [int(value or 0) + pending.get(key, 0)
                                     for key, value in zip(keys, values, strict=True)])

    def saved_table(self, names: Iterable[str],
                    entity_ids: Iterable[str]) -> dict[str, dict[str, int]] | None:
        """A reader's `table`: the saved counters, or None while Redis has lost its data
        (no checkpoints beside them; the reader then counts from Cassandra's rows). The
        counters and the checkpoints are read in one transaction, so a flush of Redis
        between the two can never pass zeros off as counts; `rebuild-redis` writes the
        checkpoints last, so while it runs the answer is None too."""
        names, ids = list(names), list(dict.fromkeys(entity_ids))
        if not names or not ids:
            return {name: {} for name in names}
        keys = [self.key(name, entity_id) for name in names for entity_id in ids]
        pipe = self.client.pipeline(transaction=True)
        pipe.mget(keys)
        pipe.exists(self._checkpoints)
        saved, kept = pipe.execute()
        if not kept:
            return None
        return _by_name(names, ids, [int(value or 0) for value in saved])

    def load(self) -> dict[str, int]:
        """The per-partition checkpoints: the last position applied from each."""
        return {partition.decode(): int(position) for partition, position
                in self.client.hgetall(self._checkpoints).items()}

    def save(self, moved: dict[str, int]) -> None:
        """Apply the staged deltas exactly once each and advance the checkpoints of
        `moved`, in one atomic script; then nothing is staged."""
        if self._staged or moved:
            keys = [self._checkpoints, *(key for key, _, _ in self._staged)]
            args: list[object] = [len(self._staged)]
            args += [value for (_, partition, position), delta in self._staged.items()
                     for value in (delta, partition, position)]
            args += [value for partition, position in moved.items()
                     for value in (partition, position)]
            self._apply(keys=keys, args=args)
        self.discard()

    def discard(self) -> None:
        """Forget what is staged (a batch that failed is applied again from the start)."""
        self._staged.clear()
        self._pending.clear()


def _by_name(names: list[str], ids: list[str], counts: list[int]) -> dict[str, dict[str, int]]:
    """`counts` (one per name and id, names outer) as name -> id -> count, never below 0
    (deltas of different partitions are saved in any order, so a count may dip below 0
    for a moment)."""
    values = iter(counts)
    return {name: {entity_id: max(0, next(values)) for entity_id in ids} for name in names}

"""Counters of the cluster views in Redis (followers, following, photos), counted exactly
once per event.

Kafka delivers at least once and Redis shares no transaction with the other stores, so
an increment simply replayed would count twice. Increments are therefore staged during
a batch, each tagged with the (partition, position) of the event that caused it, and
applied at the batch's end by one Lua script that, atomically, skips those at or below
that partition's counter checkpoint and advances it. A crash before the script leaves
nothing counted; a replay after it, or a second worker applying the same partition in
a rebalance, counts nothing again.

Keys: `{prefix}count:{name}:{id}` (a plain integer) and `{prefix}count-checkpoints` (a
hash of partition -> position). Both are lost together if Redis loses its data, and
counts then start again from zero: until a command rebuilds them from Cassandra, a
Redis that lost its data means rebuilding the views from event zero.
The script touches keys of many hash slots: it needs a single Redis (or one shard with
hash tags in the prefix), not a Redis Cluster spread over several shards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import redis
from photoshare.streams.delivery import Delivery

# KEYS[1]: the checkpoints hash; KEYS[2..n]: counters. ARGV, per counter: delta,
# partition, position. Checkpoints are read once, before any counter moves, so all the
# deltas of one event stand or fall together.
_APPLY = """
local done, moved = {}, {}
for i = 2, #KEYS do
  local base = (i - 2) * 3
  local partition = ARGV[base + 2]
  local position = tonumber(ARGV[base + 3])
  if done[partition] == nil then
    done[partition] = tonumber(redis.call('HGET', KEYS[1], partition) or '0')
  end
  if position > done[partition] then
    redis.call('INCRBY', KEYS[i], ARGV[base + 1])
    if (moved[partition] or 0) < position then moved[partition] = position end
  end
end
for partition, position in pairs(moved) do
  redis.call('HSET', KEYS[1], partition, position)
end
return #KEYS - 1
"""


class RedisCounters:
    """Staged, exactly-once counters. `add` stages; `get`/`many` read the committed value
    plus what this batch staged; `commit` applies the batch (call it once the batch's
    other writes are done, before its checkpoints are saved). A reader (the read API)
    uses one with a `Delivery()` that never stages anything."""

    def __init__(self, client: redis.Redis, prefix: str, delivery: Delivery) -> None:
        self.client, self.prefix, self.delivery = client, prefix, delivery
        self._checkpoints = f"{prefix}count-checkpoints"
        self._apply = client.register_script(_APPLY)
        # (key, partition, position) -> delta, in staging order
        self._staged: dict[tuple[str, str, int], int] = {}
        self._pending: defaultdict[str, int] = defaultdict(int)

    def key(self, name: str, entity_id: str) -> str:
        return f"{self.prefix}count:{name}:{entity_id}"

    def add(self, name: str, entity_id: str, delta: int) -> None:
        """Stage `delta` for counter `name` of `entity_id`, caused by the current event."""
        key = self.key(name, entity_id)
        tag = (key, self.delivery.partition, self.delivery.position)
        self._staged[tag] = self._staged.get(tag, 0) + delta
        self._pending[key] += delta

    def get(self, name: str, entity_id: str) -> int:
        return self.many(name, [entity_id])[entity_id]

    def many(self, name: str, entity_ids: Iterable[str]) -> dict[str, int]:
        """Committed values plus this batch's staged deltas, never below 0."""
        ids = list(dict.fromkeys(entity_ids))
        if not ids:
            return {}
        keys = [self.key(name, entity_id) for entity_id in ids]
        values = self.client.mget(keys)
        return {entity_id: max(0, int(value or 0) + self._pending.get(key, 0))
                for entity_id, key, value in zip(ids, keys, values, strict=True)}

    def commit(self) -> None:
        """Apply the staged deltas exactly once each; then nothing is staged."""
        if self._staged:
            keys = [self._checkpoints, *(key for key, _, _ in self._staged)]
            args = [value for (_, partition, position), delta in self._staged.items()
                    for value in (delta, partition, position)]
            self._apply(keys=keys, args=args)
        self.discard()

    def discard(self) -> None:
        """Forget what is staged (a batch that failed is applied again from the start)."""
        self._staged.clear()
        self._pending.clear()

    def checkpoints(self) -> dict[str, int]:
        return {partition.decode(): int(position) for partition, position
                in self.client.hgetall(self._checkpoints).items()}


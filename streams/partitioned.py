"""Applies events delivered per Kafka partition to the views, exactly once in effect.

Kafka keeps order per partition only, and delivers at least once. Both appliers keep,
per partition, the position of the last event applied from it, and skip a redelivered
event (at or below its partition's checkpoint). Events of different partitions arrive
in any interleaving, which the views converge under (see the stores' docstrings).

* `PartitionedApplier`: the SQLite views of one machine. Every view change is committed
  in one view transaction together with the checkpoints.
* `ClusterApplier`: the cluster stores (Cassandra, Redis, OpenSearch), which share no
  transaction. A batch's writes go first, then the batch-end flushes (the Cassandra
  writes the stores staged in their write buffer, `infra/cassandra/write_buffer.py`;
  OpenSearch's bulk request), then the checkpoints (in the cluster profile, with the Redis counters in one
  script), which therefore never pass a write that is not durable. A crash before the
  checkpoints applies the batch again on top of its own partial effects, which the
  stores make harmless (`streams.delivery`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Protocol

from photoshare.events import Envelope, event_from_data
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.streams.delivery import Delivery
from photoshare.streams.runner import Binding, Notice, Outbox

Delivered = tuple[str, Envelope]  # (partition key "topic:partition", envelope)


class PartitionedApplier:
    def __init__(self, views: ViewDatabase, bindings: Sequence[Binding], *,
                 publish: Callable[[Sequence[Notice]], None] | None = None) -> None:
        self.views, self.bindings, self.publish = views, list(bindings), publish

    def apply(self, deliveries: Sequence[Delivered]) -> int:
        """Apply what has not been applied yet; how many events that was."""
        outbox: Outbox = []
        applied = 0
        with self.views.transaction() as connection:
            done = ViewDatabase.read_checkpoints(connection)
            moved: dict[str, int] = {}
            stores: list[tuple[Any, Any]] = [(b.projection, b.store(connection, outbox))
                                             for b in self.bindings]
            for partition, envelope in deliveries:
                if envelope.position <= moved.get(partition, done.get(partition, 0)):
                    continue  # a redelivery: already in the views
                event = event_from_data(envelope.event_type, envelope.schema_version,
                                        envelope.data)
                for projection, store in stores:
                    projection.apply(event, envelope, store)
                moved[partition] = envelope.position
                applied += 1
            ViewDatabase.set_checkpoints(connection, moved)
        if outbox and self.publish:
            self.publish(outbox)
        return applied


class Checkpoints(Protocol):
    def load(self) -> dict[str, int]: ...

    def save(self, moved: dict[str, int]) -> None: ...


def counted_account(envelope: Envelope) -> str | None:
    """The account whose follower count the event's timeline handling reads and then
    acts on (`projections.timelines`: a follow or unfollow may cross the celebrity
    threshold; a post is fanned out or not). Two such events of one account applied at
    the same moment would both read the count before either moved it, and miss a
    crossing; the cluster applier applies them one at a time."""
    if envelope.event_type in ("UserFollowed", "UserUnfollowed"):
        return str(envelope.data.get("followee_id"))
    if envelope.event_type == "PhotoPosted":
        return str(envelope.data.get("owner_id"))
    return None


class _Serializer:
    """One lock per key, for the batch: threads holding at most one at a time never
    deadlock."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]


class ClusterApplier:
    """Applies deliveries to stores outside any shared transaction (module docstring).

    A batch's partitions are applied at the same time, one thread each (up to
    `threads`), each partition's events in order: the stores converge whatever the
    interleaving of partitions (their docstrings), and their writes are round trips to
    servers that are faster done side by side. `bindings`' store factories are called
    once per batch with no connection and the batch's outbox; the stores read each
    thread's current event from `delivery`. Events of different partitions with the same
    `serialize_by` key (by default `counted_account`) are applied one at a time by the
    projections named in `serialized` (by default the timelines, the one that reads the
    count and acts on it); their other projections run side by side, so that one popular
    account's follows do not wait for each other's graph and notification writes."""

    def __init__(self, checkpoints: Checkpoints, bindings: Sequence[Binding],
                 delivery: Delivery, *,
                 publish: Callable[[Sequence[Notice]], None] | None = None,
                 flushes: Sequence[Callable[[], None]] = (),
                 discards: Sequence[Callable[[], None]] = (),
                 threads: int = 8,
                 serialize_by: Callable[[Envelope], str | None] = counted_account,
                 serialized: Collection[str] = ("timelines",)) -> None:
        self.checkpoints, self.bindings, self.delivery = checkpoints, list(bindings), delivery
        self.serialize_by, self.serialized = serialize_by, frozenset(serialized)
        self.publish = publish
        self.flushes = list(flushes)      # batch-end writes, in order
        self.discards = list(discards)    # forget what a failed batch staged
        self._pool = ThreadPoolExecutor(max_workers=threads,
                                        thread_name_prefix="apply-partition")

    def apply(self, deliveries: Sequence[Delivered]) -> int:
        outbox: Outbox = []
        try:
            done = self.checkpoints.load()
            stores = [(b.projection, b.store(None, outbox)) for b in self.bindings]
            by_partition: dict[str, list[Envelope]] = {}
            for partition, envelope in deliveries:
                if envelope.position > done.get(partition, 0):  # else: a redelivery
                    by_partition.setdefault(partition, []).append(envelope)
            serializer = _Serializer()
            futures = [self._pool.submit(self._apply_partition, partition, envelopes, stores,
                                         serializer)
                       for partition, envelopes in by_partition.items()]
            # All of them, also when one failed: none may still stage anything once the
            # batch is discarded.
            wait(futures)
            moved = dict(future.result() for future in futures)
            for flush in self.flushes:
                flush()
            self.checkpoints.save(moved)
        except BaseException:
            # Whatever failed, the batch is applied again from its start: nothing it
            # staged may survive into that attempt.
            for discard in self.discards:
                discard()
            raise
        if outbox and self.publish:
            self.publish(outbox)
        return sum(len(envelopes) for envelopes in by_partition.values())

    def _apply_partition(self, partition: str, envelopes: list[Envelope],
                         stores: list[tuple[Any, Any]],
                         serializer: _Serializer) -> tuple[str, int]:
        last = 0
        for envelope in envelopes:
            if envelope.position <= last:
                continue  # delivered twice within the batch
            event = event_from_data(envelope.event_type, envelope.schema_version,
                                    envelope.data)
            self.delivery.at(partition, envelope.position)
            key = self.serialize_by(envelope)
            for projection, store in stores:
                if key is not None and projection.name in self.serialized:
                    with serializer.lock(key):
                        projection.apply(event, envelope, store)
                else:
                    projection.apply(event, envelope, store)
            last = envelope.position
        return partition, last


def watermark(relay_position: int, published: dict[str, int], applied: dict[str, int]) -> int:
    """The log position the views have passed, from positions alone (never the broker's
    end offsets): every event up to the relay's position, except in partitions whose
    consumers have not yet applied everything published to them, where only up to what
    they have applied."""
    behind = [applied.get(partition, 0) for partition, last in published.items()
              if applied.get(partition, 0) < last]
    return min([relay_position, *behind])

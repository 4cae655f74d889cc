"""Applies events delivered per Kafka partition to the views, exactly once in effect.

Kafka keeps order per partition only, and delivers at least once. Both appliers keep,
per partition, the position of the last event applied from it, and skip a redelivered
event (at or below its partition's checkpoint). Events of different partitions arrive
in any interleaving, which the views converge under (see the stores' docstrings).

* `PartitionedApplier`: the SQLite views of one machine. Every view change is committed
  in one view transaction together with the checkpoints.
* `ClusterApplier`: the cluster stores (Cassandra, Redis, OpenSearch), which share no
  transaction. A batch's writes go first (OpenSearch's bulk request among them, sent
  while the other views apply), then the batch-end flushes (the Cassandra writes the
  stores staged in their write buffer, `infra/cassandra/write_buffer.py`), then the
  checkpoints (in the cluster profile, with the Redis counters in one script), which
  therefore never pass a write that is not durable. A crash before the
  checkpoints applies the batch again on top of its own partial effects, which the
  stores make harmless (`streams.delivery`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
    threshold; a post is fanned out or not, by the account's mark). Two such events of
    one account applied at the same moment would both read the count before either
    moved it, and miss a crossing; the cluster applier applies them one at a time. That
    holds within one worker; across workers, `TimelinesProjection.settle` decides the
    crossings again after the batch's counters are saved."""
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
    account's follows do not wait for each other's graph and notification writes.

    `staged` names projections whose stores only stage writes (they read nothing), with
    the flush that sends them (search: OpenSearch's bulk request and its refresh, the
    longest wait of a small batch). They are applied to the whole batch first, each
    partition's events in order, and their flush is sent while the other projections
    apply; the batch-end `flushes` and the checkpoints still wait for it."""

    def __init__(self, checkpoints: Checkpoints, bindings: Sequence[Binding],
                 delivery: Delivery, *,
                 publish: Callable[[Sequence[Notice]], None] | None = None,
                 flushes: Sequence[Callable[[], None]] = (),
                 discards: Sequence[Callable[[], None]] = (),
                 threads: int = 8,
                 serialize_by: Callable[[Envelope], str | None] = counted_account,
                 serialized: Collection[str] = ("timelines",),
                 staged: dict[str, Callable[[], None]] | None = None) -> None:
        self.checkpoints, self.bindings, self.delivery = checkpoints, list(bindings), delivery
        self.serialize_by, self.serialized = serialize_by, frozenset(serialized)
        self.publish = publish
        self.staged = dict(staged or {})  # projection name -> the flush of its writes
        self.flushes = list(flushes)      # batch-end writes, in order
        self.discards = list(discards)    # forget what a failed batch staged
        self._pool = ThreadPoolExecutor(max_workers=threads,
                                        thread_name_prefix="apply-partition")

    def apply(self, deliveries: Sequence[Delivered]) -> int:
        outbox: Outbox = []
        try:
            done = self.checkpoints.load()
            stores = [(b.projection, b.store(None, outbox)) for b in self.bindings]
            by_partition = _new_events(deliveries, done)
            staged = [(p, store) for p, store in stores if p.name in self.staged]
            others = [(p, store) for p, store in stores if p.name not in self.staged]
            sending: list[Future[None]] = []
            if staged:
                for partition, events in by_partition.items():
                    self._apply_events(partition, events, staged, None)
                sending = [self._pool.submit(self.staged[p.name]) for p, _ in staged]
            serializer = _Serializer()
            futures = [self._pool.submit(self._apply_events, partition, events, others,
                                         serializer)
                       for partition, events in by_partition.items()]
            # All of them, also when one failed: none may still stage anything once the
            # batch is discarded.
            wait(sending + futures)
            for future in sending + futures:
                future.result()  # raises what failed
            for flush in self.flushes:
                flush()
            self.checkpoints.save({partition: events[-1][0].position
                                   for partition, events in by_partition.items()})
            self._settle([envelope for _, envelope in deliveries], stores)
        except BaseException:
            # Whatever failed, the batch is applied again from its start: nothing it
            # staged may survive into that attempt.
            for discard in self.discards:
                discard()
            raise
        if outbox and self.publish:
            self.publish(outbox)
        return sum(len(events) for events in by_partition.values())

    def _settle(self, delivered: list[Envelope], stores: list[tuple[Any, Any]]) -> None:
        """Once the batch's counters are saved: the projections that decide from counts
        a concurrent worker may have moved decide again from the committed ones
        (`projections.timelines`, "The celebrity mark"). Over every delivered event,
        redeliveries included: a worker that died between the checkpoints and this
        step is delivered the batch again (it was not acknowledged), skips applying it,
        and settles it here. Writes are stamped by the batch's newest position."""
        if not delivered:
            return
        self.delivery.at("settle", max(envelope.position for envelope in delivered))
        for projection, store in stores:
            settle = getattr(projection, "settle", None)
            if settle is not None:
                settle(delivered, store)

    def _apply_events(self, partition: str, events: list[tuple[Envelope, Any]],
                      stores: list[tuple[Any, Any]], serializer: _Serializer | None) -> None:
        for envelope, event in events:
            self.delivery.at(partition, envelope.position)
            key = self.serialize_by(envelope) if serializer is not None else None
            for projection, store in stores:
                if key is not None and projection.name in self.serialized:
                    with serializer.lock(key):  # type: ignore[union-attr]
                        projection.apply(event, envelope, store)
                else:
                    projection.apply(event, envelope, store)


def _new_events(deliveries: Sequence[Delivered],
                done: dict[str, int]) -> dict[str, list[tuple[Envelope, Any]]]:
    """Each partition's events past its checkpoint, in delivery order, decoded; an event
    delivered twice within the batch counts once."""
    by_partition: dict[str, list[tuple[Envelope, Any]]] = {}
    for partition, envelope in deliveries:
        events = by_partition.get(partition)
        last = events[-1][0].position if events else done.get(partition, 0)
        if envelope.position > last:  # else: a redelivery
            event = event_from_data(envelope.event_type, envelope.schema_version,
                                    envelope.data)
            by_partition.setdefault(partition, []).append((envelope, event))
    return by_partition


def watermark(relay_position: int, published: dict[str, int], applied: dict[str, int]) -> int:
    """The log position the views have passed, from positions alone (never the broker's
    end offsets): every event up to the relay's position, except in partitions whose
    consumers have not yet applied everything published to them, where only up to what
    they have applied."""
    behind = [applied.get(partition, 0) for partition, last in published.items()
              if applied.get(partition, 0) < last]
    return min([relay_position, *behind])

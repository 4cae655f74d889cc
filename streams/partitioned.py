"""Applies events delivered per Kafka partition to the views, exactly once each.

Kafka keeps order per partition only, and delivers at least once. Every view change is
committed in one view transaction together with, per partition, the position of the last
event applied from it; a redelivered event (at or below its partition's checkpoint) is
skipped. Events of different partitions arrive in any interleaving, which the views
converge under (see the stores' docstrings). Stores outside the transaction (Cassandra,
OpenSearch, Redis) are written before it commits and must be idempotent: a crash between
the two replays the batch into them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from photoshare.events import Envelope, event_from_data
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.streams.runner import Binding, Notice, Outbox

Delivery = tuple[str, Envelope]  # (partition key "topic:partition", envelope)


class PartitionedApplier:
    def __init__(self, views: ViewDatabase, bindings: Sequence[Binding], *,
                 publish: Callable[[Sequence[Notice]], None] | None = None,
                 flushes: Sequence[Callable[[], None]] = ()) -> None:
        self.views, self.bindings, self.publish = views, list(bindings), publish
        self.flushes = list(flushes)  # batched stores outside the view transaction

    def apply(self, deliveries: Sequence[Delivery]) -> int:
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
            for flush in self.flushes:
                flush()
            ViewDatabase.set_checkpoints(connection, moved)
        if outbox and self.publish:
            self.publish(outbox)
        return applied


def watermark(relay_position: int, published: dict[str, int], applied: dict[str, int]) -> int:
    """The log position the views have passed, from positions alone (never the broker's
    end offsets): every event up to the relay's position, except in partitions whose
    consumers have not yet applied everything published to them, where only up to what
    they have applied."""
    behind = [applied.get(partition, 0) for partition, last in published.items()
              if applied.get(partition, 0) < last]
    return min([relay_position, *behind])

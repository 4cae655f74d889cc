"""What the cluster applier is applying right now, for stores outside a view transaction.

The embedded profile and the SQLite views commit each batch with its checkpoints in one
transaction, so their stores never see an event twice. The cluster stores (Cassandra,
Redis, OpenSearch) share no transaction: after a crash, or while two workers briefly
hold the same partition during a rebalance, an event the checkpoints have not passed is
applied again on top of its own earlier, partial effects. Those stores read this
context to make that safe:

- Cassandra writes carry `USING TIMESTAMP <position>`: a late or replayed write of an
  older event never overrides what a newer event wrote, and a write of the same event
  again writes the same values.
- "Add if absent" answers True when the row there was written by this very event (the
  same position): a replay after a crash finishes what the first attempt started.
- Redis counters are staged with (partition, position) and applied at the end of the
  batch by a script that skips what that partition's counter checkpoint has passed.
- Cassandra writes that nothing later in the batch must find in Cassandra are staged
  in the batch's write buffer (infra/cassandra/write_buffer.py) and flushed, all
  awaited, before the checkpoints: the timestamps make their order of arrival
  irrelevant, and a crash before the flush completes leaves the checkpoints where they
  were, so the batch is applied again (and its writes written again).
"""

from __future__ import annotations

import threading


class Delivery(threading.local):
    """The event being applied: its Kafka partition ("topic:partition") and log position.
    One per applier; the applier sets it before handing each event to the projections.
    Thread-local: the cluster applier applies several partitions at once, one thread
    each, and each thread's stores see their own event."""

    def __init__(self, partition: str = "", position: int = 0) -> None:
        self.partition, self.position = partition, position

    def at(self, partition: str, position: int) -> Delivery:
        self.partition, self.position = partition, position
        return self

    def __repr__(self) -> str:
        return f"Delivery({self.partition!r}, {self.position})"

"""The Cassandra writes of one worker batch, sent together and awaited once.

A cluster worker applies a batch of events, then saves the batch's checkpoints
(`streams.partitioned`). Before this buffer, each event's writes were round trips of
their own, one after another. Every write of the views carries `USING TIMESTAMP
<position of its event>` (`streams.delivery`), so the order in which writes arrive
never matters to what Cassandra keeps: the stores may therefore *stage* the writes that
nothing later in the same batch has to find in Cassandra, and the buffer sends them at
the batch's end, grouped into UNLOGGED batches per replica, all in flight at once, and
waits for every one. The applier calls `flush` before it saves the checkpoints, so the
checkpoints still never pass a write that is not durable; a crash before the flush
completes leaves some of the batch's writes in place and no checkpoint moved, and the
batch applied again writes them all again (the stores' idempotence, as for a crash
half-way through an event).

Read-your-own-batch: a store that reads a row before it writes it (a follow's edge, a
timeline pair) must see what earlier events of the same batch staged for that row, or
two events of one batch on the same key would each act on the state before the batch.
So a store records in the buffer's overlay the row it staged (`remember`), and looks
there before it asks Cassandra (`recall`). The overlay holds the newest staged value
per key (by event position), and is dropped with the batch.

Two phases: writes staged with `last=True` are sent only once every other staged write
is durable. A store whose crash-safety depends on one write landing after the others
(the graph writes a follow's edge, which locates the rows a replay must unlink, last)
stages it that way.

Writes a store must have durable *before* its next read (the Dekker pairs of the
timelines and notifications views, where two workers each write, then read what the
other wrote) are not staged: those stores execute them at once, as before.

Without a buffer (`DirectWrites`) the same store code executes every write at once,
in staging order: for callers outside a worker batch (tests, rebuild tools).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType

Write = tuple[Any, tuple[Any, ...]]  # (prepared statement, parameters)

# Statements per UNLOGGED batch: small enough to stay below Cassandra's batch size
# warning (5 KiB) with the views' rows (~60-150 bytes), large enough to cut the
# requests (and the driver's CPU per request) by an order of magnitude.
GROUP_LIMIT = 32
# Requests in flight at once during a flush (the driver allows far more per connection).
CONCURRENCY = 64

_MISSING = object()


class DirectWrites:
    """Executes each staged write at once (no batch to flush): a store's writes for a
    caller without a worker batch. Recalls nothing."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def stage(self, writes: Sequence[Write], *, last: bool = False,
              once: Iterable[Hashable | None] = ()) -> None:
        if writes:
            execute_concurrent(self.session, list(writes), raise_on_first_error=True)

    def remember(self, key: Hashable, value: Any, position: int) -> None:
        pass

    def recall(self, key: Hashable, default: Any = _MISSING) -> Any:
        return default

    def recall_all(self, prefix: Hashable) -> dict[Hashable, Any]:
        return {}


class WriteBuffer:
    """The staged writes and overlay of one batch at a time (module docstring). Shared
    by the applier's threads: every method is thread-safe."""

    missing = _MISSING

    def __init__(self, session: Session, *, group_limit: int = GROUP_LIMIT,
                 concurrency: int = CONCURRENCY) -> None:
        self.session, self.group_limit, self.concurrency = session, group_limit, concurrency
        self._lock = threading.Lock()
        self._phases: tuple[list[Write], list[Write]] = ([], [])
        self._once: set[Hashable] = set()
        # key -> (position, value); and prefix -> {key: ...} for recall_all
        self._overlay: dict[Hashable, tuple[int, Any]] = {}
        self._by_prefix: dict[Hashable, dict[Hashable, Any]] = {}
        self.flushed_writes = self.flushed_requests = 0  # for benchmarks and tests

    # --- staging ----------------------------------------------------------------------

    def stage(self, writes: Sequence[Write], *, last: bool = False,
              once: Iterable[Hashable | None] = ()) -> None:
        """Queue `writes` for the flush (`last`: in the second phase). `once`, if given,
        names each write (None: no name): a write whose name was staged already in this
        batch is dropped (for rows written identically by many events, such as the
        marks of list buckets)."""
        names = list(once)
        with self._lock:
            phase = self._phases[1 if last else 0]
            for index, write in enumerate(writes):
                name = names[index] if index < len(names) else None
                if name is not None:
                    if name in self._once:
                        continue
                    self._once.add(name)
                phase.append(write)

    def remember(self, key: Hashable, value: Any, position: int) -> None:
        """Record what a staged write makes of row `key` (a tuple whose first item names
        the table), as of the event at `position`: recalled until the batch ends, unless
        an event at a higher position staged another value."""
        with self._lock:
            current = self._overlay.get(key)
            if current is None or current[0] <= position:
                self._overlay[key] = (position, value)
                if isinstance(key, tuple) and len(key) > 2:
                    self._by_prefix.setdefault(key[:2], {})[key] = value

    def recall(self, key: Hashable, default: Any = _MISSING) -> Any:
        """What this batch staged for row `key`, or `default` (then ask Cassandra)."""
        with self._lock:
            found = self._overlay.get(key)
        return default if found is None else found[1]

    def recall_all(self, prefix: Hashable) -> dict[Hashable, Any]:
        """Every row staged under `prefix` (the first two items of the keys: table and
        partition key), key -> value."""
        with self._lock:
            return dict(self._by_prefix.get(prefix, {}))

    # --- the batch's end --------------------------------------------------------------

    def flush(self) -> None:
        """Send everything staged, first phase then second, and return once all of it is
        durable (raises the first failure: the batch is then applied again). The
        overlay is dropped with it: from now on Cassandra holds those rows."""
        with self._lock:
            phases = [list(phase) for phase in self._phases]
            for phase in self._phases:
                phase.clear()
            self._once.clear()
        try:
            for writes in phases:
                if writes:
                    self._send(writes)
        finally:
            with self._lock:
                self._overlay.clear()
                self._by_prefix.clear()

    def discard(self) -> None:
        """Forget what is staged and recalled (a batch that failed is applied again from
        its start)."""
        with self._lock:
            for phase in self._phases:
                phase.clear()
            self._once.clear()
            self._overlay.clear()
            self._by_prefix.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(len(phase) for phase in self._phases)

    def _send(self, writes: list[Write]) -> None:
        requests = [(statement, None) for statement in self._grouped(writes)]
        execute_concurrent(self.session, requests, concurrency=self.concurrency,
                           raise_on_first_error=True)
        self.flushed_writes += len(writes)
        self.flushed_requests += len(requests)

    def _grouped(self, writes: list[Write]) -> list[Any]:
        """The writes bound, and grouped into UNLOGGED batches of at most `group_limit`
        per replica that owns them (by the token-aware policy's first replica), so a
        batch is one request to one node that holds all its rows. Unlogged: none of
        these needs atomicity (the flush is all-or-retry), and a logged batch costs a
        batchlog write."""
        metadata = self.session.cluster.metadata
        groups: dict[Any, list[Any]] = {}
        for statement, parameters in writes:
            bound = statement.bind(parameters)
            replicas = (metadata.get_replicas(bound.keyspace, bound.routing_key)
                        if bound.keyspace and bound.routing_key is not None else [])
            owner = replicas[0].endpoint if replicas else None
            groups.setdefault(owner, []).append(bound)
        requests: list[Any] = []
        for bounds in groups.values():
            for start in range(0, len(bounds), self.group_limit):
                chunk = bounds[start:start + self.group_limit]
                if len(chunk) == 1:
                    requests.append(chunk[0])
                    continue
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for bound in chunk:
                    batch.add(bound)
                requests.append(batch)
        return requests

"""`photoshare worker`: a Faust app whose agent consumes the event topics and applies the
same projection handlers as the embedded runner, through a partitioned applier
(`streams.partitioned`).

Workers form one Kafka consumer group: two workers split the partitions between them, and
when one dies the group rebalances its partitions onto the others. Faust delivers at
least once (offsets are committed after a batch is processed); the per-partition
checkpoints saved with the views make that exactly once in effect.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import faust
from photoshare.events import decode_envelope
from photoshare.infra.crypto.sealing import Sealer
from photoshare.infra.postgres.view_versions import ViewSwitching
from photoshare.infra.settings import Settings
from photoshare.streams.topics import all_topics, partition_key

log = logging.getLogger("photoshare.worker")

# How often a batch held by a view's switch is tried again (the switch itself takes
# about a second: bench/RESULTS.md).
SWITCH_POLL_SECONDS = 0.2


def _scratch_dir() -> str:
    path = tempfile.mkdtemp(prefix="photoshare-worker-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def create_worker_app(settings: Settings, applier: Any, *, keys: Any = None) -> faust.App:
    """`keys`: the key store (infra.crypto.sealing.CachedKeys) the sealed personal fields
    of the published events are opened with; without it the views get them redacted."""
    session = settings.kafka_session_timeout_seconds
    app = faust.App(
        settings.worker_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        # Short timeouts so a replacement worker takes over a dead one's partitions soon.
        broker_session_timeout=session,
        broker_heartbeat_interval=max(session / 10, 0.5),
        broker_rebalance_timeout=max(session / 2, 1.0),
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,   # `photoshare kafka init` makes the topics
        topic_disable_leader=True,   # no Faust-internal leader topic needed
        web_enabled=False,
        store="memory://",
        # Faust makes a directory for its tables even with in-memory ones (by default
        # `<app id>-data` in the working directory): give it one of this process's own.
        datadir=_scratch_dir(),
    )
    topics = app.topic(*all_topics(settings.kafka_topic_prefix), key_type=bytes,
                       value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topics)
    async def project(stream: faust.StreamT) -> None:
        # Our own batching and acknowledgements (not `take_events`, which acknowledges
        # its buffer in a `finally`, also when the batch failed or the worker stopped
        # half-way: a crash test once lost an event that way). Events are read without
        # automatic acks into a bounded queue; `apply_batches` applies whatever has
        # queued up, and acknowledges those events only once the applier returned, i.e.
        # once their writes and checkpoints are durable. Anything not acknowledged is
        # delivered again, which the checkpoints make harmless.
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=settings.worker_batch_size)
        applying = asyncio.create_task(apply_batches(applier, queue,
                                                     settings.worker_batch_size, keys))
        try:
            async for event in stream.noack().events():
                if applying.done():
                    applying.result()  # raise what stopped it
                await queue.put(event)
        finally:
            applying.cancel()

    return app


async def apply_batches(applier: Any, queue: asyncio.Queue[Any], batch_size: int,
                        keys: Any = None) -> None:
    """Apply what the queue holds, up to `batch_size` events at a time: under load the
    batches fill up while the previous one is applied; when quiet, an event is applied
    alone at once (no waiting for a batch to fill)."""
    while True:
        batch = [await queue.get()]
        while len(batch) < batch_size and not queue.empty():
            batch.append(queue.get_nowait())
        deliveries = await asyncio.to_thread(_decode_batch, batch, keys)
        waiting_for_switch = False
        while True:
            try:
                # View writes block; the event loop must keep heartbeating meanwhile.
                await asyncio.to_thread(applier.apply, deliveries)
                break
            except ViewSwitching as switching:
                # Expected, and brief (a rebuilt view is being switched in: the batch
                # must not reach the old version alone): said once, tried again soon.
                if not waiting_for_switch:
                    log.info("holding a batch of %d events while %s", len(deliveries),
                             switching)
                    waiting_for_switch = True
                await asyncio.sleep(SWITCH_POLL_SECONDS)
            except Exception as error:  # a store is down: never skip an event, try again
                log.warning("cannot apply a batch of %d events (positions %d..%d), "
                            "retrying in a second: %s: %s", len(deliveries),
                            deliveries[0][1].position, deliveries[-1][1].position,
                            type(error).__name__, error,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                await asyncio.sleep(1)
        for event in batch:
            event.ack()


def _decode_batch(batch: list[Any], keys: Any) -> list[tuple[str, Any]]:
    """(partition, envelope) of each event, sealed personal fields opened with `keys`
    (a key lookup may query PostgreSQL: off the event loop). A deleted account's key
    leaves this worker's memory as soon as its AccountDeleted is decoded."""
    open_seal = Sealer(keys).open if keys is not None else None
    deliveries = []
    for event in batch:
        envelope = decode_envelope(event.value, open_seal)
        if keys is not None and envelope.event_type == "AccountDeleted":
            keys.forget(envelope.data["user_id"])
        deliveries.append((partition_key(event.message.topic, event.message.partition),
                           envelope))
    return deliveries


class _Worker(faust.Worker):
    """Faust's worker, telling `stopping` as soon as it begins to stop: on SIGTERM or
    SIGINT, and when it stops for any other reason (a crash)."""

    stopping: Callable[[], None] | None = None

    def _schedule_shutdown(self, signal: Any) -> None:
        if self.stopping is not None:
            self.stopping()
        super()._schedule_shutdown(signal)

    def on_worker_shutdown(self) -> None:
        if self.stopping is not None:
            self.stopping()
        super().on_worker_shutdown()


def run_worker(app: faust.App, loglevel: str = "info", *,
               stopping: Callable[[], None] | None = None,
               ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT (Faust's own worker: signal handling, clean leave).

    `stopping` is called when the worker begins to stop. Faust's stop may wait a long
    time for a broker that is gone (a minute per stuck service: its consumer thread
    fails to leave the group and the worker waits for it), so the caller bounds it
    there. `ready` is called once, when the consumer group first gives this worker its
    partitions (none, too, when there are more workers than partitions)."""
    if ready is not None:
        told = False

        def assigned(*_: Any, **__: Any) -> None:
            nonlocal told
            if not told:
                told = True
                ready()

        app.on_partitions_assigned.connect(assigned)
    worker = _Worker(app, loglevel=loglevel.lower().replace("warning", "warn"),
                     redirect_stdouts=False)
    worker.stopping = stopping
    worker.execute_from_commandline()

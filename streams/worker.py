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
from typing import Any

import faust
from photoshare.events import decode_envelope
from photoshare.infra.settings import Settings
from photoshare.streams.topics import all_topics, partition_key

log = logging.getLogger("photoshare.worker")


def _scratch_dir() -> str:
    path = tempfile.mkdtemp(prefix="photoshare-worker-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def create_worker_app(settings: Settings, applier: Any) -> faust.App:
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
        # One event at a time, acknowledged when the loop moves on, i.e. after its view
        # transaction committed. (`take_events` batches were faster, but a crash test lost
        # an event once with them, and that path's bookkeeping is Faust's, not ours.)
        async for event in stream.events():
            delivery = (partition_key(event.message.topic, event.message.partition),
                        decode_envelope(event.value))
            while True:
                try:
                    # View writes block; the event loop must keep heartbeating meanwhile.
                    await asyncio.to_thread(applier.apply, [delivery])
                    break
                except Exception:  # a store is down: never skip the event
                    log.exception("cannot apply position %d from %s; retrying",
                                  delivery[1].position, delivery[0])
                    await asyncio.sleep(1)

    return app


def run_worker(app: faust.App, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT (Faust's own worker: signal handling, clean leave)."""
    worker = faust.Worker(app, loglevel=loglevel.lower().replace("warning", "warn"),
                          redirect_stdouts=False)
    worker.execute_from_commandline()

"""The relay: publishes the event store's ordered log to Kafka, at least once, in order.

Transactional-outbox style: the event store is the outbox. The relay reads a batch after
its recorded position, sends every event to its family's topic keyed by aggregate id,
waits until the broker has acknowledged all of them, and only then records the batch's
last position. A crash therefore republishes at most one batch and never skips an event;
consumers drop the duplicates by position.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from photoshare.events import Envelope, encode_envelope
from photoshare.streams.topics import partition_key, topic_for

log = logging.getLogger("photoshare.relay")

SEND_TIMEOUT_SECONDS = 30


class LogSource(Protocol):
    def read_batch(self, after: int, limit: int) -> tuple[list[Envelope], int]: ...


class SealedLogSource(Protocol):
    def read_batch(self, after: int, limit: int, *,
                   sealed: bool) -> tuple[list[Envelope], int]: ...

    def forget_personal_key(self, user_id: str) -> None: ...


class SealedLog:
    """The log as the relay publishes it: personal fields sealed with their person's
    key (`Envelope.sealed`), never in clear. Kafka keeps the topics forever, and a
    message cannot be erased from them; a seal whose key was destroyed can no longer
    be opened, so a deleted person's data in the topics is gone with the key."""

    def __init__(self, source: SealedLogSource) -> None:
        self.source = source

    def read_batch(self, after: int, limit: int) -> tuple[list[Envelope], int]:
        envelopes, last = self.source.read_batch(after, limit, sealed=True)
        for envelope in envelopes:
            if envelope.event_type == "AccountDeleted":
                # The write side destroys the key right after saving the deletion; should
                # it have crashed in between, the key goes now, before anything is
                # published past the deletion (idempotent).
                self.source.forget_personal_key(envelope.data["user_id"])
        return envelopes, last


class PositionStore(Protocol):
    def load(self) -> tuple[int, dict[str, int]]: ...

    def save(self, position: int, partitions: dict[str, int]) -> None: ...


class Producer(Protocol):
    def send(self, topic: str, *, key: bytes, value: bytes) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


class Relay:
    def __init__(self, source: LogSource, producer: Producer, positions: PositionStore, *,
                 topic_prefix: str, batch_size: int = 1000) -> None:
        self.source, self.producer, self.positions = source, producer, positions
        self.topic_prefix, self.batch_size = topic_prefix, batch_size
        self.position, self.partitions = positions.load()

    def publish_batch(self) -> int:
        """Publish the next batch; how many events were sent (0 and no change: caught up)."""
        envelopes, last = self.source.read_batch(self.position, self.batch_size)
        if last <= self.position:
            return 0
        sent = [(envelope, self.producer.send(
            topic_for(self.topic_prefix, envelope.event_type),
            key=envelope.aggregate_id.encode(), value=encode_envelope(envelope).encode()))
            for envelope in envelopes]
        self.producer.flush(SEND_TIMEOUT_SECONDS)
        partitions = dict(self.partitions)
        for envelope, future in sent:
            metadata = future.get(timeout=SEND_TIMEOUT_SECONDS)  # raises if not acknowledged
            key = partition_key(metadata.topic, metadata.partition)
            partitions[key] = max(partitions.get(key, 0), envelope.position)
        # Only now, with every event acknowledged, is the place recorded.
        self.positions.save(last, partitions)
        self.position, self.partitions = last, partitions
        return len(sent) or 1  # a batch of internal events only still moved the position

    def run(self, stop: threading.Event, *, poll_seconds: float = 0.02,
            ready: Callable[[], None] | None = None,
            wait_for_appends: Callable[[float], None] | None = None) -> None:
        """Publish until `stop` is set; back off and retry the same batch on errors.
        `ready` is called once, after the first batch went through (or found nothing to
        publish): the log and the broker both answered. When caught up, it looks again
        after `poll_seconds`, or as soon as `wait_for_appends(poll_seconds)` returns
        (the event store announcing an append: infra/postgres/log_appends.py)."""
        idle = wait_for_appends or stop.wait
        while not stop.is_set():
            try:
                moved = self.publish_batch()
            except Exception:
                log.exception("relay batch failed; retrying from position %d", self.position)
                stop.wait(1.0)
                continue
            if ready is not None:
                ready()
                ready = None
            if not moved:
                idle(poll_seconds)


def wait_for_lock(try_lock: Callable[[], bool], stop: threading.Event,
                  retry_seconds: float = 2.0, *,
                  standing_by: Callable[[], None] | None = None) -> bool:
    """Block until this relay is the active one (or `stop` is set). `standing_by` is
    called once if another relay holds the lock (this one then works as a standby)."""
    announced = False
    while not stop.is_set():
        if try_lock():
            return True
        if not announced:
            log.info("another relay is active; standing by")
            announced = True
            if standing_by is not None:
                standing_by()
        stop.wait(retry_seconds)
    return False




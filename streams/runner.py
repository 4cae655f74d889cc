"""The in-process projection runner: follows the event store's ordered log and applies
every projection, recording each one's position in the same view transaction.

A crash or restart therefore never loses or double-applies an event: the transaction
either committed the view changes together with the new position, or neither.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from photoshare.events import Envelope, event_from_data
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.base import Projection

log = logging.getLogger("photoshare.runner")


class EventSource(Protocol):
    def read_batch(self, after: int, limit: int) -> tuple[list[Envelope], int]: ...

    def head_position(self) -> int: ...


@dataclass(frozen=True)
class Notice:
    """Something a live client may want to hear about, published after commit."""

    user_id: str
    kind: str
    data: dict[str, Any]


Outbox = list[Notice]
# The cluster applier passes no connection: its stores are outside any transaction.
StoreFactory = Callable[[sqlite3.Connection | None, Outbox], Any]


@dataclass(frozen=True)
class Binding:
    """A projection and how to make its store on a view transaction."""

    projection: Projection[Any]
    store: StoreFactory


class ProjectionRunner:
    """Applies batches of the log to every bound projection, exactly once each."""

    def __init__(self, source: EventSource, views: ViewDatabase, bindings: Sequence[Binding],
                 *, batch_size: int = 500,
                 publish: Callable[[Sequence[Notice]], None] | None = None) -> None:
        self.source, self.views, self.bindings = source, views, list(bindings)
        self.batch_size = batch_size
        self.publish = publish
        stored = views.positions()
        self._positions = {b.projection.name: stored.get(b.projection.name, 0)
                           for b in self.bindings}
        self._lock = threading.Lock()

    @property
    def position(self) -> int:
        """The log position every projection has passed (views reflect all events up to it)."""
        return min(self._positions.values(), default=0)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def refresh_positions(self) -> None:
        """Re-read the committed positions (a rebuild may have switched a view)."""
        stored = self.views.positions()
        self._positions = {name: stored.get(name, 0) for name in self._positions}

    def run_batch(self) -> int:
        """Apply the next batch; the number of log positions it moved past (0: caught up)."""
        with self._lock:
            self.refresh_positions()
            start = self.position
            envelopes, last = self.source.read_batch(start, self.batch_size)
            if last <= start:
                return 0
            self.apply(envelopes, last)
            return last - start

    def apply(self, envelopes: Sequence[Envelope], last: int) -> None:
        """Apply `envelopes` (ending at log position `last`) in one view transaction,
        skipping for each projection what it has already applied."""
        outbox: Outbox = []
        events = [(event_from_data(e.event_type, e.schema_version, e.data), e) for e in envelopes]
        with self.views.transaction() as connection:
            # Positions are read inside the transaction: another process (a rebuild) may
            # have switched a view to a new version with a different position.
            committed = ViewDatabase.read_positions(connection)
            positions = {}
            for binding in self.bindings:
                name = binding.projection.name
                done = committed.get(name, 0)
                positions[name] = max(done, last)
                if last <= done:
                    continue
                store = binding.store(connection, outbox)
                for event, envelope in events:
                    if envelope.position > done:
                        binding.projection.apply(event, envelope, store)
                ViewDatabase.set_position(connection, name, last)
        self._positions.update(positions)
        if outbox and self.publish:
            self.publish(outbox)

    def catch_up(self) -> int:
        """Apply batches until the views have passed the log head; positions moved."""
        moved = 0
        while step := self.run_batch():
            moved += step
        return moved


class BackgroundRunner:
    """Runs a ProjectionRunner on the event loop's thread pool: woken by writes (and by a
    read that waits for a position), and polling as a safety net for writes made by other
    processes (an operator's command, a rebuild switching a view).

    The poll starts every `poll_seconds` and, while passes find nothing new, slows down,
    doubling up to `idle_poll_seconds`; a wake or a pass that moved starts it over. An
    idle server's polls took the GIL from requests twenty times a second (a twentieth
    of a `/healthz` request's throughput, bench/RESULTS.md)."""

    def __init__(self, runner: ProjectionRunner, *, poll_seconds: float = 0.05,
                 idle_poll_seconds: float = 1.0) -> None:
        self.runner = runner
        self.poll_seconds = poll_seconds
        self.idle_poll_seconds = max(idle_poll_seconds, poll_seconds)
        self._wake: asyncio.Event | None = None
        self._advanced: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def position(self) -> int:
        return self.runner.position

    def wake(self) -> None:
        """Ask for a pass now; safe from any thread."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        # Made here, on the loop that will use them (a test may run several loops).
        self._loop = asyncio.get_running_loop()
        self._wake, self._advanced = asyncio.Event(), asyncio.Condition()
        await asyncio.to_thread(self.runner.catch_up)
        self._task = asyncio.create_task(self._run(), name="projection-runner")

    async def stop(self) -> None:
        """Finish the batch in flight (a worker thread cannot be cancelled, and the store
        must not be closed under it), then stop."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            await self._task

    async def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until the views have passed `position`; False if `timeout` ran out first."""
        if self.position >= position:
            return True
        if self._advanced is None:
            return False
        self.wake()
        try:
            async with self._advanced:
                await asyncio.wait_for(
                    self._advanced.wait_for(lambda: self.position >= position), timeout)
        except TimeoutError:
            return self.position >= position
        return True

    async def _run(self) -> None:
        assert self._wake is not None and self._advanced is not None
        wait = self.poll_seconds
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                wait = self.poll_seconds  # woken: writes are coming
            except TimeoutError:
                wait = min(wait * 2, self.idle_poll_seconds)
            self._wake.clear()
            if self._stopping:
                return
            try:
                moved = await asyncio.to_thread(self.runner.catch_up)
            except Exception:
                # Never skip an event: log, back off, and try the same batch again.
                log.exception("projection batch failed; retrying")
                await asyncio.sleep(1)
                continue
            if moved:
                wait = self.poll_seconds
                async with self._advanced:
                    self._advanced.notify_all()

"""How many data exports run at once: one per person, a few per process.

An export reads every row of a person's views and every one of their originals, so it
costs as much as thousands of reads. A second export of the same person while one runs
gains nothing (the same data, twice), and a process streaming many at once would starve
its ordinary reads; either is refused with 429 until one ends. The limits are per read API
process (the cluster's read APIs each keep their own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ExportGate:
    def __init__(self, max_running: int) -> None:
        self.max_running = max_running
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def enter(self, user_id: str) -> Callable[[], None] | None:
        """A release function for a new export of `user_id`, or None when the person's
        export or `max_running` exports already run. Releasing again is a no-op."""
        with self._lock:
            if user_id in self._running or len(self._running) >= self.max_running:
                return None
            self._running.add(user_id)
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                with self._lock:
                    self._running.discard(user_id)

        return release

    def running(self, user_id: str) -> bool:
        with self._lock:
            return user_id in self._running

"""Sliding-window limits, e.g. on failed logins. In-process for the embedded profile."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class FailureLimiter:
    """Counts failures per key within a window; a key over the limit is blocked until its
    oldest failure leaves the window."""

    def __init__(self, *, max_failures: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may try now."""
        with self._lock:
            failures = self._prune(key)
            if len(failures) < self._max:
                return 0.0
            return max(0.0, failures[0] + self._window - self._clock())

    def record_failure(self, key: str) -> None:
        with self._lock:
            self._prune(key).append(self._clock())

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, key: str) -> deque[float]:
        failures = self._failures[key]
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            # Keep memory bounded by the keys that failed recently.
            del self._failures[key]
            failures = self._failures[key]
        return failures

"""Sliding-window limits: failed logins, registrations per address, writes per user.

`WindowLimiter` lives in one process (the embedded profile); `infra.redis.ratelimit`
has the same interface over Redis for the cluster. Each key holds the times of its
recent hits; a key with `max_hits` inside the window is refused until its oldest hit
leaves the window.

Two ways to count. `record` counts what already happened (a failure). `acquire`
checks and counts in one step, so of many concurrent callers exactly as many as the
limit get through; `release` takes back an attempt that turned out not to count (a
login that succeeded).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """The answer of `acquire`: admitted (`retry_after == 0`) and counted under `member`,
    or refused for `retry_after` seconds."""

    key: str
    member: str
    retry_after: float

    @property
    def admitted(self) -> bool:
        return self.retry_after == 0


class WindowLimiter:
    """At most `max_hits` hits per key within `window_seconds`, in this process."""

    def __init__(self, *, max_hits: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_hits
        self._window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may try now."""
        with self._lock:
            return self._wait(self._prune(key))

    def record(self, key: str) -> None:
        """Count a hit that already happened, whatever the limit."""
        with self._lock:
            self._prune(key).append((self._clock(), uuid.uuid4().hex))

    def acquire(self, key: str) -> Attempt:
        """Count a hit if `key` is under the limit; otherwise say how long to wait."""
        with self._lock:
            hits = self._prune(key)
            wait = self._wait(hits)
            if wait > 0:
                return Attempt(key, "", wait)
            member = uuid.uuid4().hex
            hits.append((self._clock(), member))
            return Attempt(key, member, 0.0)

    def release(self, attempt: Attempt) -> None:
        """Take back an admitted attempt (it no longer counts)."""
        if not attempt.admitted:
            return
        with self._lock:
            hits = self._hits.get(attempt.key)
            if hits is None:
                return
            for hit in hits:
                if hit[1] == attempt.member:
                    hits.remove(hit)
                    break
            if not hits:
                del self._hits[attempt.key]

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def close(self) -> None:
        """Nothing to release in one process; here for the same interface as Redis's."""

    def _wait(self, hits: deque[tuple[float, str]]) -> float:
        if len(hits) < self._max:
            return 0.0
        # A positive wait even at the window's very edge: 0 means "admitted".
        return max(1e-6, hits[-self._max][0] + self._window - self._clock())

    def _prune(self, key: str) -> deque[tuple[float, str]]:
        hits = self._hits[key]
        horizon = self._clock() - self._window
        while hits and hits[0][0] <= horizon:
            hits.popleft()
        if not hits:
            # Keep memory bounded by the keys that were hit recently.
            del self._hits[key]
            hits = self._hits[key]
        return hits

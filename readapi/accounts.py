"""Whether a signed token's user has an account, as the views know it.

A token is only issued to a registered user, but a validly signed token can still name
no account (a leaked signing key, and, once accounts can be deleted, a deleted one). The
read API refuses those with 401. The views may lag the log, so an account the views do
not know yet is refused only once they have passed the position the token was issued
at (the log's head at login, when the account surely existed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from photoshare.readapi.services import ReadServices


class KnownAccounts:
    """Answers from the profiles view, remembering accounts seen for `ttl_seconds` (a
    lookup per request would cost more than the rest of a cached read)."""

    def __init__(self, services: ReadServices, *, ttl_seconds: float = 60.0,
                 max_remembered: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._services = services
        self._ttl = ttl_seconds
        self._max = max_remembered
        self._clock = clock
        self._seen: dict[str, float] = {}

    def exists(self, user_id: str, issued_at_position: int) -> bool:
        now = self._clock()
        seen = self._seen.get(user_id)
        if seen is not None and now - seen < self._ttl:
            return True
        if self._services.queries().profiles.by_id(user_id) is not None:
            if len(self._seen) >= self._max:
                self._seen.clear()  # bounded memory; the next lookups refill it
            self._seen[user_id] = now
            return True
        # Not in the views: unknown for sure only once they have passed the token's issue.
        return self._services.consistency.position < issued_at_position

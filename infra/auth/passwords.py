"""Password hashing with argon2id (memory-hard)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")


class PasswordHasher:
    """Hashes and verifies passwords; the cost is a setting so tests can run cheaply."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib)
        # Verifying against this keeps a login for an unknown user as slow as a real one,
        # so response times do not reveal which usernames exist.
        self._dummy_hash = self._argon2.hash("not a real password")

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if `password` matches; always does the full work, even with no hash."""
        try:
            return self._argon2.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class PasswordWorkBusyError(Exception):
    """More password hashes are waiting than the queue holds: try again shortly."""


class PasswordWork:
    """Runs password hashing off the event loop, at most `concurrency` at a time.

    Each argon2 hash holds its whole memory cost (64 MiB by default) while it runs, so
    unbounded concurrent logins or registrations would exhaust the server. At most
    `max_waiting` requests wait for a slot; beyond that `PasswordWorkBusyError` is
    raised at once, for a 503 with Retry-After rather than an ever-longer queue.
    """

    def __init__(self, hasher: PasswordHasher, *, concurrency: int, max_waiting: int) -> None:
        if concurrency < 1 or max_waiting < 0:
            raise ValueError("concurrency must be at least 1 and max_waiting at least 0")
        self._hasher = hasher
        self._slots = anyio.CapacityLimiter(concurrency)
        self._max_waiting = max_waiting

    @property
    def running(self) -> int:
        return int(self._slots.borrowed_tokens)

    @property
    def waiting(self) -> int:
        return self._slots.statistics().tasks_waiting

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._run(self._hasher.verify, password_hash, password)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if self.waiting >= self._max_waiting and self._slots.available_tokens == 0:
            raise PasswordWorkBusyError("too many password checks in progress")
        return await anyio.to_thread.run_sync(function, *args, limiter=self._slots)

"""Password hashing with argon2id (memory-hard)."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


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

"""Revoked access tokens (`DELETE /v1/sessions/current`), checked by both APIs.

A token is stateless until its owner logs out: then its id (`jti`) is kept here until
the token would have expired anyway, and every API refuses it. `infra.sqlite.revocation`
keeps them in a file of the data dir (the embedded profile, or every process of one
machine); `infra.redis.revocation` keeps them in Redis for the cluster.
"""

from __future__ import annotations

from typing import Protocol


class TokenRevocations(Protocol):
    def revoke(self, token_id: str, expires_at: int) -> None:
        """Refuse token `token_id` from now until `expires_at` (Unix seconds)."""

    def is_revoked(self, token_id: str) -> bool: ...

    def close(self) -> None: ...

"""Revoked access tokens in Redis, shared by every API process of the cluster: one key
per token id, expiring when the token itself would have (`infra.auth.revocation`)."""

from __future__ import annotations

import time

import redis


class RedisRevocations:
    def __init__(self, redis_url: str, *, prefix: str, timeout_seconds: float = 2.0) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                                            socket_connect_timeout=timeout_seconds)
        self._prefix = f"{prefix}revoked-token:"

    def revoke(self, token_id: str, expires_at: int) -> None:
        if expires_at > time.time():
            self._client.set(self._prefix + token_id, b"1", exat=expires_at)

    def is_revoked(self, token_id: str) -> bool:
        return bool(self._client.exists(self._prefix + token_id))

    def close(self) -> None:
        self._client.close()

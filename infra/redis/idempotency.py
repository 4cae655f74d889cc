"""Idempotency-Key answers shared by every write API process of the cluster profile, in
Redis (the port and the middleware: `infra/http/idempotency.py`).

One string per key at `{prefix}idempotency:{key}`: first the reservation (`SET NX` with
the lock's time to live), then, replacing it only if it is still this request's, the
answer with the answer's time to live. Each step is one Lua script, so it is atomic.
"""

from __future__ import annotations

import math

import redis
from photoshare.infra.http.idempotency import (
    IdempotencyStore,
    Reservation,
    Reserved,
    StoredAnswer,
    decode_entry,
    encode_entry,
    new_reservation,
    reservation_entry,
)

# ARGV: the reservation's entry, its time to live (ms). Returns what holds the key, or
# nothing when this reservation took it.
_RESERVE = """
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# ARGV: the reservation's entry, the answer's entry, its time to live (ms).
_COMPLETE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# ARGV: the reservation's entry.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisIdempotencyStore(IdempotencyStore):
    """Keys and answers in Redis, expiring by Redis's own clock. Redis errors propagate:
    the middleware then answers 503 rather than run a request it cannot deduplicate."""

    def __init__(self, redis_url: str, *, prefix: str, ttl_seconds: float,
                 lock_seconds: float, timeout_seconds: float = 2.0) -> None:
        super().__init__(ttl_seconds=ttl_seconds, lock_seconds=lock_seconds)
        self._client = redis.Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                                            socket_connect_timeout=timeout_seconds)
        self._namespace = f"{prefix}idempotency:"
        self._reserve = self._client.register_script(_RESERVE)
        self._complete = self._client.register_script(_COMPLETE)
        self._release = self._client.register_script(_RELEASE)

    def reserve(self, key: str, fingerprint: str) -> Reservation:
        reservation = new_reservation(fingerprint)
        current = self._reserve(keys=[self._key(key)],
                                args=[reservation_entry(reservation), _ms(self.lock_seconds)])
        return reservation if current is None else decode_entry(current)

    def complete(self, key: str, reservation: Reserved, answer: StoredAnswer) -> bool:
        done = self._complete(keys=[self._key(key)],
                              args=[reservation_entry(reservation),
                                    encode_entry(reservation.fingerprint, answer=answer),
                                    _ms(self.ttl_seconds)])
        return bool(done)

    def release(self, key: str, reservation: Reserved) -> None:
        self._release(keys=[self._key(key)], args=[reservation_entry(reservation)])

    def close(self) -> None:
        self._client.close()

    def _key(self, key: str) -> str:
        return self._namespace + key


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))

"""Sliding-window limits shared by every process of the cluster profile, in Redis.

Same interface and semantics as `infra.ratelimit.FailureLimiter`: each key's failures
are a sorted set scored by time, pruned to the window. Each operation is one Lua script,
so two processes failing at the same moment cannot both slip under the limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from uuid import uuid4

import redis

# Times are whole microseconds: integers stay exact as Redis scores (doubles) and as
# Lua numbers, and Lua returns integers to the client without truncating anything.
MICROS = 1_000_000

# Shared by both scripts. An empty ARGV[1] means "use the Redis server's clock", so
# processes on different machines agree on time without synchronised clocks.
_NOW_AND_PRUNE = """
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
"""

# ARGV: now (µs or ''), window (µs), window (ms, the key's time to live), member.
# The key lives one window past its newest failure: after that it holds nothing that
# counts, so Redis drops it and memory stays bounded by the keys that failed recently.
_RECORD = _NOW_AND_PRUNE + """
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return now
"""

# ARGV: now (µs or ''), window (µs), max failures. Returns the wait in µs.
_RETRY_AFTER = _NOW_AND_PRUNE + """
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
if not oldest then
  return 0
end
return math.max(0, tonumber(oldest) + window - now)
"""


class RedisFailureLimiter:
    """Counts failures per key within a window, over all processes; a key over the limit
    is blocked until its oldest failure leaves the window.

    Keys live at `{prefix}ratelimit:{name}:{key}`: give each limiter its own `name`
    (say "login-account" and "login-client") so their keys never collide. `clock`
    (seconds) is for tests; by default the Redis server's clock is used. Redis errors
    propagate: whether a login may proceed without its limiter is the caller's call.
    """

    def __init__(self, redis_url: str, *, prefix: str, name: str, max_failures: int,
                 window_seconds: float, clock: Callable[[], float] | None = None,
                 timeout_seconds: float = 2.0) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                                            socket_connect_timeout=timeout_seconds)
        self._namespace = f"{prefix}ratelimit:{name}:"
        self._max = max_failures
        self._window_micros = round(window_seconds * MICROS)
        self._ttl_millis = max(1, math.ceil(window_seconds * 1000))
        self._clock = clock
        self._record = self._client.register_script(_RECORD)
        self._retry_after = self._client.register_script(_RETRY_AFTER)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may try now."""
        micros = self._retry_after(keys=[self._key(key)],
                                   args=[self._now(), self._window_micros, self._max])
        return int(micros) / MICROS

    def record_failure(self, key: str) -> None:
        # A unique member per failure: two failures in the same microsecond both count.
        self._record(keys=[self._key(key)],
                     args=[self._now(), self._window_micros, self._ttl_millis, uuid4().hex])

    def reset(self, key: str) -> None:
        self._client.delete(self._key(key))

    def close(self) -> None:
        self._client.close()

    def _key(self, key: str) -> str:
        return self._namespace + key

    def _now(self) -> int | str:
        return "" if self._clock is None else round(self._clock() * MICROS)

"""Sliding-window limits shared by every process of the cluster profile, in Redis.

Same interface and semantics as `infra.auth.ratelimit.WindowLimiter`: each key's hits
are a sorted set scored by time, pruned to the window. Each operation is one Lua script,
so two processes hitting a key at the same moment cannot both slip under the limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from uuid import uuid4

import redis

from photoshare.infra.auth.ratelimit import Attempt

# Times are whole microseconds: integers stay exact as Redis scores (doubles) and as
# Lua numbers, and Lua returns integers to the client without truncating anything.
MICROS = 1_000_000

# Shared by the scripts. An empty ARGV[1] means "use the Redis server's clock", so
# processes on different machines agree on time without synchronised clocks.
# ARGV[2] is the window in µs, ARGV[3] the most hits. `wait` is how long until the key
# holds fewer than the most hits again (at least 1 µs: 0 means "go ahead").
_NOW_PRUNE_WAIT = """
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local window = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local wait = 0
if count >= most then
  local edge = redis.call('ZRANGE', KEYS[1], count - most, count - most, 'WITHSCORES')[2]
  wait = math.max(1, tonumber(edge) + window - now)
end
"""

# ARGV[4]: the key's time to live (ms), ARGV[5]: a unique member, ARGV[6]: '1' to count
# only under the limit (acquire), '0' to count whatever the limit (record). The key
# lives one window past its newest hit: after that it holds nothing that counts, so
# Redis drops it and memory stays bounded by the keys hit recently.
_HIT = _NOW_PRUNE_WAIT + """
if wait > 0 and ARGV[6] == '1' then
  return wait
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 0
"""

_RETRY_AFTER = _NOW_PRUNE_WAIT + """
return wait
"""


class RedisWindowLimiter:
    """At most `max_hits` hits per key within `window_seconds`, over all processes.

    Keys live at `{prefix}ratelimit:{name}:{key}`: give each limiter its own `name`
    (say "login-account" and "login-client") so their keys never collide. `clock`
    (seconds) is for tests; by default the Redis server's clock is used. Redis errors
    propagate: whether a request may proceed without its limiter is the caller's call.
    """

    def __init__(self, redis_url: str, *, prefix: str, name: str, max_hits: int,
                 window_seconds: float, clock: Callable[[], float] | None = None,
                 timeout_seconds: float = 2.0) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                                            socket_connect_timeout=timeout_seconds)
        self._namespace = f"{prefix}ratelimit:{name}:"
        self._max = max_hits
        self._window_micros = round(window_seconds * MICROS)
        self._ttl_millis = max(1, math.ceil(window_seconds * 1000))
        self._clock = clock
        self._hit = self._client.register_script(_HIT)
        self._retry_after = self._client.register_script(_RETRY_AFTER)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may try now."""
        micros = self._retry_after(keys=[self._key(key)], args=self._args())
        return int(micros) / MICROS

    def record(self, key: str) -> None:
        """Count a hit that already happened, whatever the limit."""
        self._hit(keys=[self._key(key)], args=[*self._args(), self._ttl_millis,
                                               uuid4().hex, "0"])

    def acquire(self, key: str) -> Attempt:
        """Count a hit if `key` is under the limit; otherwise say how long to wait."""
        # A unique member per hit: two hits in the same microsecond both count.
        member = uuid4().hex
        micros = int(self._hit(keys=[self._key(key)],
                               args=[*self._args(), self._ttl_millis, member, "1"]))
        return Attempt(key, member, 0.0) if micros == 0 else Attempt(key, "", micros / MICROS)

    def release(self, attempt: Attempt) -> None:
        """Take back an admitted attempt (it no longer counts)."""
        if attempt.admitted:
            self._client.zrem(self._key(attempt.key), attempt.member)

    def reset(self, key: str) -> None:
        self._client.delete(self._key(key))

    def close(self) -> None:
        self._client.close()

    def _key(self, key: str) -> str:
        return self._namespace + key

    def _args(self) -> list[int | str]:
        now = "" if self._clock is None else round(self._clock() * MICROS)
        return [now, self._window_micros, self._max]

"""Builds the APIs' guards from settings: rate limits, password work, token revocations.

Each is shared by every API process of a deployment when Redis is configured (the
cluster), and kept in this process (limits) or the data dir (revocations) otherwise.
"""

from __future__ import annotations

import os

from photoshare.infra.auth.passwords import PasswordHasher, PasswordWork
from photoshare.infra.auth.ratelimit import WindowLimiter
from photoshare.infra.auth.revocation import TokenRevocations
from photoshare.infra.sqlite.revocation import SqliteRevocations
from photoshare.infra.settings import Settings
from photoshare.writeapi.services import Limiter, WriteLimits

MINUTE, HOUR = 60, 3600


def write_limits(settings: Settings) -> WriteLimits:
    """The write API's limits (README, "Limits"), in Redis when it is configured."""
    login_window = settings.login_failure_window_seconds

    def limiter(name: str, max_hits: int, window_seconds: float) -> Limiter:
        if settings.redis_url:
            from photoshare.infra.redis.ratelimit import RedisWindowLimiter
            return RedisWindowLimiter(settings.redis_url, prefix=settings.redis_prefix,
                                      name=name, max_hits=max_hits,
                                      window_seconds=window_seconds)
        return WindowLimiter(max_hits=max_hits, window_seconds=window_seconds)

    return WriteLimits(
        login_pair=limiter("login-pair", settings.login_max_failures, login_window),
        login_account=limiter("login-account", settings.login_account_attempts_per_minute,
                              MINUTE),
        login_client=limiter("login-client", settings.login_client_max_failures,
                             login_window),
        registrations=limiter("registrations", settings.registrations_per_hour_per_address,
                              HOUR),
        user_writes=limiter("user-writes", settings.user_writes_per_minute, MINUTE),
    )


def password_work(settings: Settings) -> PasswordWork:
    hasher = PasswordHasher(time_cost=settings.password_hash_time_cost,
                            memory_kib=settings.password_hash_memory_kib)
    concurrency = settings.password_hash_concurrency or os.cpu_count() or 2
    return PasswordWork(hasher, concurrency=concurrency,
                        max_waiting=settings.password_hash_max_waiting)


def token_revocations(settings: Settings) -> TokenRevocations:
    """Logged-out tokens: in Redis when configured (every API process shares it), else
    in `revoked_tokens.sqlite3` of the data dir."""
    if settings.redis_url:
        from photoshare.infra.redis.revocation import RedisRevocations
        return RedisRevocations(settings.redis_url, prefix=settings.redis_prefix)
    return SqliteRevocations(settings.data_dir / "revoked_tokens.sqlite3")

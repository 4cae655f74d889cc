"""Tokens, password hashing and the failed-login limiter."""

from __future__ import annotations

import asyncio
import threading
import time

import jwt
import pytest

from photoshare.infra.auth.passwords import PasswordHasher, PasswordWork, PasswordWorkBusyError
from photoshare.infra.auth.ratelimit import WindowLimiter
from photoshare.infra.auth.tokens import InvalidTokenError, TokenService, load_or_create_secret


def test_tokens_verify_only_when_signed_by_us_and_unexpired() -> None:
    service = TokenService("s" * 40, ttl_seconds=60)
    assert service.verify(service.issue("user-1").token) == "user-1"
    expired = service.issue("user-1", now=time.time() - 3600).token
    forged = TokenService("t" * 40, ttl_seconds=60).issue("user-1").token
    unsigned = jwt.encode({"sub": "user-1", "iss": "photoshare", "iat": 0,
                           "exp": time.time() + 60}, None, algorithm="none")
    for bad in (expired, forged, unsigned, "garbage", forged[:-2] + "xx"):
        with pytest.raises(InvalidTokenError):
            service.verify(bad)


def test_the_secret_is_made_once_and_kept_private(tmp_path) -> None:
    path = tmp_path / "d" / "secret_key"
    secret = load_or_create_secret(path)
    assert len(secret) >= 40 and load_or_create_secret(path) == secret
    assert path.stat().st_mode & 0o077 == 0


def test_passwords_are_argon2_and_verify() -> None:
    hasher = PasswordHasher(time_cost=1, memory_kib=1024)
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert hasher.verify(hashed, "correct horse")
    assert not hasher.verify(hashed, "wrong")
    assert not hasher.verify(None, "anything")
    assert not hasher.verify("not-a-hash", "anything")


def test_window_limiter_blocks_then_forgets() -> None:
    now = [1000.0]
    limiter = WindowLimiter(max_hits=2, window_seconds=60, clock=lambda: now[0])
    limiter.record("k")
    assert limiter.retry_after("k") == 0
    limiter.record("k")
    assert limiter.retry_after("k") == pytest.approx(60)
    assert limiter.retry_after("other") == 0
    now[0] += 61
    assert limiter.retry_after("k") == 0
    limiter.record("k")
    limiter.record("k")
    limiter.reset("k")
    assert limiter.retry_after("k") == 0


def test_tokens_without_an_id_are_refused_so_every_token_can_be_revoked() -> None:
    service = TokenService("s" * 40, ttl_seconds=60)
    claims = service.claims(service.issue("user-1").token)
    assert claims.user_id == "user-1" and len(claims.token_id) == 32
    assert claims.expires_at == pytest.approx(time.time() + 60, abs=2)
    old_style = jwt.encode({"sub": "user-1", "iss": "photoshare", "iat": int(time.time()),
                            "exp": int(time.time()) + 60}, "s" * 40, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        service.verify(old_style)


def test_password_work_queues_a_bounded_number_then_says_busy() -> None:
    hasher = PasswordHasher(time_cost=1, memory_kib=1024)
    work = PasswordWork(hasher, concurrency=1, max_waiting=2)
    gate = threading.Event()
    original = hasher.hash
    hasher.hash = lambda password: (gate.wait(10), original(password))[1]  # type: ignore

    async def scenario() -> list[object]:
        tasks = [asyncio.create_task(work.hash(f"p{i}")) for i in range(3)]
        await asyncio.sleep(0.2)  # one runs (held at the gate), two wait
        with pytest.raises(PasswordWorkBusyError):
            await work.hash("one too many")
        gate.set()
        return await asyncio.gather(*tasks)

    hashes = asyncio.run(scenario())
    assert all(str(h).startswith("$argon2id$") for h in hashes)


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    """Verified tokens are remembered, but their expiry still holds to the second."""
    now = [time.time()]
    service = TokenService("s" * 40, ttl_seconds=60, clock=lambda: now[0])
    token = service.issue("user-1", now=now[0]).token
    first = service.claims(token)
    assert service.claims(token) is first  # remembered: not decoded again
    now[0] = first.expires_at - 0.5
    assert service.verify(token) == "user-1"
    now[0] = first.expires_at
    with pytest.raises(InvalidTokenError):
        service.verify(token)
    with pytest.raises(InvalidTokenError):  # and stays refused, forgotten or not
        service.verify(token)


def test_remembered_tokens_are_bounded_and_match_only_their_exact_text() -> None:
    service = TokenService("s" * 40, ttl_seconds=60, max_remembered=3)
    tokens = [service.issue(f"user-{n}").token for n in range(5)]
    assert [service.verify(t) for t in tokens] == [f"user-{n}" for n in range(5)]
    assert len(service._verified) == 3 and tokens[0] not in service._verified
    assert service.verify(tokens[0]) == "user-0"  # forgotten: verified again
    tampered = tokens[1][:-2] + ("AA" if not tokens[1].endswith("AA") else "BB")
    with pytest.raises(InvalidTokenError):
        service.verify(tampered)
    forged = TokenService("t" * 40, ttl_seconds=60).issue("user-1").token
    with pytest.raises(InvalidTokenError):
        service.verify(forged)

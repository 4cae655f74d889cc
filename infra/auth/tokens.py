"""Stateless signed access tokens (JWT, HS256) that the write and read APIs both verify."""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt

ISSUER = "photoshare"
ALGORITHM = "HS256"
# Verified tokens remembered until they expire (the HMAC check and decoding cost more than
# the rest of a cached read, bench/readpath.py). Bounded: at this many, the oldest go.
MAX_REMEMBERED_TOKENS = 10_000


class InvalidTokenError(Exception):
    """Missing, malformed, forged or expired token."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: whose it is, its own id (to revoke it) and its end."""

    user_id: str
    token_id: str
    expires_at: int
    # The log's head when the token was issued: the user's account existed by then.
    position: int = 0


class TokenService:
    """Issues and verifies tokens. A token that verified is remembered (by its exact
    text, signature included, so no other text can match it) until its expiry, so it is
    not verified again on each request; an expired one is refused at once all the same.
    Revocation is not this class's concern: callers check the revocation list on every
    request (`infra.http.web.verified_claims`)."""

    def __init__(self, secret: str, *, ttl_seconds: int,
                 max_remembered: int = MAX_REMEMBERED_TOKENS,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._max_remembered = max_remembered
        self._verified: dict[str, tuple[TokenClaims, float]] = {}  # token: claims, exp
        self._lock = threading.Lock()  # sync routes verify on the thread pool too

    def issue(self, user_id: str, *, position: int = 0,
              now: float | None = None) -> IssuedToken:
        """A token for `user_id`; `position`: the log's head now (see TokenClaims)."""
        issued_at = int(time.time() if now is None else now)
        claims = {"sub": user_id, "iss": ISSUER, "iat": issued_at,
                  "exp": issued_at + self.ttl_seconds, "jti": uuid.uuid4().hex,
                  "pos": position}
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), self.ttl_seconds)

    def verify(self, token: str) -> str:
        """The user id the token was issued to; InvalidTokenError otherwise."""
        return self.claims(token).user_id

    def claims(self, token: str) -> TokenClaims:
        """The verified claims of `token`; InvalidTokenError if it is not one of ours,
        has expired, or lacks an id (tokens from before logout existed)."""
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, expires = remembered
            if self._clock() < expires:  # PyJWT's own rule: valid while now < exp
                return claims
            with self._lock:
                self._verified.pop(token, None)
            raise InvalidTokenError("Signature has expired")
        try:
            decoded = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                                 options={"require": ["sub", "exp", "iat", "iss", "jti"]})
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from None
        subject, token_id, position = decoded["sub"], decoded["jti"], decoded.get("pos", 0)
        if not isinstance(subject, str) or not isinstance(token_id, str) \
                or not isinstance(position, int):
            raise InvalidTokenError("bad subject, token id or position")
        expires = float(decoded["exp"])
        if self._clock() >= expires:  # PyJWT asked the system clock; ours may differ
            raise InvalidTokenError("Signature has expired")
        claims = TokenClaims(subject, token_id, int(expires), position)
        self._remember(token, claims, expires)
        return claims

    def _remember(self, token: str, claims: TokenClaims, expires: float) -> None:
        with self._lock:
            while len(self._verified) >= self._max_remembered:
                del self._verified[next(iter(self._verified))]  # the oldest first
            self._verified[token] = (claims, expires)


def load_or_create_secret(path: Path) -> str:
    """The secret kept in `path`, created (readable by the owner only) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: if two processes race to create it, one wins and the other reads its secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret

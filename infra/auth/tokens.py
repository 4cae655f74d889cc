"""Stateless signed access tokens (JWT, HS256) that the write and read APIs both verify."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

ISSUER = "photoshare"
ALGORITHM = "HS256"


class InvalidTokenError(Exception):
    """Missing, malformed, forged or expired token."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenService:
    def __init__(self, secret: str, *, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: str, *, now: float | None = None) -> IssuedToken:
        issued_at = int(time.time() if now is None else now)
        claims = {"sub": user_id, "iss": ISSUER, "iat": issued_at,
                  "exp": issued_at + self.ttl_seconds}
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), self.ttl_seconds)

    def verify(self, token: str) -> str:
        """The user id the token was issued to; InvalidTokenError otherwise."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"require": ["sub", "exp", "iat", "iss"]})
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from None
        subject = claims["sub"]
        if not isinstance(subject, str):
            raise InvalidTokenError("bad subject")
        return subject


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

"""Stateless signed access tokens (JWT, HS256) that the write and read APIs both verify."""

from __future__ import annotations

import os
import secrets
import time
import uuid
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


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: whose it is, its own id (to revoke it) and its end."""

    user_id: str
    token_id: str
    expires_at: int
    # The log's head when the token was issued: the user's account existed by then.
    position: int = 0


class TokenService:
    def __init__(self, secret: str, *, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

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
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"require": ["sub", "exp", "iat", "iss", "jti"]})
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from None
        subject, token_id, position = claims["sub"], claims["jti"], claims.get("pos", 0)
        if not isinstance(subject, str) or not isinstance(token_id, str) \
                or not isinstance(position, int):
            raise InvalidTokenError("bad subject, token id or position")
        return TokenClaims(subject, token_id, int(claims["exp"]), position)


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

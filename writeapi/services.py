"""What the write API needs, built by the composition root (`infra.roots`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from photoshare.commands import PhotoShareCommands
from photoshare.infra.auth.passwords import PasswordWork
from photoshare.infra.auth.ratelimit import Attempt
from photoshare.infra.auth.revocation import TokenRevocations
from photoshare.infra.auth.tokens import TokenService
from photoshare.infra.media.photo_ingest import ImageIngest


class Limiter(Protocol):
    """A sliding-window limiter: `infra.auth.ratelimit` or `infra.redis.ratelimit`."""

    def retry_after(self, key: str) -> float: ...
    def record(self, key: str) -> None: ...
    def acquire(self, key: str) -> Attempt: ...
    def release(self, attempt: Attempt) -> None: ...
    def reset(self, key: str) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class WriteLimits:
    """The write API's limits (README, "Limits"). Login throttling follows OWASP: a
    pair of account and address is locked after a few failures, so guessing one
    password stops without letting strangers elsewhere lock the owner out; the account
    as a whole is slowed to a few attempts a minute from anywhere; one address is
    stopped after many failures over many accounts (credential stuffing)."""

    login_pair: Limiter       # failures per (account, address)
    login_account: Limiter    # attempts per account, from any address: a slow-down
    login_client: Limiter     # failures per address, over all accounts
    registrations: Limiter    # accounts created per address
    user_writes: Limiter      # writes per signed-in user

    def close(self) -> None:
        for limiter in (self.login_pair, self.login_account, self.login_client,
                        self.registrations, self.user_writes):
            limiter.close()


@dataclass(frozen=True)
class WriteServices:
    commands: PhotoShareCommands
    passwords: PasswordWork
    tokens: TokenService
    revocations: TokenRevocations
    limits: WriteLimits
    images: ImageIngest
    max_upload_bytes: int
    media_url_prefix: str
    # Whether a notification id is one of the user's: the notifications view, asked by
    # the composition root's function (the write side reads no view itself).
    owns_notification: Callable[[str, str], bool]
    after_write: Callable[[], None] = lambda: None  # e.g. wake the projection runner

    def media_url(self, key: str) -> str:
        return f"{self.media_url_prefix}/{key}"

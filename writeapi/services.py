"""What the write API needs, built by the composition root (`infra.bootstrap`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from photoshare.commands import PhotoShareCommands
from photoshare.infra.auth.passwords import PasswordHasher
from photoshare.infra.media.photo_ingest import ImageIngest
from photoshare.infra.auth.ratelimit import FailureLimiter
from photoshare.infra.auth.tokens import TokenService


@dataclass(frozen=True)
class WriteServices:
    commands: PhotoShareCommands
    passwords: PasswordHasher
    tokens: TokenService
    login_failures: FailureLimiter   # per account
    client_failures: FailureLimiter  # per client address, more lenient (shared NATs)
    images: ImageIngest
    max_upload_bytes: int
    media_url_prefix: str
    after_write: Callable[[], None] = lambda: None  # e.g. wake the projection runner

    def media_url(self, key: str) -> str:
        return f"{self.media_url_prefix}/{key}"

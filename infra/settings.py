"""Typed settings, read from `PHOTOSHARE_*` environment variables (CLI flags override)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Every knob of the product. Build one per process (or per test), never at import."""

    model_config = SettingsConfigDict(env_prefix="PHOTOSHARE_", extra="ignore")

    profile: Literal["embedded"] = "embedded"
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Security. Without a secret key the embedded profile makes one in the data dir.
    secret_key: SecretStr | None = None
    token_ttl_seconds: int = Field(24 * 3600, ge=60)
    password_hash_time_cost: int = Field(3, ge=1)
    password_hash_memory_kib: int = Field(64 * 1024, ge=8)
    login_max_failures: int = Field(5, ge=1)
    login_failure_window_seconds: int = Field(15 * 60, ge=1)

    # Requests and photos.
    max_json_body_bytes: int = Field(64 * 1024, ge=1024)
    max_upload_bytes: int = Field(20 * MiB, ge=1024)
    max_image_pixels: int = Field(50_000_000, ge=1)
    image_workers: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    media_url_prefix: str = "/media"

    # Read side.
    timeline_cap: int = Field(800, ge=1)
    celebrity_threshold: int = Field(10_000, ge=0)
    min_position_wait_seconds: float = Field(2.0, ge=0, le=30)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    ready_max_lag_events: int = Field(1000, ge=0)  # /readyz: 503 when projections lag more

    @property
    def event_store_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def views_path(self) -> Path:
        return self.data_dir / "views.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def originals_dir(self) -> Path:
        return self.data_dir / "originals"

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "secret_key"

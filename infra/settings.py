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

    # embedded: one process, no servers. cluster: PostgreSQL event store, Kafka relay,
    # Faust workers and separate API processes (ARCHITECTURE.md §3).
    profile: Literal["embedded", "cluster"] = "embedded"
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs
    # or CIDRs, "*" for any): the client address (login and registration limits key on it)
    # is then the one they forwarded. Empty: nobody's, the connecting address is the client.
    # Behind a reverse proxy (infra/deploy/nginx.conf) it must list the proxy's address.
    forwarded_allow_ips: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # plain: short lines for a person; json: one object per line for log collectors;
    # auto: plain when stderr is a terminal, else json.
    log_format: Literal["auto", "plain", "json"] = "auto"

    # Security. Without a secret key the embedded profile makes one in the data dir.
    secret_key: SecretStr | None = None
    token_ttl_seconds: int = Field(24 * 3600, ge=60)
    password_hash_time_cost: int = Field(3, ge=1)
    password_hash_memory_kib: int = Field(64 * 1024, ge=8)
    # At most this many argon2 hashes run at once (0: one per CPU), each holding its
    # memory cost; beyond that at most `password_hash_max_waiting` wait, others get 503.
    password_hash_concurrency: int = Field(0, ge=0)
    password_hash_max_waiting: int = Field(16, ge=0)
    # Login throttling (README, "Limits"): failures per account and address in the
    # window; attempts per account from anywhere per minute; failures per address.
    login_max_failures: int = Field(5, ge=1)
    login_failure_window_seconds: int = Field(15 * 60, ge=1)
    login_account_attempts_per_minute: int = Field(10, ge=1)
    login_client_max_failures: int = Field(100, ge=1)
    registrations_per_hour_per_address: int = Field(20, ge=1)
    # Every change a signed-in user makes (post, like, follow, comment, ...).
    user_writes_per_minute: int = Field(60, ge=1)

    # Requests and photos.
    max_json_body_bytes: int = Field(64 * 1024, ge=1024)
    max_upload_bytes: int = Field(20 * MiB, ge=1024)
    max_image_pixels: int = Field(50_000_000, ge=1)
    image_workers: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    # Memory the images being processed may hold together, as estimated from their headers
    # before decoding (pixels x bytes per pixel, plus the decoder's and the pipeline's
    # buffers). A third is kept for small images (phone photos, screenshots) so large ones
    # never make a normal upload wait; one image may need at most the other two thirds and
    # never more than 256 MiB, beyond that it is refused (422 image_too_large).
    image_decode_budget_bytes: int = Field(768 * MiB, ge=64 * MiB)
    media_url_prefix: str = "/media"
    # Idempotency-Key on POST (infra/http/idempotency.py): how long an answer is replayed,
    # and how long a request in flight holds its key (a crashed one frees it after that).
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=1)
    idempotency_lock_seconds: int = Field(120, ge=1)

    # Read side.
    timeline_cap: int = Field(800, ge=1)
    celebrity_threshold: int = Field(10_000, ge=0)
    min_position_wait_seconds: float = Field(2.0, ge=0, le=30)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    # Live streams (GET /v1/notifications/stream) one user may hold open at once in one
    # read API process; one more is a 429 until one closes.
    max_streams_per_user: int = Field(5, ge=1)
    # Data exports (GET /v1/users/me/export) one read API process makes at once (one per
    # person in any case); one more is a 429 until one ends.
    max_exports: int = Field(4, ge=1)
    ready_max_lag_events: int = Field(1000, ge=0)  # /readyz: 503 when projections lag more

    # Cluster profile: the servers.
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/photoshare"
    postgres_schema: str = "public"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = "photoshare."
    kafka_partitions: int = Field(12, ge=1, le=10_000)
    kafka_replication_factor: int = Field(1, ge=1)
    kafka_session_timeout_seconds: float = Field(10.0, gt=0)
    worker_group: str = "photoshare-views"
    relay_batch_size: int = Field(1000, ge=1)
    # How long a worker keeps a person's key in memory to open sealed events (a deleted
    # account's key is evicted at once by the worker that sees AccountDeleted; others
    # notice within this time).
    worker_key_cache_seconds: float = Field(10.0, ge=0)
    # Most events a worker applies (and acknowledges) together; a quiet worker applies
    # each event alone at once.
    worker_batch_size: int = Field(500, ge=1, le=100_000)
    # With the cluster stores, how many partitions of a batch a worker applies at once.
    worker_threads: int = Field(16, ge=1, le=256)
    relay_poll_seconds: float = Field(0.02, gt=0)
    redis_url: str | None = None
    redis_prefix: str = "photoshare:"
    cassandra_hosts: str | None = None
    cassandra_keyspace: str = "photoshare"
    cassandra_replication_factor: int = Field(3, ge=1)
    opensearch_url: str | None = None
    opensearch_index_prefix: str = "photoshare-"
    # Refresh after each worker flush, so X-Min-Position reads see their own writes.
    opensearch_refresh_on_flush: bool = True
    s3_endpoint: str | None = None
    s3_bucket: str = "photoshare-media"
    s3_originals_bucket: str = "photoshare-originals"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    # Where the cluster profile's views live (infra/roots/view_stores.py): `cluster` on
    # Cassandra, Redis and OpenSearch; `sqlite` in one file of the data dir shared by
    # every process of one machine; `auto` picks `cluster` when all three are set.
    view_stores: Literal["auto", "sqlite", "cluster"] = "auto"

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

    @property
    def idempotency_path(self) -> Path:
        return self.data_dir / "idempotency.sqlite3"

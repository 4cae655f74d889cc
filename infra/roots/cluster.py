"""The cluster profile's composition root: each role as its own process.

* `create_write_app`: the write API on the PostgreSQL event store (no views, no runner).
* `create_read_app`: the read API on the view stores; how far the views have got comes
  from positions (the relay's row in PostgreSQL and the workers' partition checkpoints),
  never from the broker; live notices arrive from the workers over Redis pub/sub.
* `run_relay`: the event store's log to Kafka.
* `create_worker`: the Faust worker that applies the projections.

Which stores serve the views is chosen by settings (`view_stores`): Cassandra, Redis and
OpenSearch, or, on one machine without them, one SQLite file every process shares. The
API roles sign tokens with `PHOTOSHARE_SECRET_KEY`, which every one of them must share;
they refuse to start without it rather than make a key of their own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from photoshare.infra.media.blobs import BlobStore, FilesystemBlobStore
from photoshare.infra.roots.embedded import (
    WEBAPP_DIR,
    build_write_services,
    install_request_handling,
    open_event_store,
)
from photoshare.infra.crypto.keystores import open_personal_keys
from photoshare.infra.kafka.client import ensure_topics, idempotent_producer
from photoshare.infra.http.metrics import install_metrics
from photoshare.infra.postgres.log_appends import LogAppends
from photoshare.infra.postgres.relay_positions import RelayPositions
from photoshare.infra.settings import Settings
from photoshare.infra.auth.tokens import TokenService
from photoshare.infra.roots.security import token_revocations
from photoshare.infra.roots.view_stores import open_view_stores
from photoshare.infra.http.web import APP_OPTIONS, ApiError, hot_routes_first, install_health
from photoshare.infra.http.webapp import install_webapp
from photoshare.readapi import include_read_api
from photoshare.readapi.accounts import KnownAccounts
from photoshare.readapi.routes.export import export_services
from photoshare.readapi.services import ReadServices
from photoshare.streams.live import LiveBroadcaster
from photoshare.streams.partitioned import watermark
from photoshare.streams.relay import Relay, SealedLog, wait_for_lock
from photoshare.writeapi import include_write_api

log = logging.getLogger("photoshare.cluster")


# --- shared parts --------------------------------------------------------------------

def media_stores(settings: Settings) -> tuple[BlobStore, BlobStore]:
    """(served variants, kept originals): S3 buckets when an endpoint is set, else files
    in the data dir."""
    if settings.s3_endpoint:
        from photoshare.infra.s3.blobs import S3BlobStore

        def bucket(name: str) -> S3BlobStore:
            store = S3BlobStore.from_settings(
                settings.s3_endpoint, name,
                settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
                settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
                settings.s3_region)
            store.ensure_bucket()
            return store

        return bucket(settings.s3_bucket), bucket(settings.s3_originals_bucket)
    return FilesystemBlobStore(settings.media_dir), FilesystemBlobStore(settings.originals_dir)


def live_feed(settings: Settings) -> Any:
    """Live notices across processes (Redis pub/sub); without Redis, notices stay in the
    publishing process, so a separate read API hears none (said at start-up)."""
    if settings.redis_url:
        from photoshare.infra.redis.live_feed import RedisLiveFeed
        return RedisLiveFeed(settings.redis_url, prefix=settings.redis_prefix)
    log.warning("PHOTOSHARE_REDIS_URL is not set: live streams (SSE) get no notices "
                "from the workers")
    return LiveBroadcaster()


class MissingSecretKey(RuntimeError):
    pass


def cluster_token_service(settings: Settings) -> TokenService:
    """Tokens signed with the key every API process shares, from settings only."""
    if settings.secret_key is None:
        raise MissingSecretKey(
            "PHOTOSHARE_SECRET_KEY is not set. Every write and read API process of the "
            "cluster must sign and check tokens with the same key: set it to one random "
            "secret of at least 32 characters for all of them, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'` "
            "(`photoshare up` makes one for its own roles).")
    return TokenService(settings.secret_key.get_secret_value(),
                        ttl_seconds=settings.token_ttl_seconds)


class ViewProgress:
    """How far the views have got in the log, from positions only (ARCHITECTURE.md §4):
    the relay's published position and per-partition positions (PostgreSQL) against the
    workers' partition checkpoints (saved with the views). Polled in the background,
    so `position` is a cheap read for every request."""

    def __init__(self, relay: RelayPositions, checkpoints: Callable[[], dict[str, int]], *,
                 poll_seconds: float = 0.01) -> None:
        self.relay, self.checkpoints, self.poll_seconds = relay, checkpoints, poll_seconds
        self.position = 0
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

    def refresh(self) -> int:
        with self._lock:  # one PostgreSQL connection, shared by threads
            published, partitions = self.relay.load()
        self.published = published
        self.position = watermark(published, partitions, self.checkpoints())
        return self.position

    @property
    def lag(self) -> int:
        """Events published to Kafka that the views have not applied yet."""
        return max(self.published - self.position, 0)

    async def start(self) -> None:
        await asyncio.to_thread(self.refresh)
        self._task = asyncio.create_task(self._poll(), name="view-progress")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # noqa: BLE001 - keep the last known position; log once a while
                log.exception("cannot read the views' progress")
                await asyncio.sleep(1)

    async def wait_for(self, position: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.position < position:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.poll_seconds)
        return True


# --- the roles -----------------------------------------------------------------------

def create_write_app(settings: Settings) -> FastAPI:
    """The write API alone: commands against the PostgreSQL event store."""
    tokens = cluster_token_service(settings)
    commands = open_event_store(settings)
    media, originals = media_stores(settings)
    # Only to check that a notification marked read is the caller's.
    views = open_view_stores(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        commands.close()
        views.close()
        app.state.write.limits.close()
        app.state.revocations.close()

    app = FastAPI(title="photoshare write API", version="0.1.0", lifespan=lifespan,
                  **APP_OPTIONS,  # no per-request OpenTelemetry lookups
                  docs_url=None, redoc_url=None,  # install_api_docs: served locally
                  description="Event-sourced CQRS photo sharing: the write side "
                              "(cluster profile)")
    app.state.settings, app.state.tokens, app.state.media = settings, tokens, media
    app.state.revocations = revocations = token_revocations(settings)
    # The relay polls the log: nothing to wake in this process after a write.
    app.state.write = build_write_services(
        settings, commands, tokens, media, lambda: None, originals=originals,
        revocations=revocations,
        owns_notification=lambda user_id, notification_id: views.queries().notifications.by_id(
            user_id, notification_id) is not None)
    install_request_handling(app, settings, idempotency=True)
    include_write_api(app)

    async def ready() -> bool:
        try:
            await run_in_threadpool(commands.head_position)
        except Exception:  # noqa: BLE001 - any store failure means "not ready"
            return False
        return True

    install_health(app, ready)
    install_metrics(app, images=app.state.write.images)
    hot_routes_first(app)
    return app


def create_read_app(settings: Settings) -> FastAPI:
    """The read API alone: queries on the view stores, live streams from Redis."""
    tokens = cluster_token_service(settings)
    stores = open_view_stores(settings)
    relay = RelayPositions(settings.postgres_dsn)
    progress = ViewProgress(relay, stores.checkpoints)
    live = live_feed(settings)
    media, originals = media_stores(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if isinstance(live, LiveBroadcaster):
            live.bind(asyncio.get_running_loop())
        await progress.start()
        yield
        await progress.stop()
        stores.close()
        relay.close()
        app.state.revocations.close()

    app = FastAPI(title="photoshare read API", version="0.1.0", lifespan=lifespan,
                  **APP_OPTIONS,  # no per-request OpenTelemetry lookups
                  docs_url=None, redoc_url=None,  # install_api_docs: served locally
                  description="Event-sourced CQRS photo sharing: the read side "
                              "(cluster profile)")
    app.state.settings, app.state.media = settings, media
    app.state.tokens = tokens
    app.state.revocations = token_revocations(settings)
    app.state.read = ReadServices(
        queries=stores.queries,
        consistency=progress,
        live=live,
        media_url_prefix=settings.media_url_prefix,
        min_position_wait_seconds=settings.min_position_wait_seconds,
        sse_keepalive_seconds=settings.sse_keepalive_seconds,
        max_streams_per_user=settings.max_streams_per_user,
        # Searches on the cluster's stores mostly wait for OpenSearch: more at once.
        offload_threads=2 if stores.kind == "sqlite" else 16,
        inline_reads=stores.kind == "sqlite",
    )
    app.state.progress = progress
    app.state.accounts = KnownAccounts(app.state.read)  # tokens of no account: 401
    app.state.export = export_services(app.state.read, originals, media,
                                       settings.max_exports)  # the data export
    install_request_handling(app, settings)
    include_read_api(app)

    async def ready() -> bool:
        if progress.lag > settings.ready_max_lag_events:
            raise ApiError(503, "not_ready", f"the views are {progress.lag} events behind "
                           f"the published log (at most {settings.ready_max_lag_events} "
                           "allowed)")
        return True

    install_health(app, ready)
    install_metrics(app)
    install_webapp(app, WEBAPP_DIR)  # last: it never shadows an API path
    hot_routes_first(app)
    return app


def run_relay(settings: Settings, stop: threading.Event,
              ready: Callable[[], None] | None = None) -> None:
    """Publish the log to Kafka until `stop` is set (standing by while another relay
    holds the lock). `ready`: called once it works (published a batch, or stands by)."""
    ensure_topics(settings)
    positions = RelayPositions(settings.postgres_dsn)
    commands = open_event_store(settings)
    try:
        if not wait_for_lock(positions.try_lock, stop, standing_by=ready):
            return
        producer = idempotent_producer(settings)
        # Published sealed: Kafka keeps its topics forever and cannot erase a message.
        relay = Relay(SealedLog(commands), producer, positions,
                      topic_prefix=settings.kafka_topic_prefix,
                      batch_size=settings.relay_batch_size)
        log.info("relay active from position %d", relay.position)
        appends = log_appends_for(settings, commands)
        try:
            relay.run(stop, poll_seconds=settings.relay_poll_seconds, ready=ready,
                      wait_for_appends=appends.wait if appends else None)
        finally:
            if appends:
                appends.close()
            producer.close(timeout=2)  # all acknowledged already: 2 s if the broker is gone
    finally:
        commands.close()
        positions.close()


def log_appends_for(settings: Settings, commands: Any) -> LogAppends | None:
    """The event store's announcements of appends, where it is PostgreSQL's (the relay
    waits on them: infra/postgres/log_appends.py)."""
    channel = getattr(commands.recorder, "channel_name", None)
    if not settings.postgres_dsn or not isinstance(channel, str):
        return None
    return LogAppends(settings.postgres_dsn, channel)


def create_worker(settings: Settings) -> Any:
    """The Faust app of one worker process, applying every projection."""
    from photoshare.streams.worker import create_worker_app

    # A consumer subscribed to topics that do not exist yet gets no partitions and only
    # notices them at its next metadata refresh (minutes): make them first, as the relay
    # does, so a worker started before the relay consumes at once.
    ensure_topics(settings)
    stores = open_view_stores(settings)
    live = live_feed(settings)
    # The workers open the sealed personal fields with the key table of the event
    # database, keeping keys in memory for a few seconds only.
    keys = open_personal_keys(settings, ttl_seconds=settings.worker_key_cache_seconds)
    return create_worker_app(settings, stores.applier(publish=live.publish), keys=keys)

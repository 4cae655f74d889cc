"""The composition root: builds every adapter from settings, inside functions, and wires
them into the apps. Tests build the system through here with their own settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from photoshare.commands import PhotoShareCommands
from photoshare.infra.media.blobs import BlobStore, FilesystemBlobStore
from photoshare.infra.http.metrics import install_metrics
from photoshare.infra.auth.passwords import PasswordHasher
from photoshare.infra.media.photo_ingest import ImageIngest
from photoshare.infra.postgres.event_store import event_store_env
from photoshare.infra.auth.ratelimit import FailureLimiter
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, open_views, view_queries
from photoshare.infra.auth.tokens import TokenService, load_or_create_secret
from photoshare.infra.http.web import (
    ApiError,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    install_error_handlers,
    install_health,
)
from photoshare.infra.http.webapp import install_webapp
from photoshare.readapi import include_read_api
from photoshare.readapi.services import ReadServices
from photoshare.streams.live import LiveBroadcaster
from photoshare.streams.runner import BackgroundRunner, ProjectionRunner
from photoshare.writeapi import DOMAIN_ERROR_STATUS, WriteServices, include_write_api
from photoshare.writeapi.app import UPLOAD_ROUTES

# Room for the multipart framing and form fields around an upload's file bytes.
MULTIPART_OVERHEAD = 64 * 1024
# The web app's static files, served at `/`: `webapp/` beside the photoshare packages (the
# repository root in a checkout; <site-packages>/photoshare/webapp in the image).
WEBAPP_DIR = Path(__file__).resolve().parents[2] / "webapp"


def open_event_store(settings: Settings) -> PhotoShareCommands:
    """The command application: on `eventsourcing`'s PostgreSQL persistence in the cluster
    profile, on its SQLite persistence in the data dir in the embedded one."""
    if settings.profile == "cluster":
        return PhotoShareCommands(env=event_store_env(settings.postgres_dsn,
                                                      settings.postgres_schema))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return PhotoShareCommands(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(settings.event_store_path),
        "SQLITE_LOCK_TIMEOUT": "10",
    })


def token_service(settings: Settings) -> TokenService:
    secret = (settings.secret_key.get_secret_value() if settings.secret_key
              else load_or_create_secret(settings.secret_key_path))
    return TokenService(secret, ttl_seconds=settings.token_ttl_seconds)


def login_limiters(settings: Settings) -> tuple[Any, Any]:
    """Failed-login limits per account and per client: in Redis when it is configured
    (every API process then shares them), else in this process."""
    account, client = settings.login_max_failures, settings.login_max_failures * 10
    window = settings.login_failure_window_seconds
    if settings.redis_url:
        from photoshare.infra.redis.ratelimit import RedisFailureLimiter
        return (RedisFailureLimiter(settings.redis_url, prefix=settings.redis_prefix,
                                    name="login-account", max_failures=account,
                                    window_seconds=window),
                RedisFailureLimiter(settings.redis_url, prefix=settings.redis_prefix,
                                    name="login-client", max_failures=client,
                                    window_seconds=window))
    return (FailureLimiter(max_failures=account, window_seconds=window),
            FailureLimiter(max_failures=client, window_seconds=window))


def build_write_services(settings: Settings, commands: PhotoShareCommands,
                         tokens: TokenService, media: BlobStore,
                         after_write: Callable[[], None], *,
                         originals: BlobStore | None = None) -> WriteServices:
    login_failures, client_failures = login_limiters(settings)
    return WriteServices(
        commands=commands,
        passwords=PasswordHasher(time_cost=settings.password_hash_time_cost,
                                 memory_kib=settings.password_hash_memory_kib),
        tokens=tokens,
        login_failures=login_failures,
        client_failures=client_failures,
        images=ImageIngest(media=media,
                           originals=originals or FilesystemBlobStore(settings.originals_dir),
                           max_pixels=settings.max_image_pixels,
                           workers=settings.image_workers),
        max_upload_bytes=settings.max_upload_bytes,
        media_url_prefix=settings.media_url_prefix,
        after_write=after_write,
    )


def install_request_handling(app: FastAPI, settings: Settings) -> None:
    """Error shapes, body size limits and request ids: the same in every API process."""
    install_error_handlers(app, DOMAIN_ERROR_STATUS)
    upload_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD

    def body_limit(method: str, path: str) -> int:
        return upload_limit if (method, path) in UPLOAD_ROUTES else settings.max_json_body_bytes

    app.add_middleware(BodySizeLimitMiddleware, limit_for=body_limit)
    app.add_middleware(RequestContextMiddleware)  # outermost: every answer gets an id


def create_embedded_app(settings: Settings) -> FastAPI:
    """The embedded profile: write API, read API, projection runner and media in one
    app, data in one dir."""
    commands = open_event_store(settings)
    tokens = token_service(settings)
    media = FilesystemBlobStore(settings.media_dir)
    views = open_views(settings.views_path)
    live = LiveBroadcaster()
    runner = BackgroundRunner(ProjectionRunner(commands, views, bindings(settings),
                                               publish=live.publish))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        live.bind(asyncio.get_running_loop())
        await runner.start()  # catches up with the log before taking requests
        yield
        await runner.stop()
        views.close()
        commands.close()

    app = FastAPI(title="photoshare", version="0.1.0", lifespan=lifespan,
                  description="Event-sourced CQRS photo sharing (embedded profile)")
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.media = media
    app.state.write = build_write_services(settings, commands, tokens, media, runner.wake)
    app.state.read = ReadServices(
        queries=lambda: view_queries(views.reader(), settings),
        consistency=runner,
        live=live,
        media_url_prefix=settings.media_url_prefix,
        min_position_wait_seconds=settings.min_position_wait_seconds,
        sse_keepalive_seconds=settings.sse_keepalive_seconds,
    )
    app.state.runner = runner

    install_request_handling(app, settings)
    include_read_api(app)  # reads first: they are most of the traffic
    include_write_api(app)

    async def ready() -> bool:
        try:
            head = await run_in_threadpool(commands.head_position)
        except Exception:  # noqa: BLE001 - any store failure means "not ready"
            return False
        lag = head - runner.position
        if lag > settings.ready_max_lag_events:
            raise ApiError(503, "not_ready", f"the projections are {lag} events behind the "
                           f"log (at most {settings.ready_max_lag_events} allowed)")
        return True

    install_health(app, ready)
    install_metrics(app, commands=lambda: commands, positions=runner.runner.positions,
                    images=app.state.write.images)  # /metrics: requests, log, projections
    install_webapp(app, WEBAPP_DIR)  # last: it never shadows an API path
    return app

"""The composition root: builds every adapter from settings, inside functions, and wires
them into the apps. Tests build the system through here with their own settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from photoshare.commands import PhotoShareCommands
from photoshare.infra.media.blobs import BlobStore, FilesystemBlobStore
from photoshare.infra.http.apidocs import install_api_docs
from photoshare.infra.http.metrics import install_metrics
from photoshare.infra.media.photo_ingest import ImageIngest
from photoshare.infra.crypto.keystores import open_sealer
from photoshare.infra.postgres.event_store import event_store_env
from photoshare.infra.postgres.schema import schema_lock
from photoshare.infra.auth.revocation import TokenRevocations
from photoshare.infra.roots.security import password_work, token_revocations, write_limits
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import (
    bindings,
    open_views,
    thread_view_queries,
    view_queries,
)
from photoshare.infra.sqlite.viewdb import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, make_private_sqlite_file
from photoshare.infra.auth.tokens import TokenService, load_or_create_secret
from photoshare.infra.http.web import (
    APP_OPTIONS,
    ApiError,
    HotRouteMiddleware,
    RequestPassMiddleware,
    hot_routes_first,
    install_error_handlers,
    install_health,
    size_text,
    too_large_message,
)
from photoshare.infra.http.idempotency import (
    IdempotencyMiddleware,
    IdempotencyStore,
    document_idempotency_key,
)
from photoshare.infra.sqlite.idempotency import SqliteIdempotencyStore
from photoshare.infra.http.redirects import install_relative_slash_redirects
from photoshare.infra.http.webapp import install_webapp
from photoshare.readapi import include_read_api
from photoshare.readapi.accounts import KnownAccounts
from photoshare.readapi.routes.export import export_services
from photoshare.readapi.services import ReadServices
from photoshare.streams.live import LiveBroadcaster
from photoshare.streams.runner import BackgroundRunner, ProjectionRunner
from photoshare.writeapi import DOMAIN_ERROR_STATUS, WriteServices, include_write_api
from photoshare.writeapi.app import UPLOAD_ROUTES

# Room for the multipart framing and form fields around an upload's file bytes.
MULTIPART_OVERHEAD = 64 * 1024
# POSTs whose answers are never kept for Idempotency-Key: a log-in appends nothing, and
# its answer is a bearer token, which must not sit in Redis or a file for a day.
UNKEPT_POSTS = frozenset({"/v1/sessions"})
# The web app's static files, served at `/`: `webapp/` beside the photoshare packages (the
# repository root in a checkout; <site-packages>/photoshare/webapp in the image).
WEBAPP_DIR = Path(__file__).resolve().parents[2] / "webapp"


def open_event_store(settings: Settings) -> PhotoShareCommands:
    """The command application: on `eventsourcing`'s PostgreSQL persistence in the cluster
    profile, on its SQLite persistence in the data dir in the embedded one."""
    if settings.profile == "cluster":
        sealer = open_sealer(settings)  # makes its own table: outside the lock below
        # `eventsourcing` makes the tables if missing; two roles opening a new database
        # at once both tried, and PostgreSQL refused one (`duplicate key ...
        # pg_type_typname_nsp_index`, or `tuple concurrently updated`): one at a time.
        with schema_lock(settings.postgres_dsn):
            return PhotoShareCommands(env=event_store_env(settings.postgres_dsn,
                                                          settings.postgres_schema),
                                      sealer=sealer)
    make_data_dir_private(settings)
    make_private_sqlite_file(settings.event_store_path)  # before SQLite opens it
    # Personal fields are sealed with per-person keys kept in the same file (crypto-
    # shredding: infra.crypto.sealing).
    return PhotoShareCommands(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(settings.event_store_path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }, sealer=open_sealer(settings))


def make_data_dir_private(settings: Settings) -> None:
    """Create the data dir 0700, or tighten one an older version made looser, and the secret
    key to 0600: they hold password hashes, emails and originals with GPS positions. The
    SQLite files and the blob stores tighten their own files and directories."""
    settings.data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    for path, mode in ((settings.data_dir, PRIVATE_DIR_MODE),
                       (settings.secret_key_path, PRIVATE_FILE_MODE)):
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(mode)
        except FileNotFoundError:
            pass
        except PermissionError:  # not ours (a mounted volume): say so, go on
            logging.getLogger("photoshare").warning(
                "cannot make %s private (mode %o): permission denied", path, mode)


def token_service(settings: Settings) -> TokenService:
    secret = (settings.secret_key.get_secret_value() if settings.secret_key
              else load_or_create_secret(settings.secret_key_path))
    return TokenService(secret, ttl_seconds=settings.token_ttl_seconds)


def build_write_services(settings: Settings, commands: PhotoShareCommands,
                         tokens: TokenService, media: BlobStore,
                         after_write: Callable[[], None], *,
                         originals: BlobStore | None = None,
                         revocations: TokenRevocations,
                         owns_notification: Callable[[str, str], bool]) -> WriteServices:
    return WriteServices(
        commands=commands,
        owns_notification=owns_notification,
        passwords=password_work(settings),
        tokens=tokens,
        revocations=revocations,
        limits=write_limits(settings),
        images=ImageIngest(media=media,
                           originals=originals or FilesystemBlobStore(settings.originals_dir),
                           max_pixels=settings.max_image_pixels,
                           workers=settings.image_workers,
                           decode_budget_bytes=settings.image_decode_budget_bytes),
        max_upload_bytes=settings.max_upload_bytes,
        media_url_prefix=settings.media_url_prefix,
        after_write=after_write,
    )


def idempotency_store(settings: Settings) -> IdempotencyStore:
    """Answers kept for Idempotency-Key retries: in Redis when it is configured (every
    write API process then shares them), else in `idempotency.sqlite3` of the data dir."""
    ttl, lock = settings.idempotency_ttl_seconds, settings.idempotency_lock_seconds
    if settings.redis_url:
        from photoshare.infra.redis.idempotency import RedisIdempotencyStore
        return RedisIdempotencyStore(settings.redis_url, prefix=settings.redis_prefix,
                                     ttl_seconds=ttl, lock_seconds=lock)
    return SqliteIdempotencyStore(settings.idempotency_path, ttl_seconds=ttl,
                                  lock_seconds=lock)


def install_request_handling(app: FastAPI, settings: Settings, *,
                             idempotency: bool = False) -> None:
    """Error shapes, body size limits, request ids and the API docs (`/docs`, `/redoc`,
    from the package's own assets): the same in every API process; with `idempotency`
    (the apps that write), Idempotency-Key on POST. Build the app with `docs_url=None,
    redoc_url=None`."""
    install_error_handlers(app, DOMAIN_ERROR_STATUS)
    install_api_docs(app)
    install_relative_slash_redirects(app)  # Location: /path, never the Host header
    upload_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD

    def body_limit(method: str, path: str) -> int:
        return upload_limit if (method, path) in UPLOAD_ROUTES else settings.max_json_body_bytes

    def too_large(method: str, path: str) -> str:
        # An upload's limit is the file's (the docs' "20 MB"), not file plus form framing.
        if (method, path) in UPLOAD_ROUTES:
            return f"the file is larger than the limit of {size_text(settings.max_upload_bytes)}"
        return too_large_message(settings.max_json_body_bytes)

    if idempotency:  # inside the body limit: it reads bodies whole
        app.add_middleware(IdempotencyMiddleware, store=idempotency_store(settings),
                           unkept_paths=UNKEPT_POSTS)
        document_idempotency_key(app, UNKEPT_POSTS)
    app.add_middleware(HotRouteMiddleware, fastapi_app=app)  # inside the request pass
    # Outermost: every answer gets an id; `install_metrics` adds its timing to the list.
    app.state.request_observers = []
    app.add_middleware(RequestPassMiddleware, limit_for=body_limit, message_for=too_large,
                       observers=app.state.request_observers)


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
        app.state.write.limits.close()
        app.state.revocations.close()

    app = FastAPI(title="photoshare", version="0.1.0", lifespan=lifespan,
                  **APP_OPTIONS,  # no per-request OpenTelemetry lookups
                  docs_url=None, redoc_url=None,  # install_api_docs: served locally
                  description="Event-sourced CQRS photo sharing (embedded profile)")
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.revocations = revocations = token_revocations(settings)
    app.state.media = media
    app.state.write = build_write_services(
        settings, commands, tokens, media, runner.wake, revocations=revocations,
        owns_notification=lambda user_id, notification_id: view_queries(
            views.reader(), settings).notifications.by_id(user_id, notification_id) is not None)
    app.state.read = ReadServices(
        queries=thread_view_queries(views, settings),
        consistency=runner,
        live=live,
        media_url_prefix=settings.media_url_prefix,
        min_position_wait_seconds=settings.min_position_wait_seconds,
        sse_keepalive_seconds=settings.sse_keepalive_seconds,
        max_streams_per_user=settings.max_streams_per_user,
    )
    app.state.runner = runner
    app.state.accounts = KnownAccounts(app.state.read)  # tokens of no account: 401
    app.state.export = export_services(app.state.read, FilesystemBlobStore(
        settings.originals_dir), media, settings.max_exports)  # the data export

    install_request_handling(app, settings, idempotency=True)
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
    hot_routes_first(app)
    return app

"""HTTP plumbing both APIs share: the error shape, request ids, body limits, bearer auth,
and health endpoints. Routes raise `ApiError` or domain errors; nothing here knows a route.
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photoshare.infra.logs import correlation_id
from photoshare.infra.auth.tokens import InvalidTokenError, TokenClaims, TokenService

log = logging.getLogger("photoshare.http")

# FastAPI's native OpenTelemetry (in the FastAPI versions that have it) looks for global
# providers on every request; photoshare exports Prometheus metrics and JSON logs
# instead, so its apps are built with it off: `FastAPI(..., **APP_OPTIONS)`.
APP_OPTIONS: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})

REQUEST_ID_HEADER = "X-Request-ID"
EVENT_POSITION_HEADER = "X-Event-Position"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Request ids are correlation ids, not secrets: drawn from a generator seeded from the OS
# once per process (again in a forked child), not `uuid.uuid4()`'s system call for every
# request (a sixth of a `/healthz` request's CPU under load, py-spy, bench/RESULTS.md).
_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))
_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_BITS = (4 << 76) | (2 << 62)  # version 4, RFC 4122 variant


def new_request_id() -> str:
    """A fresh id in a version-4 UUID's form (what `uuid.uuid4()` gives), at half its
    cost."""
    digits = "%032x" % ((_ids.getrandbits(128) & _UUID4_MASK) | _UUID4_BITS)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class ApiError(Exception):
    """An error answer in the API's shape: {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str,
                   headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


# --- exception handlers ---------------------------------------------------------------


async def _api_error(_: Request, error: ApiError) -> JSONResponse:
    return error_response(error.status, error.code, error.message, error.headers)


async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    # Say where and what, but never echo the input back.
    details = [{"field": ".".join(str(part) for part in p.get("loc", ())[1:]) or "body",
                "message": p.get("msg", "invalid")} for p in problems[:20]]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    return error_response(422, "validation_error", summary, details=details)


async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
    message = error.detail if isinstance(error.detail, str) else "request failed"
    return error_response(error.status_code, codes.get(error.status_code, "http_error"),
                          message, getattr(error, "headers", None))


async def _unexpected_error(_: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "something went wrong on our side")


def install_error_handlers(app: FastAPI, domain_errors: Mapping[type[Exception], int]) -> None:
    """Make every error leave in the API's shape; `domain_errors` maps classes to status."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

    async def domain_error(_: Request, error: Exception) -> JSONResponse:
        status = next(s for cls, s in domain_errors.items() if isinstance(error, cls))
        return error_response(status, getattr(error, "code", "error"), str(error))

    for cls in domain_errors:
        app.add_exception_handler(cls, domain_error)


# --- middleware -----------------------------------------------------------------------


RequestObserver = Callable[[Scope, int, float], None]


class RequestPassMiddleware:
    """Everything every request needs, in one pure ASGI pass (a layer per concern cost
    more than the concerns themselves on a fast read, bench/readpath.py):

    - takes the client's X-Request-ID (if well-formed) or makes one, exposes it to logs
      and events through `infra.logs.correlation_id`, echoes it, and writes one access-log
      line (at INFO);
    - gives authenticated answers `Cache-Control: private, no-store` unless they set one;
    - refuses bodies over a limit with 413 before they are read into memory: at once when
      Content-Length says so, otherwise as soon as the streamed bytes pass the limit.
      `limit_for(method, path)` gives the limit for a request, `message_for(method, path)`
      what the 413 says (by default the limit in MB or KB);
    - tells each of `observers` (the metrics' timing, added later by `install_metrics`)
      of the finished request: its scope (with the route that matched), status, seconds.
    """

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str, str], int],
                 message_for: Callable[[str, str], str] | None = None,
                 observers: list[RequestObserver] | None = None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.message_for = message_for or (lambda method, path:
                                           too_large_message(limit_for(method, path)))
        self.observers = observers if observers is not None else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = authorization = declared = None
        for key, value in scope.get("headers", ()):  # the first of each, as Starlette reads them
            if key == b"x-request-id":
                supplied = value.decode("latin-1") if supplied is None else supplied
            elif key == b"authorization":
                authorization = value if authorization is None else authorization
            elif key == b"content-length":
                declared = value.decode("latin-1") if declared is None else declared
        request_id = supplied if supplied and _REQUEST_ID.match(supplied) else new_request_id()
        id_header = (b"x-request-id", request_id.encode())
        token = correlation_id.set(request_id)
        # What a signed-in person sees is theirs: no shared cache may keep it, and no
        # browser cache either (a shared computer after logout).
        private = (authorization is not None
                   or b"access_token=" in scope.get("query_string", b""))
        status, received, exceeded, responded = 500, 0, False, False

        async def send_out(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                headers = [*message.get("headers", ()), id_header]
                if private and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"private, no-store"))
                message["headers"] = headers
            await send(message)

        async def guarded_send(message: Message) -> None:
            if not exceeded:  # whatever the app made of a cut-off body, the answer is 413
                await send_out(message)

        method, path = scope["method"], scope["path"]
        limit = self.limit_for(method, path)

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        try:
            if declared is not None and not declared.isdigit():
                await error_response(400, "bad_request", "invalid Content-Length")(
                    scope, receive, send_out)
            elif declared is not None and int(declared) > limit:
                await _too_large(self.message_for(method, path))(scope, receive, send_out)
            else:
                try:
                    await self.app(scope, counting_receive, guarded_send)
                except Exception:
                    if not exceeded:
                        raise
                if exceeded and not responded:
                    await _too_large(self.message_for(method, path))(scope, receive, send_out)
        finally:
            elapsed = time.perf_counter() - started
            for observe in self.observers:
                observe(scope, status, elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info("request", extra={"method": method, "path": path, "status": status,
                                           "duration_ms": round(elapsed * 1000, 2)})
            correlation_id.reset(token)


class HotRouteMiddleware:
    """Serves a GET that a route with a fast path (`readapi.routing.ReadRoute`: the reads
    and health checks) takes straight from that route, without the layers between the
    app's middleware and the route (exception middleware, exit stacks, the router's
    scan, FastAPI's request wrapper): a third of a `/healthz` request.

    The route is the one the router would pick (the first in order whose path matches
    and that takes GET); the scope gets what the router would give it (`route`,
    `endpoint`, `path_params`), and an exception is answered by the app's handler for
    it, as the exception middleware would (any other goes up to the server-error
    handler, as before). Anything else, or a request the route finds out of the
    ordinary, goes down the usual way."""

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app, self.fastapi_app = app, fastapi_app
        self._table: list[tuple[Any, Any]] = []
        self._table_for: tuple[int, int] | None = None

    def _routes(self) -> list[tuple[Any, Any]]:
        """(path regex, route) of the routes that take GET, in the router's order, up to
        the first route of a kind this cannot match as the router does (a mount)."""
        routes = self.fastapi_app.router.routes
        if self._table_for != (id(routes), len(routes)):  # built once routes are set
            table = []
            for route in routes:
                if not isinstance(route, (Route, APIRoute)):
                    break
                if route.methods is None or "GET" in route.methods:
                    table.append((route.path_regex, route))
            self._table, self._table_for = table, (id(routes), len(routes))
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        table = self._routes()
        path = scope["path"]
        match = route = None
        for regex, candidate in table:
            match = regex.match(path)
            if match:
                route = candidate
                break
        serve = getattr(route, "fast_serve", None)
        if serve is None:
            await self.app(scope, receive, send)
            return
        params = match.groupdict()
        for name, value in params.items():
            params[name] = route.param_convertors[name].convert(value)
        scope["route"], scope["endpoint"] = route, route.endpoint
        scope["path_params"] = {**scope.get("path_params", {}), **params}
        request = Request(scope, receive, send)
        try:
            response = await serve(request)
        except Exception as error:
            handler = self._handler_for(error)
            if handler is None:
                raise
            response = await handler(request, error)
        if response is None:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _handler_for(self, error: Exception) -> Any:
        handlers = self.fastapi_app.exception_handlers
        for cls in type(error).__mro__:
            if cls is Exception:  # the server-error handler's, further out
                return None
            if cls in handlers:
                return handlers[cls]
        return None


class _BodyTooLarge(Exception):
    pass


def size_text(size: int) -> str:
    """A size as people and the docs say it: `20 MB`, `64 KB` (binary units, as the web
    app's "up to 20 MB"), `512 bytes`."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def too_large_message(limit: int) -> str:
    return f"the request body is larger than the limit of {size_text(limit)}"


def _too_large(message: str) -> JSONResponse:
    return error_response(413, "payload_too_large", message)


def include_routes(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s routes to `app` as the app's own routes. FastAPI's `include_router`
    keeps an included router as one nested route that the app matches through a costly
    indirection on every request (half of a `/healthz` request with thirteen routers,
    bench/readpath.py); our routers have no prefix, dependencies or callbacks of their
    own, so their routes serve the same taken as they are (the OpenAPI is the same)."""
    if router.prefix or router.dependencies or router.callbacks:
        app.include_router(router)
        return
    app.router.routes.extend(router.routes)


def hot_routes_first(app: FastAPI) -> None:
    """Order the app's routes for the router's first-match scan: health checks first
    (load balancers call them all the time), then the API in its own order, then the
    rest (docs, metrics, web app). Only classes whose paths cannot overlap move past each
    other, so every request matches the route it matched before."""
    if any(getattr(route, "path", "").startswith("/{") for route in app.router.routes):
        return  # a catch-all at the top level: keep the order as it is

    def rank(route: Any) -> int:
        path = getattr(route, "path", "")
        return 0 if path in ("/healthz", "/readyz") else 1 if path.startswith("/v1/") else 2

    app.router.routes.sort(key=rank)  # stable: the order within each class stays


# --- authentication -------------------------------------------------------------------


def bearer_token(request: Request) -> str:
    """The bearer token of the request; 401 if there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "missing_token", "an Authorization: Bearer token is required",
                       {"WWW-Authenticate": "Bearer"})
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "the Authorization header must be 'Bearer <token>'",
                       {"WWW-Authenticate": "Bearer"})
    return token.strip()


def verified_claims(request: Request, token: str) -> TokenClaims:
    """The claims of `token`; 401 if it is not valid or was revoked (logged out)."""
    tokens: TokenService = request.app.state.tokens
    try:
        claims = tokens.claims(token)
    except InvalidTokenError:
        raise ApiError(401, "invalid_token", "the token is invalid or has expired",
                       {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    if request.app.state.revocations.is_revoked(claims.token_id):
        raise ApiError(401, "invalid_token", "the token was revoked (logged out)",
                       {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    accounts = getattr(request.app.state, "accounts", None)  # the read side's check
    if accounts is not None and not accounts.exists(claims.user_id, claims.position):
        raise ApiError(401, "unknown_actor", "the token's account does not exist",
                       {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return claims


def verified_user_id(request: Request, token: str) -> str:
    """The id of the user `token` was issued to; 401 if it is not valid."""
    return verified_claims(request, token).user_id


async def current_user_id(request: Request) -> str:
    """The authenticated user (a dependency without sub-dependencies: each one costs)."""
    return verified_user_id(request, bearer_token(request))


async def current_claims(request: Request) -> TokenClaims:
    return verified_claims(request, bearer_token(request))


CurrentClaims = Annotated[TokenClaims, Depends(current_claims)]
CurrentUserId = Annotated[str, Depends(current_user_id)]


# --- health ---------------------------------------------------------------------------


def install_health(app: FastAPI, ready: Callable[[], Awaitable[bool]]) -> None:
    """`/healthz`: the process serves. `/readyz`: its stores answer (`ready()`). Both on
    the read routes' fast path: load balancers ask all the time."""
    from photoshare.readapi.routing import JSONBody, ReadRoute  # it imports this module

    serving = JSONBody({"status": "ok"})  # the same bytes every time: made once

    async def healthz() -> dict[str, str]:
        return serving  # type: ignore[return-value] - a Response is served as it is

    async def readyz() -> JSONResponse:
        if await ready():
            return JSONResponse({"status": "ready"})
        return error_response(503, "not_ready", "a backing store is not answering")

    for path, endpoint in (("/healthz", healthz), ("/readyz", readyz)):
        app.router.add_api_route(path, endpoint, methods=["GET"], tags=["health"],
                                 route_class_override=ReadRoute)

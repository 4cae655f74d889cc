"""The read routes' fast path.

A read is a few sub-millisecond SQLite queries, so FastAPI's default handling costs more
than the work: a thread-pool hop for a sync endpoint, solving the dependency graph, and
validating and re-encoding the returned dict through pydantic. `ReadRoute` runs a sync
endpoint inline on the event loop and writes its dict straight out as JSON (orjson). An
endpoint whose queries can be slow (search ranks every match) is marked `@offload` and
still runs in the thread pool, and so does every endpoint where the views are servers
(`ReadServices.inline_reads`: the cluster's Cassandra round trips must not stall the loop).

Its parameters are resolved by hand when they are all of the kinds the read routes use
(path parameters, bounded text queries, and the dependencies `current_user_id`,
`optional_viewer`, `consistent_services`, `page_request`, `get_services`). The hand
resolution does what those dependencies do, in the same order, so the answers and errors
are the same; for anything out of the ordinary (a `limit` that is not plain digits, a
query out of bounds, a repeated parameter) it steps aside before doing anything, and
FastAPI's own handling answers, with its validation errors. The OpenAPI still comes from
the endpoints' signatures.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import orjson
from annotated_types import MaxLen, MinLen
from fastapi.params import Depends, Query
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from photoshare.infra.http.web import bearer_token, current_user_id, verified_user_id
from photoshare.readapi import deps
from photoshare.readapi.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_CHARS,
    MAX_LIMIT,
    PageRequest,
    decode_cursor,
    page_request,
)


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # The same JSON as json.dumps(ensure_ascii=False, separators=(",", ":")).
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


_SUB_RESPONSE = "dependency_response"
_REQUEST = "fast_path_request"  # the request, for where the endpoint runs
# False: every read goes through FastAPI's own handling (the test that both answer alike
# flips it; so can anyone who suspects the fast path).
FAST_PATH = True


def offload(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Run this endpoint in the thread pool: its queries may take a while."""
    endpoint.offload = True  # type: ignore[attr-defined]
    return endpoint


# At most this many offloaded endpoints run at once in a process on SQLite views (the
# others wait their turn, without a thread): with the pool's default of 40, 32 concurrent
# searches were 32 threads taking the GIL from each other and from the event loop that
# serves every other request, and the whole process slowed. SQLite runs without the GIL,
# so two threads keep two cores busy. The cluster read API, whose threads mostly wait for
# OpenSearch and Cassandra, allows more (`ReadServices.offload_threads`).
OFFLOAD_THREADS = 2
# The limiters of each event loop, by size (a limiter belongs to the loop it first waits
# on; tests run one loop per app).
_offload_limiters: weakref.WeakKeyDictionary[Any, dict[int, anyio.CapacityLimiter]] = \
    weakref.WeakKeyDictionary()


async def run_offloaded(endpoint: Callable[..., Any], threads: int = OFFLOAD_THREADS,
                        /, **kwargs: Any) -> Any:
    """`endpoint(**kwargs)` in a worker thread, at most `threads` of them at once."""
    limiters = _offload_limiters.setdefault(asyncio.get_running_loop(), {})
    limiter = limiters.get(threads)
    if limiter is None:
        limiter = limiters[threads] = anyio.CapacityLimiter(threads)
    return await anyio.to_thread.run_sync(functools.partial(endpoint, **kwargs),
                                          limiter=limiter)


async def _call(endpoint: Callable[..., Any], threaded: bool, request: Request,
                **kwargs: Any) -> Any:
    """A sync endpoint's answer: in a worker thread when it is marked `@offload` or the
    app's views are servers (`ReadServices.inline_reads` off), else inline."""
    services = getattr(request.app.state, "read", None)  # None: a bare test app
    if threaded or (services is not None and not services.inline_reads):
        return await run_offloaded(
            endpoint, services.offload_threads if services else OFFLOAD_THREADS, **kwargs)
    return endpoint(**kwargs)


def _fast(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(endpoint):
        return endpoint
    threaded = getattr(endpoint, "offload", False)

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:  # FastAPI's own path: see ReadRoute
        headers = kwargs.pop(_SUB_RESPONSE).headers
        request = kwargs.pop(_REQUEST)
        result = await _call(functools.partial(endpoint, *args), threaded, request, **kwargs)
        if isinstance(result, Response):
            return result
        # Headers that dependencies set (X-Read-Position, ...) would be dropped by FastAPI
        # for a returned Response, so they are carried over here.
        return JSONBody(result, headers=dict(headers))

    # Ask FastAPI for the response object that dependencies write headers to, and the
    # request (neither shows in the OpenAPI).
    signature = inspect.signature(endpoint)
    extra = [inspect.Parameter(_SUB_RESPONSE, inspect.Parameter.KEYWORD_ONLY,
                               annotation=Response),
             inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    run.plain = endpoint  # type: ignore[attr-defined]
    return run


# --- resolving parameters by hand -----------------------------------------------------


class _Unusual(Exception):
    """The request is out of the ordinary: let FastAPI's own handling answer it."""


Headers = dict[str, str]
# Checks run first, before anything with an effect; then the resolvers, in the order of
# the endpoint's parameters (the order FastAPI solves them in, so errors come alike).
Check = Callable[[Request], None]
Resolver = Callable[[Request, Headers], Awaitable[Any]]


def _single_query(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise _Unusual
    return values[0] if values else None


def _page_check(request: Request) -> None:
    limit = _single_query(request, "limit")
    if limit is not None and not (limit.isascii() and limit.isdigit()
                                  and 0 < len(limit) <= 9 and int(limit) >= 1):
        raise _Unusual
    cursor = _single_query(request, "cursor")
    if cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
        raise _Unusual


async def _page(request: Request, _: Headers) -> PageRequest:
    limit, cursor = request.query_params.get("limit"), request.query_params.get("cursor")
    return PageRequest(min(int(limit), MAX_LIMIT) if limit is not None else DEFAULT_LIMIT,
                       decode_cursor(cursor) if cursor else None)


async def _user(request: Request, _: Headers) -> str:
    return verified_user_id(request, bearer_token(request))


async def _viewer(request: Request, _: Headers) -> str | None:
    if "authorization" not in request.headers:
        return None
    return verified_user_id(request, bearer_token(request))


async def _views(request: Request, headers: Headers) -> Any:
    return await deps.consistent(request.app.state.read,
                                 request.headers.get(deps.MIN_POSITION_HEADER), headers)


async def _services(request: Request, _: Headers) -> Any:
    return request.app.state.read


_DEPENDENCIES: dict[Callable[..., Any], tuple[Check | None, Resolver]] = {
    current_user_id: (None, _user),
    deps.optional_viewer: (None, _viewer),
    deps.consistent_services: (None, _views),
    page_request: (_page_check, _page),
    deps.get_services: (None, _services),
}


def _text_query(name: str, info: Query) -> tuple[Check, Resolver] | None:
    """A required `str` query with at most a length range."""
    low, high = 0, None
    for rule in info.metadata:
        if isinstance(rule, MinLen):
            low = rule.min_length
        elif isinstance(rule, MaxLen):
            high = rule.max_length
        else:
            return None
    if not info.is_required() or info.alias not in (None, name):
        return None

    def check(request: Request) -> None:
        value = _single_query(request, name)
        if value is None or len(value) < low or (high is not None and len(value) > high):
            raise _Unusual

    async def resolve(request: Request, _: Headers) -> str:
        return request.query_params[name]

    return check, resolve


def _path_param(name: str) -> Resolver:
    async def resolve(request: Request, _: Headers) -> str:
        return request.path_params[name]
    return resolve


def _plan(endpoint: Callable[..., Any], path: str
          ) -> tuple[list[Check], list[tuple[str, Resolver]]] | None:
    """How to resolve every parameter of `endpoint` by hand, or None if one is of a kind
    this does not know."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    checks: list[Check] = []
    resolvers: list[tuple[str, Resolver]] = []
    for name, parameter in inspect.signature(endpoint).parameters.items():
        hint = hints.get(name, parameter.annotation)
        metadata = getattr(hint, "__metadata__", ())
        base = typing.get_args(hint)[0] if metadata else hint
        if parameter.default is not inspect.Parameter.empty or len(metadata) > 1:
            return None
        marker = metadata[0] if metadata else None
        if isinstance(marker, Depends) and marker.dependency in _DEPENDENCIES:
            check, resolve = _DEPENDENCIES[marker.dependency]
        elif isinstance(marker, Query) and base is str:
            found = _text_query(name, marker)
            if found is None:
                return None
            check, resolve = found
        elif marker is None and base is str and f"{{{name}}}" in path:
            check, resolve = None, _path_param(name)
        else:
            return None
        if check is not None:
            checks.append(check)
        resolvers.append((name, resolve))
    return checks, resolvers


class ReadRoute(APIRoute):
    """A GET route served by the fast path when it can be (see the module's doc). Sync
    endpoints return the dict to send; an async one (the health checks) a dict or a
    Response, and with a response model only a dict of its own (not validated here)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _fast(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        standard = super().get_route_handler()
        endpoint = getattr(self.endpoint, "plain", self.endpoint)
        is_async = inspect.iscoroutinefunction(endpoint)
        if is_async and self.response_model is not None \
                and typing.get_origin(self.response_model) is not dict:
            return standard  # FastAPI would filter the answer through the model
        plan = _plan(endpoint, self.path)
        if plan is None:
            return standard
        checks, resolvers = plan
        threaded = getattr(endpoint, "offload", False)

        async def serve(request: Request) -> Response | None:
            """The answer, or None when the request is out of the ordinary."""
            try:
                if not FAST_PATH:
                    raise _Unusual
                for check in checks:
                    check(request)
            except _Unusual:
                return None
            headers: Headers = {}
            kwargs = {name: await resolve(request, headers) for name, resolve in resolvers}
            if is_async:
                result = await endpoint(**kwargs)
            else:
                result = await _call(endpoint, threaded, request, **kwargs)
            if isinstance(result, Response):
                return result
            return JSONBody(result, headers=headers)

        async def handler(request: Request) -> Response:
            answer = await serve(request)
            return answer if answer is not None else await standard(request)

        # For `infra.http.web.HotRouteMiddleware`, which calls it without the layers
        # between the app's middleware and the route.
        self.fast_serve = serve
        return handler

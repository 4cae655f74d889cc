"""The one-port gateway of `photoshare up`: routes API.md paths the way a production
gateway (see infra/deploy/nginx.conf) would: reads (GET, HEAD) to the read API processes,
everything else to the write API processes, round-robin, streaming both ways (so
Server-Sent Events and uploads pass through unbuffered).

When a process fails, what the client is told depends on what may have happened:

* nothing was sent (the connection was refused: the process is starting, or being
  restarted): any request waits for a process of its kind (`connect_wait_seconds`), then
  503 `service_unavailable`, which means "not applied, try again";
* a read (GET, HEAD) broke after it was sent: it is sent again, as reads change nothing;
* a write broke after it was sent: the process may have applied it before it failed, so
  the answer is 502 `upstream_outcome_unknown`, never a 503: retry it with the same
  `Idempotency-Key` (a retry without one may apply it twice).

Its own /healthz (when `up` gives it `health`) answers 200 only while every role answers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from photoshare.infra.http.web import error_response

READ_METHODS = frozenset({"GET", "HEAD"})
# Connection-level headers are hop-by-hop: never forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding",
                        "upgrade", "host", "content-length"})
# Who the client is, as said by whoever connected: the gateway says it itself. Its own
# server has already taken a trusted proxy's word for it (`forwarded_allow_ips`), so one
# sent by the client is dropped, never passed on for the APIs to believe.
CLIENT_ADDRESS_HEADERS = frozenset({"x-forwarded-for", "forwarded", "x-real-ip",
                                    "x-forwarded-proto", "x-forwarded-host"})
# Failures that happen before any byte of the request left: safe to send it elsewhere.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

CONNECT_RETRY_SECONDS = 0.1


def _unavailable(kind: str) -> Response:
    return error_response(503, "service_unavailable",
                          f"no {kind} API process answers (starting or restarting); "
                          "the request was not applied: try again",
                          {"Retry-After": "1"})


def _outcome_unknown(error: Exception) -> Response:
    return error_response(
        502, "upstream_outcome_unknown",
        "the write API process failed while handling this request "
        f"({type(error).__name__}): it may or may not have been applied. Retry it with "
        "the same Idempotency-Key header (a retry without one may apply it twice), or "
        "check whether it took effect")


class Gateway:
    """`connect_wait_seconds`: how long a request waits for a process of its kind to
    accept connections (while `up` starts them, or restarts one that died) before the
    answer is 503. `health`: the names of the roles not answering now (the gateway's own
    /healthz is 503 while there is one); without it /healthz goes to a read API."""

    connect_wait_seconds = 15.0

    def __init__(self, readers: Sequence[str], writers: Sequence[str], *,
                 health: Callable[[], list[str]] | None = None) -> None:
        self._readers = itertools.cycle(list(readers))
        self._writers = itertools.cycle(list(writers))
        self._health = health
        # Connecting to a process on this machine is immediate or refused: a connect
        # that hangs is a process that does not answer.
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0,
                                                               read=None),
                                         limits=httpx.Limits(max_connections=512))
        self._stopping = asyncio.Event()

    def end_streams(self) -> None:
        """End the live streams (SSE) it relays: on shutdown, so that its server does not
        wait for browser tabs, which hold theirs open (call on its event loop)."""
        self._stopping.set()

    def upstream(self, method: str) -> str:
        return next(self._readers if method in READ_METHODS else self._writers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self._client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if (self._health is not None and request.url.path == "/healthz"
                and request.method in READ_METHODS):
            response = self._healthz()
        else:
            response = await self._forward(request)
        await response(scope, receive, send)

    def _healthz(self) -> Response:
        assert self._health is not None
        waiting = self._health()
        if waiting:
            return error_response(503, "not_ready",
                                  f"waiting for {', '.join(waiting)} to answer",
                                  {"Retry-After": "1"}, waiting=waiting)
        return JSONResponse({"status": "ok"})

    async def _forward(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in CLIENT_ADDRESS_HEADERS]
        client = request.client
        if client:
            headers.append(("x-forwarded-for", client.host))
        headers.append(("x-forwarded-proto", request.url.scheme))
        read = request.method in READ_METHODS
        body = request.stream() if not read else None
        deadline = time.monotonic() + self.connect_wait_seconds
        while True:
            upstream_request = self._client.build_request(
                request.method, self.upstream(request.method) + path, headers=headers,
                content=body)
            try:
                upstream = await self._client.send(upstream_request, stream=True)
                break
            except NOT_SENT:
                # Nothing reached a process (none listens there: still starting, or
                # being restarted), so any request may go again, to the next one.
                if time.monotonic() >= deadline:
                    return _unavailable("read" if read else "write")
            except httpx.TransportError as error:
                # The request may have reached the process, which then failed.
                if not read:
                    return _outcome_unknown(error)
                if time.monotonic() >= deadline:  # a read changes nothing: again
                    return _unavailable("read")
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
        response_headers = {k: v for k, v in upstream.headers.items()
                            if k.lower() not in HOP_BY_HOP}
        body = upstream.aiter_raw()
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            body = _until(self._stopping, body)
        return StreamingResponse(body, status_code=upstream.status_code,
                                 headers=response_headers,
                                 background=BackgroundTask(upstream.aclose))


async def _until(stopping: asyncio.Event,
                 chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` until they end or `stopping` is set (a stream's next chunk may never come)."""
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        while True:
            chunk = asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait({chunk, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if chunk not in done:
                chunk.cancel()
                return
            try:
                value = chunk.result()
            except StopAsyncIteration:
                return
            yield value
    finally:
        stopped.cancel()

"""The one-port gateway of `photoshare up`: routes API.md paths the way a production
gateway (see infra/deploy/nginx.conf) would: reads (GET, HEAD) to the read API processes,
everything else to the write API processes, round-robin, streaming both ways (so
Server-Sent Events and uploads pass through unbuffered). While a process is starting or
being restarted, requests wait for it (`connect_wait_seconds`) rather than fail."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from photoshare.infra.http.web import error_response

READ_METHODS = frozenset({"GET", "HEAD"})
# Connection-level headers are hop-by-hop: never forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding",
                        "upgrade", "host", "content-length"})


CONNECT_RETRY_SECONDS = 0.1


def _unavailable() -> Response:
    return error_response(503, "upstream_unavailable", "the service is restarting; try again",
                          {"Retry-After": "1"})


class Gateway:
    """`connect_wait_seconds`: how long a request waits for a process of its kind to
    accept connections (while `up` starts them, or restarts one that died) before the
    answer is 503."""

    connect_wait_seconds = 15.0

    def __init__(self, readers: Sequence[str], writers: Sequence[str]) -> None:
        self._readers = itertools.cycle(list(readers))
        self._writers = itertools.cycle(list(writers))
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, read=None),
                                          limits=httpx.Limits(max_connections=512))

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
        response = await self._forward(request)
        await response(scope, receive, send)

    async def _forward(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        client = request.client
        if client:
            headers.append(("x-forwarded-for", client.host))
        body = request.stream() if request.method not in READ_METHODS else None
        deadline = time.monotonic() + self.connect_wait_seconds
        while True:
            upstream_request = self._client.build_request(
                request.method, self.upstream(request.method) + path, headers=headers,
                content=body)
            try:
                upstream = await self._client.send(upstream_request, stream=True)
                break
            except httpx.ConnectError:
                # Nothing reached a process (none listens there: still starting, or
                # being restarted), so any request may go again, to the next one.
                if time.monotonic() >= deadline:
                    return _unavailable()
                await asyncio.sleep(CONNECT_RETRY_SECONDS)
            except httpx.TransportError:
                # The request may have reached the process: only the client may retry.
                return _unavailable()
        response_headers = {k: v for k, v in upstream.headers.items()
                            if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code,
                                 headers=response_headers,
                                 background=BackgroundTask(upstream.aclose))

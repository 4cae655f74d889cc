"""The `photoshare up` gateway while its roles start: a request waits for a process to
accept connections instead of failing, and fails with 503 once the wait is over."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from photoshare.infra.http.gateway import Gateway
from photoshare.infra.localcluster.process import free_port


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "body": (await request.body()).decode()})


def serve_later(port: int, delay: float) -> uvicorn.Server:
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))

    def run() -> None:
        time.sleep(delay)
        server.run()

    threading.Thread(target=run, daemon=True).start()
    return server


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_waits_for_a_starting_process(method: str) -> None:
    port = free_port()
    server = serve_later(port, delay=1.0)
    gateway = Gateway([f"http://127.0.0.1:{port}"], [f"http://127.0.0.1:{port}"])

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.request(method, "/echo", content=b"a post's body")

    try:
        response = asyncio.run(call())
    finally:
        server.should_exit = True
    assert response.status_code == 200
    assert response.json()["method"] == method
    if method == "POST":  # the body went through whole, after the retries
        assert response.json()["body"] == "a post's body"


def test_no_process_at_all_is_a_503_after_the_wait() -> None:
    gateway = Gateway([f"http://127.0.0.1:{free_port()}"], [])
    gateway.connect_wait_seconds = 0.5

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get("/v1/users/x")

    began = time.monotonic()
    response = asyncio.run(call())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert response.headers["retry-after"] == "1"
    assert time.monotonic() - began >= 0.5

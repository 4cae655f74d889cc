"""The `photoshare up` gateway while its roles start or fail: a request waits for a
process to accept connections instead of failing, and fails with 503 once the wait is
over (nothing was sent: not applied); a read that broke after it was sent goes again; a
write that broke after it was sent is 502 `upstream_outcome_unknown`, never a 503, as
the process may have applied it. Its own /healthz answers 200 only once every role does."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from photoshare.infra.http.gateway import Gateway
from photoshare.infra.localcluster.process import free_port


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "body": (await request.body()).decode()})


def serve_later(port: int, delay: float, routes: list[Route] | None = None) -> uvicorn.Server:
    app = Starlette(routes=routes or [Route("/echo", echo, methods=["GET", "POST"])])
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


def call(gateway: Gateway, method: str, path: str, body: bytes | None = None
         ) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.request(method, path, content=body)

    return asyncio.run(go())


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_process_at_all_is_a_503_after_the_wait(method: str) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    gateway = Gateway([nobody], [nobody])
    gateway.connect_wait_seconds = 0.5

    began = time.monotonic()
    response = call(gateway, method, "/v1/users/x", b"{}" if method == "POST" else None)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "not applied" in error["message"]
    assert response.headers["retry-after"] == "1"
    assert time.monotonic() - began >= 0.5


class BreakingProcess:
    """A process that reads each request whole, then dies without answering (its
    connections reset): what a write API killed half-way through a request looks like
    from the gateway. `received` keeps the request lines it read."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data.split(b"\r\n", 1)[0])
                # RST, not FIN: no answer ever comes.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_that_broke_after_it_was_sent_is_502_outcome_unknown(method: str) -> None:
    process = BreakingProcess()
    try:
        gateway = Gateway([process.url], [process.url])
        response = call(gateway, method, "/v1/photos/p1/comments", b'{"text": "hi"}')
    finally:
        process.close()
    assert response.status_code == 502  # never 503, which would read "not applied"
    error = response.json()["error"]
    assert error["code"] == "upstream_outcome_unknown"
    assert "may or may not have been applied" in error["message"]
    assert "Idempotency-Key" in error["message"]
    assert "retry-after" not in response.headers
    # Sent once, and only once: the gateway never repeats a write on its own.
    assert process.received == [f"{method} /v1/photos/p1/comments HTTP/1.1".encode()]


def test_a_read_that_broke_after_it_was_sent_goes_again_to_the_next_process() -> None:
    breaking, port = BreakingProcess(), free_port()
    server = serve_later(port, delay=0)
    try:
        wait_for_port(port)
        gateway = Gateway([breaking.url, f"http://127.0.0.1:{port}"], [])
        response = call(gateway, "GET", "/echo")
    finally:
        server.should_exit = True
        breaking.close()
    assert response.status_code == 200
    assert response.json()["method"] == "GET"
    assert breaking.received == [b"GET /echo HTTP/1.1"]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.05)


def test_its_healthz_answers_200_only_while_every_role_answers() -> None:
    waiting = ["writeapi-1", "worker-2"]
    gateway = Gateway([f"http://127.0.0.1:{free_port()}"], [],
                      health=lambda: list(waiting))
    gateway.connect_wait_seconds = 0.1  # /healthz must never go to a read API

    response = call(gateway, "GET", "/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready"
    assert response.json()["error"]["waiting"] == ["writeapi-1", "worker-2"]
    assert call(gateway, "HEAD", "/healthz").status_code == 503

    waiting.clear()
    response = call(gateway, "GET", "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def headers_seen(request: Request) -> JSONResponse:
    return JSONResponse({name: request.headers.getlist(name) for name in
                         ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-proto")})


def test_the_client_cannot_say_who_it_is_through_the_gateway() -> None:
    port = free_port()
    app = Starlette(routes=[Route("/headers", headers_seen)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    threading.Thread(target=server.run, daemon=True).start()
    gateway = Gateway([f"http://127.0.0.1:{port}"], [f"http://127.0.0.1:{port}"])

    async def go() -> httpx.Response:
        # ASGITransport's client address is 127.0.0.1: what the gateway's server saw.
        transport = httpx.ASGITransport(app=gateway, client=("10.9.8.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get("/headers", headers={
                "X-Forwarded-For": "1.2.3.4", "Forwarded": "for=1.2.3.4",
                "X-Real-IP": "1.2.3.4"})

    try:
        seen = asyncio.run(go()).json()
    finally:
        server.should_exit = True
    assert seen == {"x-forwarded-for": ["10.9.8.7"], "forwarded": [], "x-real-ip": [],
                    "x-forwarded-proto": ["http"]}


async def endless_stream(request: Request) -> StreamingResponse:
    async def events():
        yield b"retry: 3000\n\n"
        while True:  # a quiet stream: nothing more until the client goes
            await asyncio.sleep(3600)
            yield b": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def test_stopping_ends_the_live_streams_it_relays_at_once() -> None:
    """As `up` runs it: a browser tab's stream through the gateway does not hold up its
    stop for the graceful-shutdown time (nor cancel it as an error afterwards)."""
    from photoshare.infra.http.serving import ApiServer

    upstream_port, gateway_port = free_port(), free_port()
    upstream = serve_later(upstream_port, delay=0, routes=[
        Route("/v1/notifications/stream", endless_stream)])
    gateway = Gateway([f"http://127.0.0.1:{upstream_port}"], [])
    server = ApiServer(uvicorn.Config(gateway, host="127.0.0.1", port=gateway_port,
                                      log_config=None, timeout_graceful_shutdown=5),
                       name=None, on_stop=gateway.end_streams)
    running = threading.Thread(target=server.run, daemon=True)
    running.start()
    opened, ended = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with httpx.stream("GET", f"http://127.0.0.1:{gateway_port}/v1/notifications/"
                              "stream", timeout=httpx.Timeout(10, read=None)) as answer:
                for _ in answer.iter_lines():
                    opened.set()
        except httpx.HTTPError:
            pass
        ended.set()

    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        threading.Thread(target=hold, daemon=True).start()
        assert opened.wait(10)
        began = time.monotonic()
        server.should_exit = True
        running.join(timeout=10)
        took = time.monotonic() - began
    finally:
        upstream.should_exit = True
    assert not running.is_alive() and took < 2, took
    assert ended.wait(2)

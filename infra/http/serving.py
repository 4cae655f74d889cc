"""Running an API app under uvicorn: every photoshare server stops within a bounded time.

uvicorn's graceful shutdown waits for every open request, and a browser tab holds its live
notification stream (`/v1/notifications/stream`) open for as long as it is open: so on
Ctrl-C or SIGTERM the app's open streams are told to end (`ReadServices.stopping`) before
uvicorn waits, and whatever still runs after `graceful_seconds` is cancelled.

uvicorn runs on uvloop with the httptools HTTP parser (both project dependencies, which
uvicorn picks by itself when installed): twice the requests/s of asyncio with h11 on
the same core (bench/readpath.py, bench/RESULTS.md).
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from photoshare.infra.logs import announce


def end_live_streams(app: FastAPI) -> None:
    """Tell the app's open live streams to end (an app without a read side has none)."""
    read = getattr(app.state, "read", None)
    if read is not None:
        read.stopping.set()


class ApiServer(uvicorn.Server):
    """uvicorn's server that calls `on_stop` as its shutdown begins, before it waits for
    open requests (to end live streams), says where it runs once it does (when it has a
    `name`), and calls `on_signal` on Ctrl-C or SIGTERM."""

    def __init__(self, config: uvicorn.Config, *, name: str | None,
                 on_stop: Callable[[], None], on_signal: Callable[[], None] | None = None
                 ) -> None:
        super().__init__(config)
        self._name, self._on_stop, self._on_signal = name, on_stop, on_signal

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._on_signal is not None:
            self._on_signal()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # What the app made while starting (routes, models, the views' caches) lives as
        # long as the process: kept out of every later full collection, which otherwise
        # walks it all again (a 30-45 ms pause of every request, bench/RESULTS.md).
        gc.freeze()
        if self.started and self._name:
            host, port = self.config.host, self.config.port
            shown = f"[{host}]" if ":" in host else host
            announce(f"{self._name} is running on http://{shown}:{port}")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_stop()  # on the event loop, before uvicorn waits for open requests
        await super().shutdown(sockets)


def run_api(app: FastAPI, *, host: str, port: int, name: str, graceful_seconds: float,
            on_signal: Callable[[], None] | None = None, **config: Any) -> bool:
    """Serve `app` until Ctrl-C or SIGTERM; False when it never started (a port in use)."""
    server = ApiServer(uvicorn.Config(app, host=host, port=port, log_config=None,
                                      access_log=False, server_header=False,
                                      timeout_graceful_shutdown=graceful_seconds, **config),
                       name=name, on_stop=lambda: end_live_streams(app), on_signal=on_signal)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has stopped
        pass
    if server.started:
        announce(f"{name} stopped")
    return server.started

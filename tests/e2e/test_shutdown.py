"""Ctrl-C and SIGTERM stop the real `photoshare serve` at once, even while a browser tab
holds its live notification stream open (uvicorn's graceful shutdown waits for open
requests, and a stream never ends by itself)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.serve import serve

pytestmark = pytest.mark.e2e

STOP_WITHIN_SECONDS = 5


def _token(base: str) -> str:
    with httpx.Client(base_url=base, timeout=10) as api:
        assert api.post("/v1/users", json={"username": "tab_holder", "email": "tab@x.io",
                                            "password": "long enough",
                                            "display_name": "Tab"}).status_code == 201
        return api.post("/v1/sessions", json={"login": "tab_holder",
                                              "password": "long enough"}).json()["access_token"]


def _hold_stream(base: str, token: str, opened: threading.Event,
                 ended: threading.Event) -> None:
    """What a tab does: open the stream and read it until the server ends it."""
    try:
        with httpx.stream("GET", f"{base}/v1/notifications/stream",
                          params={"access_token": token},
                          timeout=httpx.Timeout(10, read=None)) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if line.startswith("retry:"):
                    opened.set()
    except httpx.HTTPError:
        pass  # the server went away: what matters is that it did
    finally:
        ended.set()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_promptly_with_a_live_stream_open(tmp_path: Path,
                                                      signum: signal.Signals) -> None:
    # Keep-alives far apart: the stream must end because the server stops, not because
    # a keep-alive write found the socket closing.
    with serve(tmp_path / "data", tmp_path / "server.log",
               PHOTOSHARE_SSE_KEEPALIVE_SECONDS="600") as server:
        opened, ended = threading.Event(), threading.Event()
        threading.Thread(target=_hold_stream, args=(server.base, _token(server.base), opened,
                                                    ended), daemon=True).start()
        assert opened.wait(10), "the live stream did not open"
        time.sleep(0.3)  # the stream is idle, waiting for notices, as in a quiet tab

        began = time.monotonic()
        server.process.send_signal(signum)
        try:
            server.process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - began
        assert server.process.poll() is not None, (
            f"still running {STOP_WITHIN_SECONDS} s after {signum.name} with a stream open:\n"
            + server.log_path.read_text(errors="replace")[-3000:])
        assert ended.wait(2), "the client's stream did not end"
    print(f"stopped {took:.2f} s after {signum.name}")

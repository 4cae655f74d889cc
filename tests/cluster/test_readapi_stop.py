"""SIGTERM and Ctrl-C stop the cluster's read API process at once while a client holds a
live notification stream open (from Redis): the stream ends as the shutdown begins,
rather than the process waiting out its graceful-stop time."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from photoshare.infra.auth.tokens import TokenService
from photoshare.infra.localcluster.process import dies_with_this_process, free_port

from support.serve import PHOTOSHARE, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

# Under the read API's own bound for open requests (half of ROLE_STOP_SECONDS, 2 s): what
# is measured is that the stream did not hold the stop up at all.
STOP_WITHIN_SECONDS = 1.5


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_read_api_stops_promptly_with_a_live_stream_open(
        tmp_path: Path, postgres_dsn: str, redis_url: str, signum: signal.Signals) -> None:
    secret, port = f"stop-test-{uuid.uuid4().hex}" * 2, free_port()
    env = {**os.environ, "PHOTOSHARE_PROFILE": "cluster", "PHOTOSHARE_POSTGRES_DSN": postgres_dsn,
           "PHOTOSHARE_REDIS_URL": redis_url,
           "PHOTOSHARE_REDIS_PREFIX": f"photoshare-test-{uuid.uuid4().hex[:12]}:",
           "PHOTOSHARE_VIEW_STORES": "sqlite", "PHOTOSHARE_DATA_DIR": str(tmp_path / "data"),
           "PHOTOSHARE_SECRET_KEY": secret, "PHOTOSHARE_SSE_KEEPALIVE_SECONDS": "600"}
    log_path = tmp_path / "readapi.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([str(PHOTOSHARE), "readapi", "--port", str(port)],
                                   stdout=log, stderr=log, env=env,
                                   preexec_fn=dies_with_this_process())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log_path, timeout=60)
        # A token issued "later" than the empty views: the account is not refused as unknown.
        token = TokenService(secret, ttl_seconds=600).issue(str(uuid.uuid4()),
                                                            position=10**9).token
        opened, answers = threading.Event(), []

        def hold() -> None:
            try:
                with httpx.stream("GET", f"{base}/v1/notifications/stream",
                                  params={"access_token": token},
                                  timeout=httpx.Timeout(10, read=None)) as answer:
                    answers.append((answer.status_code, answer.headers))
                    for line in answer.iter_lines():
                        if line.startswith("retry:"):
                            opened.set()
            except httpx.HTTPError:
                pass

        threading.Thread(target=hold, daemon=True).start()
        assert opened.wait(10), (answers, log_path.read_text(errors="replace")[-3000:])
        began = time.monotonic()
        process.send_signal(signum)
        try:
            process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        assert process.poll() is not None, log_path.read_text(errors="replace")[-3000:]
        print(f"stopped {time.monotonic() - began:.2f} s after {signum.name}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

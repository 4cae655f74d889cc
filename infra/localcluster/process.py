"""Run one local server process: start it with its output in a log file, wait until it
answers, and stop it (SIGTERM, then SIGKILL) when the block ends.

Used by the tests (once per test session) and by `photoshare local-cluster` (`make
cluster`). A server started here never outlives the Python process that started it: on
Linux the child asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a
killed test run or supervisor leaves no Java process holding its ports. The kernel means
the parent *thread*, so every server is forked by one long-lived spawner thread, never
by a short-lived worker thread whose exit would kill it.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
try:  # loaded here, not in the forked child (no dynamic loading between fork and exec)
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: no parent-death signal
    _LIBC = None
# Lives as long as the process (its idle thread is joined only at interpreter exit).
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-spawner")


class ServerStartError(RuntimeError):
    """A server exited or did not answer in time; the message ends with its log."""


@dataclass
class ServerSpec:
    """How to run one server: what to execute and how to tell that it answers.

    `ready` is a cheap probe called repeatedly until it returns True (exceptions count as
    "not yet"); `address` is what clients are given (e.g. `127.0.0.1:9092`).
    """

    name: str
    argv: list[str]
    address: str
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None  # run as this user (PostgreSQL refuses to run as root)
    start_timeout: float = 120.0
    stop_timeout: float = 20.0
    stop_signal: int = signal.SIGTERM  # PostgreSQL's fast shutdown is SIGINT


@dataclass
class RunningServer:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    started_in: float  # seconds from spawn to the first successful probe

    @property
    def address(self) -> str:
        return self.spec.address

    def log_tail(self, size: int = 4000) -> str:
        return read_tail(self.log_path, size)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `port` can be listened on now (a server of ours may take it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


# Probes go straight to 127.0.0.1, whatever the *_proxy variables say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 2.0) -> bytes:
    with _DIRECT.open(url, timeout=timeout) as response:
        return response.read()


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP server answers at `url` at all (an error status counts: it is
    serving)."""
    try:
        http_get(url, timeout)
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def die_with_parent(parent: int | None = None) -> None:
    """preexec_fn: SIGKILL this child when the process that started it dies.

    `parent` (see `dies_with_this_process`) closes the race of a parent killed between
    the fork and the prctl: the kernel would then send nothing, so the child checks that
    its parent is still the one that forked it, and ends itself if not."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # orphaned already: never exec
    os.setpgrp()  # its own process group: a Ctrl-C in the terminal reaches only us


def dies_with_this_process() -> Callable[[], None]:
    """A preexec_fn for `subprocess.Popen`: the child gets SIGKILL when this process dies.

    The kernel ties the signal to the parent *thread*: fork from a thread that lives as
    long as the process (the main thread, or a long-lived one such as `_SPAWNER`'s)."""
    parent = os.getpid()
    return lambda: die_with_parent(parent)


def become(user: str | None) -> Callable[[], None] | None:
    """A preexec_fn that drops to `user` (when started as root), or None to stay."""
    if user is None or os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(user)

    def switch() -> None:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    return switch


def _preexec(user: str | None) -> Callable[[], None]:
    switch = become(user)
    parent = os.getpid()

    def prepare() -> None:
        # User first: the kernel clears the parent-death signal when the process's user
        # or group changes, so set before it, it would be lost (PostgreSQL, started as
        # `postgres` by root, would outlive us).
        if switch is not None:
            switch()
        die_with_parent(parent)
    return prepare


def read_tail(path: Path, size: int = 4000) -> str:
    try:
        with path.open("rb") as log:
            log.seek(max(path.stat().st_size - size, 0))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def start(spec: ServerSpec, log_path: Path) -> RunningServer:
    """Spawn the server and wait until `spec.ready()`; raise ServerStartError if it exits
    or stays silent past `spec.start_timeout` (the process is stopped first)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with log_path.open("ab") as log:
        process = _SPAWNER.submit(
            subprocess.Popen, spec.argv, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=spec.cwd, env={**os.environ, **spec.env},
            preexec_fn=_preexec(spec.user)).result()
    running = RunningServer(spec, process, log_path, 0.0)
    deadline = began + spec.start_timeout
    while True:
        if process.poll() is not None:
            raise ServerStartError(f"{spec.name} exited with {process.returncode}; "
                                   f"log {log_path}:\n{running.log_tail()}")
        try:
            if spec.ready():
                running.started_in = time.monotonic() - began
                return running
        except Exception:  # noqa: BLE001 - any failure of the probe means "not yet"
            pass
        if time.monotonic() > deadline:
            stop(running)
            raise ServerStartError(f"{spec.name} did not answer within "
                                   f"{spec.start_timeout:.0f} s; log {log_path}:\n"
                                   f"{running.log_tail()}")
        time.sleep(0.2)


def stop(server: RunningServer) -> None:
    """SIGTERM, then SIGKILL after `stop_timeout`; always reaps the process."""
    process = server.process
    if process.poll() is None:
        process.send_signal(server.spec.stop_signal)
        try:
            process.wait(timeout=server.spec.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(spec: ServerSpec, log_path: Path) -> Iterator[RunningServer]:
    server = start(spec, log_path)
    try:
        yield server
    finally:
        stop(server)

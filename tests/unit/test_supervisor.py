"""`photoshare up`'s supervisor with real processes and sockets: it counts a role as
answering only once its current process answers (an API process its /healthz, the relay
and the workers by `report_ready`), again after a restart; its public port refuses
connections until it serves; and a role asked to stop ends itself within
`stop_within`'s time, whatever it is blocked on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from photoshare.infra.localcluster.process import free_port
from photoshare.infra.roots.supervisor import Role, Supervisor, reserve_port

# An API process that starts answering /healthz `delay` seconds after it starts.
API = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
# A relay or worker that works `delay` seconds after it starts, and says so.
WORKER = """
import sys, time
from photoshare.infra.roots.supervisor import report_ready
time.sleep(float(sys.argv[1]))
report_ready()
time.sleep(3600)
"""


def python(script: str, *args: object) -> list[str]:
    return [sys.executable, "-c", script, *map(str, args)]


def test_a_role_answers_only_once_its_current_process_does(tmp_path: Path) -> None:
    port = free_port()
    api = Role("writeapi-1", python(API, port, 1.5),
               health_url=f"http://127.0.0.1:{port}/healthz")
    worker = Role("worker-1", python(WORKER, 1.0), ready_file=tmp_path / "worker-1.ready")
    # PYTHONSAFEPATH: the working directory (the repository, whose `events/` would
    # shadow a package of that name) is not on the roles' path.
    supervisor = Supervisor([api, worker], {**os.environ, "PYTHONSAFEPATH": "1"})
    began = time.monotonic()
    supervisor.start()
    threading.Thread(target=supervisor.watch, daemon=True).start()
    threading.Thread(target=supervisor.monitor, daemon=True).start()
    try:
        assert supervisor.waiting_for() == ["writeapi-1", "worker-1"]
        seen: list[tuple[float, list[str]]] = []
        while supervisor.waiting_for():
            seen.append((time.monotonic() - began, supervisor.waiting_for()))
            assert time.monotonic() - began < 30, seen[-5:]
            time.sleep(0.02)
        ready_after = time.monotonic() - began
        # Nothing answered early: the API process sleeps 1.5 s before it listens.
        assert ready_after >= 1.5
        assert httpx.get(api.health_url or "", trust_env=False).status_code == 200
        assert worker.ready_file and worker.ready_file.read_text() == str(worker.process.pid)

        # A role that dies does not answer; its restart answers once it works again.
        for role in (api, worker):
            old = role.process
            assert old is not None
            old.kill()
            old.wait()
            assert role.name in supervisor.waiting_for()
            deadline = time.monotonic() + 30
            while role.process is old or role.name in supervisor.waiting_for():
                assert time.monotonic() < deadline, f"{role.name} did not answer again"
                time.sleep(0.02)
            assert role.restarts == 1
        assert supervisor.waiting_for() == []
    finally:
        supervisor.stop(timeout=5)
    assert all(role.process and role.process.poll() is not None for role in (api, worker))


def test_the_public_port_refuses_connections_until_it_serves() -> None:
    port = free_port()
    sock = reserve_port("127.0.0.1", port)
    try:
        with pytest.raises(OSError):  # bound, not listening: refused
            _connect(port)
        sock.listen()
        _connect(port)
        with pytest.raises(OSError):  # a port something listens on fails at once
            reserve_port("127.0.0.1", port).close()
    finally:
        sock.close()


def _connect(port: int) -> None:
    import socket

    socket.create_connection(("127.0.0.1", port), timeout=2).close()


# A role blocked where no signal handler helps: SIGTERM arms `stop_within`, then the
# process goes on waiting (as on a server that is gone).
STUCK = """
import signal, sys, time
from photoshare.infra.roots.supervisor import stop_within
signal.signal(signal.SIGTERM, lambda *_: stop_within(float(sys.argv[1])))
print("ready", flush=True)
while True:
    time.sleep(60)
"""


def test_a_stuck_role_ends_itself_after_sigterm_within_its_stop_time(tmp_path: Path) -> None:
    process = subprocess.Popen(python(STUCK, 1.0), stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGALRM
    assert 0.9 <= took < 3


# A process that starts one long-lived child the way the tests and `make cluster` do
# (a server through `localcluster.process`, as another user when root, or a role with
# `dies_with_this_process`), prints the child's pid, and waits to be killed.
PARENT = """
import os, subprocess, sys, time
from pathlib import Path
from photoshare.infra.localcluster import process
if sys.argv[1] == "server":
    user = "nobody" if os.geteuid() == 0 else None
    spec = process.ServerSpec(name="sleeper", argv=["sleep", "300"], address="",
                              ready=lambda: True, user=user)
    child = process.start(spec, Path(sys.argv[2])).process
else:
    child = subprocess.Popen(["sleep", "300"], preexec_fn=process.dies_with_this_process())
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize("how", ["server", "role"])
def test_a_child_dies_with_the_process_that_started_it(tmp_path: Path, how: str) -> None:
    parent = subprocess.Popen(python(PARENT, how, tmp_path / "sleeper.log"),
                              stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _running(child)
        parent.kill()  # no clean-up of its own: only the kernel can end the child now
        parent.wait()
        deadline = time.monotonic() + 3
        while _running(child):
            assert time.monotonic() < deadline, f"{how} outlived the process that started it"
            time.sleep(0.02)
    finally:
        if parent.poll() is None:
            parent.kill()


def _running(pid: int) -> bool:
    """Not gone, and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_removes_the_scratch_dirs_of_ups_killed_before_and_keeps_the_living() -> None:
    from photoshare.infra.roots.supervisor import _run_dir

    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"photoshare-up-{gone.pid}-"))
    living = Path(tempfile.mkdtemp(prefix=f"photoshare-up-{os.getppid()}-"))
    (stale / "relay.ready").write_text(str(gone.pid))
    ours = _run_dir()
    try:
        assert not stale.exists()
        assert living.exists()
        assert ours.is_dir() and ours.name.startswith(f"photoshare-up-{os.getpid()}-")
    finally:
        for path in (stale, living, ours):
            shutil.rmtree(path, ignore_errors=True)

"""Supervision of the cluster profile's processes, with real servers and real roles:

* `photoshare up` opens its port only once every role answers (each API process its
  /healthz, the relay and each worker by its ready file), its /healthz turns 503 while a
  role is being restarted, and when `up` is killed outright (SIGKILL) no role outlives it;
* every role ends within a few seconds of SIGTERM even when the servers it waits for are
  gone (killed) or hang (stopped with SIGSTOP), or were never there.

The figures (start-up timeline, stop times) are printed: run with `-s` to read them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from photoshare.infra.localcluster import jars
from photoshare.infra.localcluster.kafka import kafka_spec
from photoshare.infra.localcluster.postgres import postgres_spec
from photoshare.infra.localcluster.process import (
    RunningServer,
    dies_with_this_process,
    free_port,
    running,
)
from photoshare.infra.localcluster.redis import redis_spec
from photoshare.infra.postgres.event_store import ensure_database
from photoshare.infra.roots.supervisor import READY_FILE_ENV, ROLE_STOP_SECONDS
from support.cluster import cluster_servers
from support.engines import Engines
from support.serve import PHOTOSHARE

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

# What "within a few seconds" allows: the roles' own stop time, plus a loaded machine.
STOP_LIMIT_SECONDS = ROLE_STOP_SECONDS + 1.5
DIRECT = httpx.Client(timeout=1.0, trust_env=False)


# --- `photoshare up` ---------------------------------------------------------------------


def test_up_serves_once_every_role_answers_and_no_role_outlives_a_killed_up(
        tmp_path: Path, engines: Engines, postgres_server: str, kafka_bootstrap: str,
        redis_url: str) -> None:
    # (The server fixtures name the only servers this test needs, so that the session
    # does not start the others for it.)
    with cluster_servers(engines, tmp_path, s3=False) as servers:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = servers.log_dir / "up.log"
        began = time.monotonic()
        up = servers.role("up", "--port", str(port), "--workers", "2", log_name="up.log")
        pids: set[int] = set()
        try:
            first_answer: dict[int, float] = {}  # by pid
            names: dict[int, str] = {}
            while True:
                assert up.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() - began < 180, (first_answer, log.read_text()[-3000:])
                found = roles_of(up.pid)
                pids |= set(found)
                for role in found.values():
                    names[role.pid] = role.name
                    if role.pid not in first_answer and role.answers():
                        first_answer[role.pid] = time.monotonic() - began
                try:
                    status = DIRECT.get(f"{base}/healthz").status_code
                except httpx.TransportError:
                    status = None  # refused: `up` does not listen yet
                if status is not None:
                    # The first answer of `up` is a 200, and every role answers by now.
                    serving_after = time.monotonic() - began
                    assert status == 200
                    found = roles_of(up.pid)
                    assert sorted(role.name for role in found.values()) == [
                        "readapi", "relay", "worker", "worker", "writeapi"]
                    assert [role for role in found.values() if not role.answers()] == []
                    break
                time.sleep(0.05)
            print(f"\n`up` started; its /healthz answered 200 after {serving_after:.1f} s; "
                  "each role first answered after: " + ", ".join(
                      f"{names[pid]} {seconds:.1f} s" for pid, seconds in sorted(
                          first_answer.items(), key=lambda item: item[1])))
            assert all(seconds <= serving_after for seconds in first_answer.values())

            # A role being restarted: /healthz says which, until it answers again.
            writeapi = next(pid for pid, role in roles_of(up.pid).items()
                            if role.name == "writeapi")
            os.kill(writeapi, signal.SIGKILL)
            saw_503 = False
            deadline = time.monotonic() + 120
            while True:
                response = DIRECT.get(f"{base}/healthz")
                if response.status_code == 503:
                    saw_503 = True
                    assert response.json()["error"]["waiting"] == ["writeapi-1"]
                elif saw_503:
                    assert response.status_code == 200
                    break
                assert time.monotonic() < deadline, "writeapi-1 did not answer again"
                time.sleep(0.05)

            # `up` killed outright: the kernel ends every role with it.
            pids |= set(roles_of(up.pid))
            assert len(pids) >= 6  # five roles, one of them started twice
            up.kill()
            up.wait()
            killed = time.monotonic()
            while alive(pids) and time.monotonic() - killed < 3:
                time.sleep(0.05)
            assert alive(pids) == [], "roles outlived a killed `photoshare up`"
            print(f"`up` killed (SIGKILL): its roles were gone "
                  f"{time.monotonic() - killed:.2f} s later")
        finally:
            for pid in alive(pids | {up.pid}):
                os.kill(pid, signal.SIGKILL)
            if up.poll() is None:
                up.wait()


class FoundRole:
    """A role process of `up`, told apart by its command line: `photoshare writeapi
    --host ... --port N`, `photoshare relay`, `photoshare worker`."""

    def __init__(self, pid: int, argv: list[str], environ: dict[str, str]) -> None:
        self.pid, self.name = pid, argv[2]
        self.port = argv[argv.index("--port") + 1] if "--port" in argv else None
        self.ready_file = environ.get(READY_FILE_ENV)

    def answers(self) -> bool:
        if self.port is not None:
            try:
                return DIRECT.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200
            except httpx.TransportError:
                return False
        try:
            return Path(self.ready_file or "").read_text() == str(self.pid)
        except OSError:
            return False

    def __repr__(self) -> str:
        return f"<{self.name} {self.pid}>"


def roles_of(parent: int) -> dict[int, FoundRole]:
    """The living children of `parent` (of any of its threads)."""
    found = {}
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
                environ = dict(entry.split("=", 1) for entry in Path(
                    f"/proc/{child}/environ").read_bytes().decode().split("\0") if "=" in entry)
            except OSError:
                continue  # gone meanwhile
            if len(argv) > 2 and not is_dead(child):
                found[child] = FoundRole(child, argv, environ)
    return found


def is_dead(pid: int) -> bool:
    """Gone, or a zombie nobody has reaped yet (it runs nothing any more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def alive(pids: set[int]) -> list[int]:
    return sorted(pid for pid in pids if not is_dead(pid))


# --- every role, SIGTERM, servers gone ---------------------------------------------------


@contextmanager
def private_servers() -> Iterator[dict[str, RunningServer]]:
    """PostgreSQL, Redis and Kafka of this test's own (the session's are shared: they
    must not be killed or frozen), stopped and removed afterwards."""
    # Under /tmp, readable by all: PostgreSQL runs as `postgres` when we are root.
    home = Path(tempfile.mkdtemp(prefix="photoshare-supervision-"))
    home.chmod(0o755)
    try:
        with ExitStack() as stack:
            servers = {
                "postgres": stack.enter_context(running(
                    postgres_spec(home / "postgres", port=free_port(), durable=False),
                    home / "postgres.log")),
                "redis": stack.enter_context(running(
                    redis_spec(home / "redis", port=free_port(), persistent=False),
                    home / "redis.log")),
                "kafka": stack.enter_context(running(
                    kafka_spec(jars.resolve("kafka"), home / "kafka", port=free_port(),
                               controller_port=free_port()), home / "kafka.log")),
            }
            yield servers
            for server in servers.values():  # never leave one stopped for `stop`
                signal_group(server, signal.SIGCONT)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def signal_group(server: RunningServer, signum: int) -> None:
    """Signal the server and every process it started (PostgreSQL's backends): each
    server is the leader of its own process group."""
    try:
        os.killpg(server.process.pid, signum)
    except ProcessLookupError:
        pass


def start_roles(env: dict[str, str], work: Path) -> dict[str, subprocess.Popen[bytes]]:
    """writeapi, readapi, relay and a worker, as `up` starts them (ready files and all)."""
    work.mkdir(parents=True, exist_ok=True)
    roles = {}
    for name, argv in (("writeapi", ["--port", str(free_port())]),
                       ("readapi", ["--port", str(free_port())]),
                       ("relay", []), ("worker", [])):
        with (work / f"{name}.log").open("ab") as log:
            roles[name] = subprocess.Popen(
                [str(PHOTOSHARE), name, *argv], stdout=log, stderr=log, cwd=work,
                env={**env, READY_FILE_ENV: str(work / f"{name}.ready")},
                preexec_fn=dies_with_this_process())
    return roles


def role_answers(work: Path, name: str, process: subprocess.Popen[bytes]) -> bool:
    argv = process.args
    assert isinstance(argv, list)
    if "--port" in argv:
        try:
            return DIRECT.get(f"http://127.0.0.1:{argv[-1]}/healthz").status_code == 200
        except httpx.TransportError:
            return False
    try:
        return (work / f"{name}.ready").read_text() == str(process.pid)
    except OSError:
        return False


def stop_times(roles: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """SIGTERM every role at once; the seconds each took to exit (at most 30: killed)."""
    began = time.monotonic()
    for process in roles.values():
        process.send_signal(signal.SIGTERM)
    took: dict[str, float] = {}
    while len(took) < len(roles):
        for name, process in roles.items():
            if name not in took and process.poll() is not None:
                took[name] = time.monotonic() - began
        if time.monotonic() - began > 30:
            for name, process in roles.items():
                if name not in took:
                    process.kill()
                    process.wait()
                    took[name] = float("inf")
        time.sleep(0.02)
    return took


def role_env(servers: dict[str, RunningServer], dsn: str, work: Path) -> dict[str, str]:
    test_id = uuid.uuid4().hex[:12]
    return {**os.environ,
            "PHOTOSHARE_PROFILE": "cluster",
            "PHOTOSHARE_POSTGRES_DSN": dsn,
            "PHOTOSHARE_KAFKA_BOOTSTRAP": servers["kafka"].address,
            "PHOTOSHARE_KAFKA_TOPIC_PREFIX": f"test-{test_id}.",
            "PHOTOSHARE_WORKER_GROUP": f"test-{test_id}-views",
            "PHOTOSHARE_KAFKA_PARTITIONS": "2",
            "PHOTOSHARE_KAFKA_SESSION_TIMEOUT_SECONDS": "10",
            "PHOTOSHARE_REDIS_URL": servers["redis"].address,
            "PHOTOSHARE_REDIS_PREFIX": f"test-{test_id}:",
            "PHOTOSHARE_DATA_DIR": str(work / "data"),
            "PHOTOSHARE_SECRET_KEY": f"supervision-test-{test_id}-{uuid.uuid4().hex}",
            "PHOTOSHARE_PASSWORD_HASH_MEMORY_KIB": "1024",
            "PHOTOSHARE_PASSWORD_HASH_TIME_COST": "1"}


def test_every_role_stops_within_seconds_of_sigterm_when_its_servers_are_gone(
        tmp_path: Path) -> None:
    with private_servers() as servers:
        dsn = f"{servers['postgres'].address}/photoshare"
        ensure_database(dsn)
        figures = []
        # Frozen first (the servers come back afterwards), then killed for good.
        for how in ("frozen", "killed"):
            work = tmp_path / how
            roles = start_roles(role_env(servers, dsn, work), work)
            try:
                deadline = time.monotonic() + 180
                while not all(role_answers(work, name, process)
                              for name, process in roles.items()):
                    for name, process in roles.items():
                        assert process.poll() is None, (
                            name, (work / f"{name}.log").read_text()[-3000:])
                    assert time.monotonic() < deadline, "the roles did not all answer"
                    time.sleep(0.1)
                for server in servers.values():
                    signal_group(server, signal.SIGSTOP if how == "frozen"
                                 else signal.SIGKILL)
                time.sleep(2)  # the roles notice (or not) and go on retrying
                took = stop_times(roles)
            finally:
                for process in roles.values():
                    if process.poll() is None:
                        process.kill()
                        process.wait()
                if how == "frozen":
                    for server in servers.values():
                        signal_group(server, signal.SIGCONT)
            figures.append(f"servers {how}: " + ", ".join(
                f"{name} {seconds:.1f} s" for name, seconds in took.items()))
            assert max(took.values()) <= STOP_LIMIT_SECONDS, figures[-1]
        print("\nSIGTERM to exit, every role at once: " + "; ".join(figures))


def test_relay_and_worker_stop_within_seconds_of_sigterm_when_no_server_answers(
        tmp_path: Path) -> None:
    # A server address that takes connections and never answers (a hung server), and
    # one nobody listens on.
    hung = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        nowhere = free_port()
        figures = []
        for label, address in (("hung", hung.getsockname()[1]), ("refused", nowhere)):
            work = tmp_path / label
            work.mkdir()
            env = {**os.environ, "PHOTOSHARE_PROFILE": "cluster",
                   "PHOTOSHARE_POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{address}/x",
                   "PHOTOSHARE_KAFKA_BOOTSTRAP": f"127.0.0.1:{address}",
                   "PHOTOSHARE_DATA_DIR": str(work / "data"),
                   "PHOTOSHARE_LOG_LEVEL": "INFO"}
            roles = {}
            for name in ("relay", "worker"):
                with (work / f"{name}.log").open("ab") as log:
                    roles[name] = subprocess.Popen(
                        [str(PHOTOSHARE), name], stdout=log, stderr=log, cwd=work, env=env,
                        preexec_fn=dies_with_this_process())
            try:
                # Until each is trying to reach the broker (past its start-up, its
                # signal handling in place).
                deadline = time.monotonic() + 60
                while not all(f"127.0.0.1:{address}" in (work / f"{name}.log").read_text()
                              for name in roles):
                    assert time.monotonic() < deadline, "the roles never tried the broker"
                    time.sleep(0.1)
                time.sleep(1)
                took = stop_times(roles)
            finally:
                for process in roles.values():
                    if process.poll() is None:
                        process.kill()
                        process.wait()
            figures.append(f"{label}: " + ", ".join(
                f"{name} {seconds:.1f} s" for name, seconds in took.items()))
            assert max(took.values()) <= STOP_LIMIT_SECONDS, figures[-1]
        print("\nSIGTERM to exit, no server answering: " + "; ".join(figures))
    finally:
        hung.close()

"""`photoshare up`: every role of the cluster profile on one machine, as separate
processes, supervised (a role that dies is restarted, with back-off), stopped together,
behind one port (`infra.gateway`).

The servers (PostgreSQL, Kafka, Redis, and optionally S3, Cassandra, OpenSearch) are not
started here: their addresses come from the PHOTOSHARE_* settings, as in production
(`photoshare local-cluster` starts them all on this machine first).

The public port opens only once every role answers: each API process its /healthz, the
relay and each worker by writing its pid to the file named in PHOTOSHARE_READY_FILE
(`report_ready`: the relay once it has read the log and published, or stands by; a
worker once the consumer group gave it its partitions). Until then a connection is
refused, and afterwards the gateway's own /healthz answers 503 while any role does not
answer (one being restarted). No role outlives `up`: each gets SIGKILL from the kernel
should `up` die (PR_SET_PDEATHSIG), and each ends itself at the latest
`ROLE_STOP_SECONDS` after SIGTERM (`stop_within`), whatever it was waiting for.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from photoshare.infra.localcluster.process import dies_with_this_process, free_port
from photoshare.infra.logs import resolve_log_format
from photoshare.infra.settings import Settings

log = logging.getLogger("photoshare.up")

MAX_BACKOFF_SECONDS = 10.0
# A role that stayed up this long is healthy again: its next crash restarts at once.
HEALTHY_AFTER_SECONDS = 30.0
# Probes in a row an API process fails before it no longer counts as answering (one
# that has died stops counting at once).
PROBE_FAILURES = 2
# How long a role may take to stop after SIGTERM before it ends itself (SIGALRM).
ROLE_STOP_SECONDS = 4.0
# The file a role writes its pid to once it works (relay, workers; see `report_ready`).
READY_FILE_ENV = "PHOTOSHARE_READY_FILE"
T = TypeVar("T")
# Every role is forked by this one thread, which lives as long as the process: the
# kernel's parent-death signal follows the *thread* that forked, so a role restarted by
# the watcher thread would otherwise be killed when that thread ends (at `stop`).
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="role-spawner")


# --- what a role process does --------------------------------------------------------

_stop_armed = False


def stop_within(seconds: float = ROLE_STOP_SECONDS) -> None:
    """Called when a role is asked to stop: should its clean stop not be over `seconds`
    from now (a server it waits for is gone: PostgreSQL, Kafka), the kernel ends it.

    SIGALRM with its default action, so nothing in this process has to run for it: not
    a thread, not the event loop, not the main thread (which may be blocked in a
    driver). Ending a role half-way is safe: the relay and the workers are built to
    survive a crash (at least once, checkpoints); a write in flight is committed or not
    in one transaction, and through the gateway its client hears 502
    `upstream_outcome_unknown` (retry with its Idempotency-Key). Armed once; later calls
    change nothing."""
    global _stop_armed
    if _stop_armed:
        return
    _stop_armed = True
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    except ValueError:  # not the main thread: the default action is all there is
        pass
    signal.setitimer(signal.ITIMER_REAL, seconds)


def report_ready() -> None:
    """Tell `up` this role works (no-op when not started by `up`)."""
    path = os.environ.get(READY_FILE_ENV)
    if not path:
        return
    partial = f"{path}.{os.getpid()}"
    with open(partial, "w") as out:
        out.write(str(os.getpid()))
    os.replace(partial, path)


# --- the supervisor ------------------------------------------------------------------


@dataclass
class Role:
    """One supervised process: its name (e.g. `worker-2`) and its command line; how `up`
    tells that it answers: `health_url` (an HTTP /healthz) or `ready_file` (see
    `report_ready`); with neither, a running process answers."""

    name: str
    argv: list[str]
    health_url: str | None = None
    ready_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.5
    next_start: float = field(default=0.0)
    answered_by: int | None = None  # the pid whose /healthz last answered 200
    failed_probes: int = 0  # in a row, since it last answered


class Supervisor:
    def __init__(self, roles: list[Role], env: dict[str, str]) -> None:
        self.roles, self.env = roles, env
        self.stopping = threading.Event()
        self._lock = threading.Lock()  # no role starts once `stop` has begun

    def start(self) -> None:
        for role in self.roles:
            self._spawn(role)

    def _spawn(self, role: Role) -> None:
        with self._lock:
            if self.stopping.is_set():
                return  # never restart a role while stopping them all
            env = self.env
            if role.ready_file is not None:
                role.ready_file.unlink(missing_ok=True)
                env = {**env, READY_FILE_ENV: str(role.ready_file)}
            role.answered_by, role.failed_probes = None, 0
            # Should `up` be killed outright, the kernel kills its roles too.
            role.process = _SPAWNER.submit(subprocess.Popen, role.argv, env=env,
                                           preexec_fn=dies_with_this_process()).result()
            role.started_at = time.monotonic()
        log.info("started %s (pid %d)", role.name, role.process.pid)

    def watch(self, poll_seconds: float = 0.2) -> None:
        """Restart roles that exit, until `stopping` is set."""
        while not self.stopping.wait(poll_seconds):
            now = time.monotonic()
            for role in self.roles:
                if role.process is None or role.process.poll() is None:
                    continue
                if role.next_start == 0.0:
                    if now - role.started_at > HEALTHY_AFTER_SECONDS:
                        role.backoff = 0.5
                    log.warning("%s exited with %s; restarting in %.1f s", role.name,
                                role.process.returncode, role.backoff)
                    role.next_start = now + role.backoff
                    role.backoff = min(role.backoff * 2, MAX_BACKOFF_SECONDS)
                elif now >= role.next_start:
                    role.next_start = 0.0
                    role.restarts += 1
                    self._spawn(role)

    # -- does every role answer? --

    def answers(self, role: Role) -> bool:
        """Whether `role`'s current process runs and answers (as last probed)."""
        process = role.process
        if process is None or process.poll() is not None:
            return False
        if role.health_url is not None:
            return role.answered_by == process.pid
        if role.ready_file is not None:
            try:
                return role.ready_file.read_text() == str(process.pid)
            except OSError:
                return False
        return True

    def waiting_for(self) -> list[str]:
        """The names of the roles that do not answer now (none: all of them do)."""
        return [role.name for role in self.roles if not self.answers(role)]

    def probe(self, get: Callable[[str], int]) -> None:
        """Ask every API process's /healthz once (`get`: url -> status, raising when
        nothing answers)."""
        for role in self.roles:
            process = role.process
            if role.health_url is None or process is None or process.poll() is not None:
                continue
            try:
                ok = get(role.health_url) == 200
            except Exception:  # noqa: BLE001 - not answering, whatever the reason
                ok = False
            if ok:
                role.answered_by, role.failed_probes = process.pid, 0
            else:
                role.failed_probes += 1
                if role.failed_probes >= PROBE_FAILURES:  # not one slow answer
                    role.answered_by = None

    def monitor(self, poll_seconds: float = 0.5) -> None:
        """Probe the API processes until `stopping` is set (a daemon thread)."""
        import httpx

        with httpx.Client(timeout=1.0, trust_env=False) as client:
            def get(url: str) -> int:
                return client.get(url).status_code

            while True:
                self.probe(get)
                if self.stopping.wait(poll_seconds if not self.waiting_for() else 0.1):
                    return

    def wait_until_ready(self, cancel: threading.Event, *,
                         report_every: float = 10.0) -> bool:
        """Block until every role answers (True) or `cancel` or `stopping` is set."""
        began = last_report = time.monotonic()
        while not (cancel.is_set() or self.stopping.is_set()):
            waiting = self.waiting_for()
            if not waiting:
                return True
            if time.monotonic() - last_report >= report_every:
                last_report = time.monotonic()
                log.warning("after %.0f s still waiting for %s to answer",
                            last_report - began, ", ".join(waiting))
            cancel.wait(0.05)
        return False

    def stop(self, timeout: float = ROLE_STOP_SECONDS + 6.0) -> None:
        """SIGTERM every role, then SIGKILL what has not exited in `timeout` (each role
        ends itself `ROLE_STOP_SECONDS` after SIGTERM: this is the last resort)."""
        with self._lock:
            self.stopping.set()
        running = [(role, role.process) for role in self.roles
                   if role.process is not None and role.process.poll() is None]
        began = time.monotonic()
        for _, process in running:
            process.terminate()
        deadline = began + timeout
        for role, process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) did not stop within %.0f s of SIGTERM: killed",
                            role.name, process.pid, timeout)
                process.kill()
                process.wait()
            else:
                if process.returncode == -signal.SIGALRM:
                    log.warning("%s (pid %d) did not stop cleanly: it ended itself %.0f s "
                                "after SIGTERM", role.name, process.pid, ROLE_STOP_SECONDS)
        log.info("stopped %d roles in %.1f s", len(running), time.monotonic() - began)


def prepare(settings: Settings) -> None:
    """What the roles need before they start: the database, the topics, the Cassandra
    keyspace and OpenSearch indices when those serve views (each role makes the event
    store's tables if missing, one at a time: `infra.roots.embedded.open_event_store`).
    Each step is safe to repeat; each waits up to a minute for its server, which may
    still be starting."""
    from photoshare.infra.kafka.client import ensure_topics
    from photoshare.infra.postgres.event_store import ensure_database

    if _retrying(lambda: ensure_database(settings.postgres_dsn)):
        log.info("created the PostgreSQL database for the event store")
    _retrying(lambda: ensure_topics(settings))
    if settings.cassandra_hosts:
        from photoshare.infra.cassandra.schema import init_cassandra

        _retrying(lambda: init_cassandra(settings.cassandra_hosts or "",
                                         settings.cassandra_keyspace,
                                         settings.cassandra_replication_factor))
    if settings.opensearch_url:
        from opensearchpy import OpenSearch

        from photoshare.infra.opensearch.search import create_indices

        _retrying(lambda: create_indices(OpenSearch(settings.opensearch_url),
                                         settings.opensearch_index_prefix))
    settings.data_dir.mkdir(parents=True, exist_ok=True)


def _retrying(step: Callable[[], T], seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except Exception:  # noqa: BLE001 - the server may still be starting
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def shared_secret(settings: Settings) -> str:
    """The signing key `up` hands its API roles: PHOTOSHARE_SECRET_KEY if set, else one
    kept in the data dir, read by this process only (so tokens outlive a restart)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    from photoshare.infra.auth.tokens import load_or_create_secret

    return load_or_create_secret(settings.secret_key_path)


def _run_dir() -> Path:
    """A scratch dir of this `up`'s own (its roles' ready files); first away with those
    of `up`s killed outright before, which could not remove theirs."""
    base = Path(tempfile.gettempdir())
    for old in base.glob("photoshare-up-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"photoshare-up-{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind the public port now, so one something listens on fails `up` before anything
    starts, but do not listen: connections are refused until the gateway serves (once
    every role answers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def up(settings: Settings, *, writers: int, readers: int, workers: int) -> int:
    import uvicorn

    from photoshare.infra.http.gateway import Gateway
    from photoshare.infra.http.serving import ApiServer

    try:
        public = reserve_port(settings.host, settings.port)
    except OSError as error:
        print(f"photoshare up: cannot listen on {settings.host}:{settings.port}: {error}",
              file=sys.stderr)
        return 1
    began = time.monotonic()
    prepare(settings)
    photoshare = str(Path(sys.executable).parent / "photoshare")
    env = {**os.environ, "PHOTOSHARE_PROFILE": "cluster",
           "PHOTOSHARE_DATA_DIR": str(settings.data_dir.resolve()),
           "PHOTOSHARE_SECRET_KEY": shared_secret(settings),
           # The roles listen on 127.0.0.1 behind the gateway, which says who the client is.
           "PHOTOSHARE_FORWARDED_ALLOW_IPS": "127.0.0.1",
           # The roles (writing to up's stderr) log as up does, --log-format included.
           "PHOTOSHARE_LOG_FORMAT": resolve_log_format(settings.log_format)}
    env.pop(READY_FILE_ENV, None)
    run_dir = _run_dir()
    roles: list[Role] = []
    reader_urls, writer_urls = [], []
    for kind, count, urls in (("writeapi", writers, writer_urls),
                              ("readapi", readers, reader_urls)):
        for index in range(1, count + 1):
            port = free_port()
            urls.append(f"http://127.0.0.1:{port}")
            roles.append(Role(f"{kind}-{index}", [photoshare, kind, "--host", "127.0.0.1",
                                                  "--port", str(port)],
                              health_url=f"{urls[-1]}/healthz"))
    roles.append(Role("relay", [photoshare, "relay"], ready_file=run_dir / "relay.ready"))
    roles += [Role(f"worker-{index}", [photoshare, "worker"],
                   ready_file=run_dir / f"worker-{index}.ready")
              for index in range(1, workers + 1)]
    supervisor = Supervisor(roles, env)
    gateway = Gateway(reader_urls, writer_urls, health=supervisor.waiting_for)
    # It ends the live streams it relays as it stops (browser tabs never close theirs).
    server = ApiServer(uvicorn.Config(gateway, host=settings.host, port=settings.port,
                                      log_config=None, access_log=False,
                                      server_header=False, timeout_graceful_shutdown=5,
                                      proxy_headers=bool(settings.forwarded_allow_ips),
                                      forwarded_allow_ips=(settings.forwarded_allow_ips
                                                           or None)),
                       name=None, on_stop=gateway.end_streams)
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()
        server.should_exit = True

    # Until the gateway runs (and again once it has: uvicorn re-raises the signal that
    # stopped it, whose default action would end this process before its roles).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    try:
        supervisor.start()
        threading.Thread(target=supervisor.watch, name="supervisor", daemon=True).start()
        threading.Thread(target=supervisor.monitor, name="role-probe", daemon=True).start()
        log.info("photoshare (cluster profile) starting: %d write API, %d read API, 1 relay, "
                 "%d worker processes; http://%s:%d opens once they all answer", writers,
                 readers, workers, settings.host, settings.port)
        if supervisor.wait_until_ready(stop):
            log.info("ready: http://%s:%d answers, with all %d roles answering (%.1f s "
                     "after start)", settings.host, settings.port, len(roles),
                     time.monotonic() - began)
            server.run(sockets=[public])  # until SIGINT / SIGTERM
    finally:
        public.close()
        supervisor.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0

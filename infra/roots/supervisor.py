"""`photoshare up`: every role of the cluster profile on one machine, as separate
processes, supervised (a role that dies is restarted, with back-off), stopped together,
behind one port (`infra.gateway`).

The servers (PostgreSQL, Kafka, Redis, and optionally S3, Cassandra, OpenSearch) are not
started here: their addresses come from the PHOTOSHARE_* settings, as in production
(`photoshare local-cluster` starts them all on this machine first).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from photoshare.infra.localcluster.process import die_with_parent, free_port
from photoshare.infra.settings import Settings

log = logging.getLogger("photoshare.up")

MAX_BACKOFF_SECONDS = 10.0
# A role that stayed up this long is healthy again: its next crash restarts at once.
HEALTHY_AFTER_SECONDS = 30.0
T = TypeVar("T")


@dataclass
class Role:
    """One supervised process: its name (e.g. `worker-2`) and its command line."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.5
    next_start: float = field(default=0.0)


class Supervisor:
    def __init__(self, roles: list[Role], env: dict[str, str]) -> None:
        self.roles, self.env = roles, env
        self.stopping = threading.Event()

    def start(self) -> None:
        for role in self.roles:
            self._spawn(role)

    def _spawn(self, role: Role) -> None:
        if self.stopping.is_set():
            return  # never restart a role while stopping them all
        # die_with_parent: should this process be killed outright, its roles go with it.
        role.process = subprocess.Popen(role.argv, env=self.env, preexec_fn=die_with_parent)
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

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every role, then SIGKILL what has not exited in `timeout`."""
        self.stopping.set()
        running = [r.process for r in self.roles if r.process and r.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def prepare(settings: Settings) -> None:
    """What the roles need before they start: the database, the topics, the Cassandra
    keyspace and OpenSearch indices when those serve views. Each step is
    safe to repeat; each waits up to a minute for its server, which may still be starting."""
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


def announce_ready(supervisor: Supervisor, urls: list[str], public_url: str,
                   settle_seconds: float = 3.0) -> None:
    """Say "ready" once every API process and the gateway answer /healthz and every other
    role (relay, workers) has stayed up `settle_seconds`, so a user knows when to start."""
    import httpx

    waiting = set(urls)
    while waiting and not supervisor.stopping.is_set():
        for url in list(waiting):
            try:
                if httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    waiting.discard(url)
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    while not supervisor.stopping.is_set():
        now = time.monotonic()
        if all(role.process is not None and role.process.poll() is None
               and now - role.started_at >= settle_seconds for role in supervisor.roles):
            log.info("ready: http://%s answers, with all %d roles up",
                     public_url.removeprefix("http://"), len(supervisor.roles))
            return
        time.sleep(0.2)


def shared_secret(settings: Settings) -> str:
    """The signing key `up` hands its API roles: PHOTOSHARE_SECRET_KEY if set, else one
    kept in the data dir, read by this process only (so tokens outlive a restart)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    from photoshare.infra.auth.tokens import load_or_create_secret

    return load_or_create_secret(settings.secret_key_path)


def up(settings: Settings, *, writers: int, readers: int, workers: int) -> int:
    import uvicorn

    from photoshare.infra.http.gateway import Gateway

    prepare(settings)
    photoshare = str(Path(sys.executable).parent / "photoshare")
    env = {**os.environ, "PHOTOSHARE_PROFILE": "cluster",
           "PHOTOSHARE_DATA_DIR": str(settings.data_dir.resolve()),
           "PHOTOSHARE_SECRET_KEY": shared_secret(settings)}
    roles: list[Role] = []
    reader_urls, writer_urls = [], []
    for kind, count, urls in (("writeapi", writers, writer_urls),
                              ("readapi", readers, reader_urls)):
        for index in range(1, count + 1):
            port = free_port()
            urls.append(f"http://127.0.0.1:{port}")
            roles.append(Role(f"{kind}-{index}", [photoshare, kind, "--host", "127.0.0.1",
                                                  "--port", str(port)]))
    roles.append(Role("relay", [photoshare, "relay"]))
    roles += [Role(f"worker-{index}", [photoshare, "worker"])
              for index in range(1, workers + 1)]
    supervisor = Supervisor(roles, env)
    supervisor.start()
    watcher = threading.Thread(target=supervisor.watch, name="supervisor", daemon=True)
    watcher.start()
    log.info("photoshare (cluster profile) starting on http://%s:%d: %d write API, "
             "%d read API, 1 relay, %d worker processes", settings.host, settings.port,
             writers, readers, workers)
    gateway_url = f"http://127.0.0.1:{settings.port}"
    threading.Thread(target=announce_ready, name="ready",
                     args=(supervisor, [*writer_urls, *reader_urls, gateway_url],
                           f"http://{settings.host}:{settings.port}"), daemon=True).start()
    server = uvicorn.Server(uvicorn.Config(Gateway(reader_urls, writer_urls),
                                           host=settings.host, port=settings.port,
                                           log_config=None, access_log=False,
                                           server_header=False, timeout_graceful_shutdown=5))
    # uvicorn re-raises the signal that stopped it once it has shut down: with SIGTERM's
    # default action that would end this process before the roles are stopped. Ours only
    # asks the gateway to stop (also when the signal comes before it runs).
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()  # until SIGINT / SIGTERM
    finally:
        supervisor.stop()
    return 0




"""The real servers the tests talk to, each started once per test session on free ports
and stopped when the session ends: PostgreSQL, Redis, Apache Kafka, Apache Cassandra,
OpenSearch, and two S3 API servers: moto (in memory) and S3Proxy (on files, what `make
cluster` runs).

A server starts the first time a test asks for it (`Engines.address`), or earlier, in
the background, when the session knows it will be needed (`Engines.warm`, called once
the tests are collected), so the JVMs boot while the first tests run. Every server's
output goes to `test-artifacts/engines/<name>.log`, kept after the run for a failure to
be read. A server that does not start fails the tests that need it, with its log; it is
never a reason to skip.

Tests share a server, never its data: each takes its own PostgreSQL database, Redis key
prefix, Kafka topic prefix, Cassandra keyspace or OpenSearch index prefix (see
`tests/support/cluster.py` and the contract suites' fixtures).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from photoshare.infra.localcluster import jars
from photoshare.infra.localcluster.cassandra import cassandra_spec
from photoshare.infra.localcluster.kafka import kafka_spec
from photoshare.infra.localcluster.opensearch import opensearch_spec
from photoshare.infra.localcluster.postgres import postgres_spec
from photoshare.infra.localcluster.process import (
    RunningServer,
    ServerSpec,
    free_port,
    start,
    stop,
)
from photoshare.infra.localcluster.redis import redis_spec
from photoshare.infra.localcluster.s3proxy import s3proxy_spec
from support.s3_server import TEST_ACCESS_KEY, TEST_SECRET_KEY, s3_server_spec

ENGINES = ("postgres", "redis", "kafka", "cassandra", "opensearch", "s3", "s3proxy")
REPO = Path(__file__).resolve().parents[2]
LOG_DIR = REPO / "test-artifacts" / "engines"


class Engines:
    """The session's servers by name; thread-safe, each started at most once."""

    def __init__(self, log_dir: Path = LOG_DIR) -> None:
        self.log_dir = log_dir
        # Under /tmp, readable by all: PostgreSQL runs as the `postgres` user when we are
        # root, and pytest's own temporary directories are private to us.
        self.home = Path(tempfile.mkdtemp(prefix="photoshare-engines-"))
        self.home.chmod(0o755)
        self._pool = ThreadPoolExecutor(max_workers=len(ENGINES), thread_name_prefix="engine")
        self._started: dict[str, Future[str]] = {}
        self._servers: dict[str, RunningServer] = {}
        self._lock = threading.Lock()
        self.start_seconds: dict[str, float] = {}
        shutil.rmtree(log_dir, ignore_errors=True)
        log_dir.mkdir(parents=True, exist_ok=True)

    def warm(self, names: set[str]) -> None:
        """Start these servers in the background now (the JVMs take seconds each)."""
        for name in ENGINES:
            if name in names:
                self._future(name)

    def address(self, name: str) -> str:
        """The server's address, starting it first if needed; raises if it cannot start."""
        return self._future(name).result()

    def _future(self, name: str) -> Future[str]:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}")
        with self._lock:
            if name not in self._started:
                self._started[name] = self._pool.submit(self._start, name)
            return self._started[name]

    def _start(self, name: str) -> str:
        began = time.monotonic()
        server = start(self._spec(name), self.log_dir / f"{name}.log")
        with self._lock:
            self._servers[name] = server
        self.start_seconds[name] = time.monotonic() - began
        return server.address

    def _spec(self, name: str) -> ServerSpec:
        home = self.home / name
        if name == "postgres":
            return postgres_spec(home, port=free_port(), durable=False)
        if name == "redis":
            return redis_spec(home, port=free_port(), persistent=False)
        if name == "s3":
            return s3_server_spec(free_port())
        lib_dir = jars.resolve(name)
        if name == "kafka":
            return kafka_spec(lib_dir, home, port=free_port(), controller_port=free_port())
        if name == "cassandra":
            return cassandra_spec(lib_dir, home, port=free_port(), storage_port=free_port())
        if name == "s3proxy":
            return s3proxy_spec(lib_dir, home, port=free_port(), access_key=TEST_ACCESS_KEY,
                                secret_key=TEST_SECRET_KEY)
        return opensearch_spec(lib_dir, home, http_port=free_port(),
                               transport_port=free_port())

    def close(self) -> None:
        """Stop every server (JVMs in parallel: each takes seconds) and remove their data."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with ThreadPoolExecutor(max_workers=max(len(self._servers), 1)) as stopping:
            list(stopping.map(stop, self._servers.values()))
        shutil.rmtree(self.home, ignore_errors=True)

    def summary(self) -> str:
        """Each server's start-up time and its resident memory now (at the session's end)."""
        figures = []
        for name, seconds in sorted(self.start_seconds.items()):
            memory = _resident_mib(self._servers[name].process.pid)
            figures.append(f"{name} {seconds:.1f} s" + (f" {memory:.0f} MiB" if memory else ""))
        return (f"servers (start-up time, resident memory): {', '.join(figures) or 'none'}; "
                f"logs in {self.log_dir}")


def _resident_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def wanted_engines(fixture_names: set[str]) -> set[str]:
    """Which servers a test's fixtures need (the fixtures are in tests/conftest.py). A
    test that takes `engines` itself (the cluster tests) may use any of them."""
    wanted = {engine for fixture, needs in FIXTURE_ENGINES.items()
              if fixture in fixture_names for engine in needs}
    if "engines" in fixture_names and not wanted:
        return set(CLUSTER_ENGINES)
    return wanted


# The conftest fixtures that stand for a server, and the servers each one needs.
FIXTURE_ENGINES: dict[str, tuple[str, ...]] = {
    "postgres_server": ("postgres",),
    "postgres_dsn": ("postgres",),
    "redis_url": ("redis",),
    "redis_client": ("redis",),
    "kafka_bootstrap": ("kafka",),
    "cassandra_hosts": ("cassandra",),
    "opensearch_url": ("opensearch",),
    "s3_endpoint": ("s3",),
    "s3proxy_endpoint": ("s3proxy",),
}
# What tests/support/cluster.py takes from `engines` for the cluster tests.
CLUSTER_ENGINES = ("postgres", "redis", "kafka", "cassandra", "opensearch", "s3")

"""The cluster profile's servers for tests: the session's real engines
(tests/support/engines.py) with this test's own PostgreSQL database, Redis key prefix,
Kafka topic prefix and consumer group, S3 buckets and, when asked, Cassandra keyspace and
OpenSearch index prefix; and `photoshare up` (or single roles) running against them as
real processes."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from photoshare.infra.localcluster.process import dies_with_this_process, free_port
from photoshare.infra.postgres.event_store import drop_database, ensure_database
from photoshare.infra.settings import Settings
from support.engines import Engines
from support.serve import PHOTOSHARE, wait_healthy


@dataclass
class ClusterServers:
    env: dict[str, str]
    dsn: str
    bootstrap: str
    redis_prefix: str
    data_dir: Path
    log_dir: Path

    def settings(self) -> Settings:
        """The settings the role processes read from `env`."""
        return Settings(**{key[len("PHOTOSHARE_"):].lower(): value
                           for key, value in self.env.items() if key.startswith("PHOTOSHARE_")})

    def role(self, *argv: str, log_name: str, inside: Sequence[str] = (),
             **env: str) -> subprocess.Popen[bytes]:
        """Start one `photoshare` role process, its output in `log_dir/log_name`, run
        through the command prefix `inside` if any (a network namespace's). It dies with
        this process (should pytest be killed, the kernel kills it too)."""
        with (self.log_dir / log_name).open("ab") as log:
            return subprocess.Popen([*inside, str(PHOTOSHARE), *argv], stdout=log, stderr=log,
                                    env={**self.env, **env},
                                    preexec_fn=dies_with_this_process())


@contextmanager
def cluster_servers(engines: Engines, tmp_path: Path, *, partitions: int = 4,
                    s3: bool = True, view_engines: bool = False,
                    **settings: str) -> Iterator[ClusterServers]:
    """The settings of a cluster of our own on the shared servers. `view_engines` serves
    every view from Cassandra, Redis and OpenSearch (else from one SQLite file)."""
    test_id = uuid.uuid4().hex[:12]
    dsn = f"{engines.address('postgres')}/photoshare_test_{test_id}"
    redis_url = engines.address("redis")
    prefix = f"photoshare-test-{test_id}:"
    log_dir = tmp_path / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ,
           "PHOTOSHARE_PROFILE": "cluster",
           "PHOTOSHARE_POSTGRES_DSN": dsn,
           "PHOTOSHARE_KAFKA_BOOTSTRAP": engines.address("kafka"),
           "PHOTOSHARE_KAFKA_TOPIC_PREFIX": f"test-{test_id}.",
           "PHOTOSHARE_WORKER_GROUP": f"test-{test_id}-views",
           "PHOTOSHARE_KAFKA_PARTITIONS": str(partitions),
           "PHOTOSHARE_KAFKA_SESSION_TIMEOUT_SECONDS": "10",
           "PHOTOSHARE_REDIS_URL": redis_url,
           "PHOTOSHARE_REDIS_PREFIX": prefix,
           "PHOTOSHARE_DATA_DIR": str(tmp_path / "data"),
           "PHOTOSHARE_SECRET_KEY": f"cluster-test-secret-{test_id}-{uuid.uuid4().hex}",
           "PHOTOSHARE_PASSWORD_HASH_MEMORY_KIB": "1024",
           "PHOTOSHARE_PASSWORD_HASH_TIME_COST": "1",
           # Load tests write far faster than a person: the abuse limits have tests of
           # their own (tests/api/test_abuse_limits.py).
           "PHOTOSHARE_USER_WRITES_PER_MINUTE": "100000",
           "PHOTOSHARE_REGISTRATIONS_PER_HOUR_PER_ADDRESS": "100000"}
    if s3:
        env.update({"PHOTOSHARE_S3_ENDPOINT": engines.address("s3"),
                    "PHOTOSHARE_S3_ACCESS_KEY": "test", "PHOTOSHARE_S3_SECRET_KEY": "test",
                    "PHOTOSHARE_S3_BUCKET": f"media-{test_id}",
                    "PHOTOSHARE_S3_ORIGINALS_BUCKET": f"originals-{test_id}"})
    if view_engines:
        env.update({"PHOTOSHARE_CASSANDRA_HOSTS": engines.address("cassandra"),
                    "PHOTOSHARE_CASSANDRA_KEYSPACE": f"photoshare_test_{test_id}",
                    "PHOTOSHARE_CASSANDRA_REPLICATION_FACTOR": "1",
                    "PHOTOSHARE_OPENSEARCH_URL": engines.address("opensearch"),
                    "PHOTOSHARE_OPENSEARCH_INDEX_PREFIX": f"photoshare-test-{test_id}-"})
    env.update(settings)
    ensure_database(dsn)
    try:
        yield ClusterServers(env, dsn, env["PHOTOSHARE_KAFKA_BOOTSTRAP"], prefix,
                             tmp_path / "data", log_dir)
    finally:
        drop_database(dsn)
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def processes_of(dsn: str) -> list[int]:
    """The pids of the processes whose environment names this event store (a test's own
    database): what `photoshare up` and its roles run with."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if f"PHOTOSHARE_POSTGRES_DSN={dsn}".encode() in environ:
            found.append(int(entry.name))
    return found


@contextmanager
def photoshare_up(servers: ClusterServers, *, workers: int = 2) -> Iterator[str]:
    """`photoshare up` on a free port; yields its base URL. Stopping it with SIGTERM must
    stop every role it started: the block fails if one outlives it."""
    port = free_port()
    process = servers.role("up", "--port", str(port), "--workers", str(workers),
                           log_name="up.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, servers.log_dir / "up.log")
        assert len(processes_of(servers.dsn)) > 1, "found no role of `photoshare up`"
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, (servers.log_dir / "up.log").read_text()[-3000:]
    assert processes_of(servers.dsn) == [], "roles outlived `photoshare up`"

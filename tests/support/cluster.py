"""The cluster profile's servers for tests: a fresh PostgreSQL database, a Redis key
prefix, the Tansu broker and the moto S3 server, and `photoshare up` (or single roles)
running against them as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from infra.postgres import drop_database, ensure_database
from infra.supervisor import free_port
from infra.settings import Settings
from tests.support.kafka_broker import tansu_broker
from tests.support.s3_server import running_s3_server

PHOTOSHARE = Path(sys.executable).parent / "photoshare"
REDIS_URL = "redis://127.0.0.1:6379/0"


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

    def role(self, *argv: str, log_name: str, **env: str) -> subprocess.Popen[bytes]:
        """Start one `photoshare` role process, its output in `log_dir/log_name`."""
        with (self.log_dir / log_name).open("ab") as log:
            return subprocess.Popen([str(PHOTOSHARE), *argv], stdout=log, stderr=log,
                                    env={**self.env, **env})


@contextmanager
def cluster_servers(tmp_path: Path, *, partitions: int = 4, s3: bool = True,
                    **settings: str) -> Iterator[ClusterServers]:
    name = f"photoshare_test_{uuid.uuid4().hex[:12]}"
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    prefix = f"photoshare-test-{uuid.uuid4().hex[:12]}:"
    log_dir = tmp_path / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        bootstrap = stack.enter_context(tansu_broker(log_dir / "tansu.log"))
        env = {**os.environ,
               "PHOTOSHARE_PROFILE": "cluster",
               "PHOTOSHARE_POSTGRES_DSN": dsn,
               "PHOTOSHARE_KAFKA_BOOTSTRAP": bootstrap,
               "PHOTOSHARE_KAFKA_PARTITIONS": str(partitions),
               "PHOTOSHARE_KAFKA_SESSION_TIMEOUT_SECONDS": "10",
               "PHOTOSHARE_REDIS_URL": REDIS_URL,
               "PHOTOSHARE_REDIS_PREFIX": prefix,
               "PHOTOSHARE_DATA_DIR": str(tmp_path / "data"),
               "PHOTOSHARE_PASSWORD_HASH_MEMORY_KIB": "1024",
               "PHOTOSHARE_PASSWORD_HASH_TIME_COST": "1",
               **settings}
        if s3:
            env.update({"PHOTOSHARE_S3_ENDPOINT": stack.enter_context(running_s3_server()),
                        "PHOTOSHARE_S3_ACCESS_KEY": "test", "PHOTOSHARE_S3_SECRET_KEY": "test",
                        "PHOTOSHARE_S3_BUCKET": f"media-{uuid.uuid4().hex[:8]}",
                        "PHOTOSHARE_S3_ORIGINALS_BUCKET": f"originals-{uuid.uuid4().hex[:8]}"})
        ensure_database(dsn)
        try:
            yield ClusterServers(env, dsn, bootstrap, prefix, tmp_path / "data", log_dir)
        finally:
            drop_database(dsn)
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path,
                 timeout: float = 90) -> None:
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
def photoshare_up(servers: ClusterServers, *, workers: int = 2) -> Iterator[str]:
    """`photoshare up` on a free port; yields its base URL."""
    port = free_port()
    process = servers.role("up", "--port", str(port), "--workers", str(workers),
                           log_name="up.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, servers.log_dir / "up.log")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

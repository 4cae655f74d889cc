"""Every server of the cluster profile on this machine, their data under one directory:
what `photoshare local-cluster` (`make cluster`) runs before `photoshare up`.

PostgreSQL (durable), Redis (append-only file), Apache Kafka, Apache Cassandra,
OpenSearch and S3Proxy (photos as files) start in parallel on 127.0.0.1. Their ports are
chosen once and kept in `<dir>/ports.json`, so a second run finds the same addresses (and
Kafka and Cassandra the same listeners) unless a port was taken meanwhile. `<dir>/env`
holds the PHOTOSHARE_* settings that reach them, for the operators' and analysts'
commands in another shell (`set -a; . data/cluster/env; set +a`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from photoshare.infra.localcluster import jars, s3proxy
from photoshare.infra.localcluster.cassandra import cassandra_spec
from photoshare.infra.localcluster.kafka import kafka_spec
from photoshare.infra.localcluster.opensearch import opensearch_spec
from photoshare.infra.localcluster.postgres import postgres_spec
from photoshare.infra.localcluster.process import (
    RunningServer,
    ServerSpec,
    free_port,
    port_is_free,
    start,
    stop,
)
from photoshare.infra.localcluster.redis import redis_spec

log = logging.getLogger("photoshare.localcluster")

# Port names per server, in the order the servers are listed to the user.
PORTS = {"postgres": ("port",), "redis": ("port",), "kafka": ("port", "controller_port"),
         "cassandra": ("port", "storage_port"), "opensearch": ("http_port", "transport_port"),
         "s3proxy": ("port",)}


@dataclass
class LocalServers:
    """The running servers and the settings that point the cluster profile at them."""

    directory: Path
    servers: dict[str, RunningServer]

    def settings_env(self) -> dict[str, str]:
        address = {name: server.address for name, server in self.servers.items()}
        return {
            "PHOTOSHARE_PROFILE": "cluster",
            "PHOTOSHARE_DATA_DIR": str(self.directory / "photoshare"),
            "PHOTOSHARE_POSTGRES_DSN": f"{address['postgres']}/photoshare",
            "PHOTOSHARE_REDIS_URL": address["redis"],
            "PHOTOSHARE_KAFKA_BOOTSTRAP": address["kafka"],
            # One broker: every topic has one replica, and so has the keyspace.
            "PHOTOSHARE_KAFKA_REPLICATION_FACTOR": "1",
            "PHOTOSHARE_CASSANDRA_HOSTS": address["cassandra"],
            "PHOTOSHARE_CASSANDRA_REPLICATION_FACTOR": "1",
            "PHOTOSHARE_OPENSEARCH_URL": address["opensearch"],
            "PHOTOSHARE_S3_ENDPOINT": address["s3proxy"],
            "PHOTOSHARE_S3_ACCESS_KEY": s3proxy.ACCESS_KEY,
            "PHOTOSHARE_S3_SECRET_KEY": s3proxy.SECRET_KEY,
        }

    def write_env_file(self) -> Path:
        path = self.directory / "env"
        path.write_text("# Written by `photoshare local-cluster`: the settings that reach "
                        "its servers.\n" + "".join(f"{key}={value}\n" for key, value
                                                   in self.settings_env().items()))
        return path


def _ports(directory: Path) -> dict[str, dict[str, int]]:
    """Last run's ports where they are still free, new free ports otherwise."""
    saved_path = directory / "ports.json"
    try:
        saved = json.loads(saved_path.read_text())
    except (OSError, ValueError):
        saved = {}
    chosen: dict[str, dict[str, int]] = {}
    for server, names in PORTS.items():
        chosen[server] = {}
        for name in names:
            port = saved.get(server, {}).get(name)
            reusable = isinstance(port, int) and port_is_free(port)
            chosen[server][name] = port if reusable else free_port()
    saved_path.write_text(json.dumps(chosen, indent=2) + "\n")
    return chosen


def _specs(directory: Path) -> dict[str, ServerSpec]:
    ports = _ports(directory)
    home = {name: directory / name for name in PORTS}
    return {
        "postgres": postgres_spec(home["postgres"], durable=True, **ports["postgres"]),
        "redis": redis_spec(home["redis"], persistent=True, **ports["redis"]),
        "kafka": kafka_spec(jars.resolve("kafka"), home["kafka"], **ports["kafka"]),
        "cassandra": cassandra_spec(jars.resolve("cassandra"), home["cassandra"],
                                    **ports["cassandra"]),
        "opensearch": opensearch_spec(jars.resolve("opensearch"), home["opensearch"],
                                      **ports["opensearch"]),
        "s3proxy": s3proxy.s3proxy_spec(jars.resolve("s3proxy"), home["s3proxy"],
                                        **ports["s3proxy"]),
    }


@contextmanager
def local_servers(directory: Path) -> Iterator[LocalServers]:
    """Start every server (in parallel) with its data under `directory`; stop them all
    when the block ends. If one cannot start, those that did are stopped and the error
    (with the server's log) is raised."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        directory.chmod(0o755)  # PostgreSQL runs as `postgres` and must reach its home
    specs = _specs(directory)
    started: dict[str, RunningServer] = {}
    try:
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = {name: pool.submit(start, spec, directory / "logs" / f"{name}.log")
                       for name, spec in specs.items()}
            errors = []
            for name, future in futures.items():
                try:
                    started[name] = future.result()
                    log.info("%s ready at %s in %.1f s", name, started[name].address,
                             started[name].started_in)
                except Exception as error:  # noqa: BLE001 - reported together below
                    errors.append(error)
            if errors:
                raise errors[0]
        yield LocalServers(directory, started)
    finally:
        with ThreadPoolExecutor(max_workers=max(len(started), 1)) as pool:
            list(pool.map(stop, started.values()))

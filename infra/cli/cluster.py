"""The cluster profile's commands: one per role, `up` for all of them on one machine, and
the one-shot set-up jobs. Settings come from PHOTOSHARE_* variables (the profile is
forced to `cluster`); flags override the few that differ per process."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from photoshare.infra.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"profile": "cluster"}
    for name in ("host", "port", "data_dir", "log_level"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    from photoshare.infra.logs import configure_logging

    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    return settings


def _serve_app(args: argparse.Namespace, factory_name: str) -> int:
    import uvicorn

    from photoshare.infra.roots import cluster

    settings = _settings(args)
    app = getattr(cluster, factory_name)(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, server_header=False)
    return 0


def _writeapi(args: argparse.Namespace) -> int:
    return _serve_app(args, "create_write_app")


def _readapi(args: argparse.Namespace) -> int:
    return _serve_app(args, "create_read_app")


def _relay(args: argparse.Namespace) -> int:
    from photoshare.infra.roots.cluster import run_relay

    settings = _settings(args)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_relay(settings, stop)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from photoshare.infra.roots.cluster import create_worker
    from photoshare.streams.worker import run_worker

    settings = _settings(args)
    run_worker(create_worker(settings), settings.log_level)
    return 0


def _up(args: argparse.Namespace) -> int:
    from photoshare.infra.roots.supervisor import up

    return up(_settings(args), writers=args.writers, readers=args.readers,
              workers=args.workers)


def _local_cluster(args: argparse.Namespace) -> int:
    import os

    from photoshare.infra.localcluster.jars import JarsError
    from photoshare.infra.localcluster.process import ServerStartError
    from photoshare.infra.localcluster.servers import local_servers
    from photoshare.infra.logs import configure_logging
    from photoshare.infra.roots.supervisor import up

    configure_logging(args.log_level or "INFO")
    print(f"starting PostgreSQL, Redis, Kafka, Cassandra, OpenSearch and S3Proxy in {args.dir} "
          "(the first run resolves the JVM engines' jars with Maven: minutes)", flush=True)
    try:
        with local_servers(args.dir) as servers:
            os.environ.update(servers.settings_env())
            env_file = servers.write_env_file()
            for name, server in servers.servers.items():
                print(f"  {name:<10} {server.address:<40} ready in {server.started_in:4.1f} s")
            print(f"settings for other shells: set -a; . {env_file}; set +a", flush=True)
            if args.servers_only:
                print("servers only (no photoshare roles); Ctrl-C stops them", flush=True)
                stop = threading.Event()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, lambda *_: stop.set())
                stop.wait()
                return 0
            return up(_settings(args), writers=args.writers, readers=args.readers,
                      workers=args.workers)
    except (ServerStartError, JarsError, FileNotFoundError) as error:
        print(f"photoshare local-cluster: {error}", file=sys.stderr)
        return 1


def _kafka_init(args: argparse.Namespace) -> int:
    from photoshare.infra.kafka.client import ensure_topics

    settings = _settings(args)
    created = ensure_topics(settings)
    print(f"created {len(created)} topic(s): {', '.join(created) or '-'} "
          f"({settings.kafka_partitions} partitions each)")
    return 0


def _cassandra_init(args: argparse.Namespace) -> int:
    from photoshare.infra.cassandra.schema import init_cassandra

    settings = _settings(args)
    if not settings.cassandra_hosts:
        print("photoshare: PHOTOSHARE_CASSANDRA_HOSTS is not set", file=sys.stderr)
        return 2
    init_cassandra(settings.cassandra_hosts.split(","), settings.cassandra_keyspace,
                   settings.cassandra_replication_factor)
    print(f"keyspace {settings.cassandra_keyspace} and its tables are ready")
    return 0


def _opensearch_init(args: argparse.Namespace) -> int:
    from opensearchpy import OpenSearch

    from photoshare.infra.opensearch.search import create_indices

    settings = _settings(args)
    if not settings.opensearch_url:
        print("photoshare: PHOTOSHARE_OPENSEARCH_URL is not set", file=sys.stderr)
        return 2
    create_indices(OpenSearch(settings.opensearch_url), settings.opensearch_index_prefix)
    print(f"indices and aliases {settings.opensearch_index_prefix}users / "
          f"{settings.opensearch_index_prefix}photos are ready")
    return 0


def _server_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1; "
                                       "PHOTOSHARE_HOST)")
    parser.add_argument("--port", type=int, help=f"port to listen on (e.g. {default_port}; "
                                                 "PHOTOSHARE_PORT)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="the signing secret, and the SQLite "
                                                      "views and photo files of views and "
                                                      "blobs without a cluster server "
                                                      "(PHOTOSHARE_DATA_DIR)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def add_cluster_commands(commands: Any) -> None:
    writeapi = commands.add_parser(
        "writeapi", help="cluster: the write API process (stateless; run any number)",
        description="Serve the write API on the PostgreSQL event store "
                    "(PHOTOSHARE_POSTGRES_DSN).")
    _server_options(writeapi, 8001)
    _common(writeapi)
    writeapi.set_defaults(handler=_writeapi)

    readapi = commands.add_parser(
        "readapi", help="cluster: the read API process (stateless; run any number)",
        description="Serve the read API from the view stores; live streams come from the "
                    "workers over Redis (PHOTOSHARE_REDIS_URL).")
    _server_options(readapi, 8002)
    _common(readapi)
    readapi.set_defaults(handler=_readapi)

    relay = commands.add_parser(
        "relay", help="cluster: publish the event store's log to Kafka (one active)",
        description="Publish the log to the Kafka topics (PHOTOSHARE_KAFKA_BOOTSTRAP), "
                    "recording its position in PostgreSQL after the broker acknowledged. "
                    "A second relay stands by until the first one's lock is released.")
    _common(relay)
    relay.set_defaults(handler=_relay)

    worker = commands.add_parser(
        "worker", help="cluster: a Faust worker applying the projections (scale to the "
                       "partition count)",
        description="Consume the event topics in the consumer group PHOTOSHARE_WORKER_GROUP "
                    "and apply every projection to the view stores.")
    _common(worker)
    worker.set_defaults(handler=_worker)

    up = commands.add_parser(
        "up", help="cluster: every role as its own supervised process behind one port",
        description="Start the write API, read API, relay and worker processes of the "
                    "cluster profile on this machine, restart any that dies, stop them "
                    "together, and route the API through one port (reads to the read "
                    "API, the rest to the write API). The servers' addresses come from "
                    "PHOTOSHARE_POSTGRES_DSN, PHOTOSHARE_KAFKA_BOOTSTRAP, "
                    "PHOTOSHARE_REDIS_URL and (optionally) PHOTOSHARE_S3_ENDPOINT.")
    _server_options(up, 8000)
    _common(up)
    up.add_argument("--writers", type=int, default=1, help="write API processes (default 1)")
    up.add_argument("--readers", type=int, default=1, help="read API processes (default 1)")
    up.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    up.set_defaults(handler=_up)

    local = commands.add_parser(
        "local-cluster", help="cluster: start PostgreSQL, Redis, Kafka, Cassandra, "
                              "OpenSearch and S3Proxy here, then `up` on them (what `make "
                              "cluster` runs)",
        description="Start every server of the cluster profile on this machine, on "
                    "127.0.0.1, with their data under --dir (kept between runs): PostgreSQL "
                    "and Redis from Debian's packages; Apache Kafka, Apache Cassandra, "
                    "OpenSearch and S3Proxy (an S3 API on files) from jars Maven resolves "
                    "from Maven Central (a JDK 17 and Maven needed). Then run `up` on them, "
                    "with the graph and photos views on Cassandra, search on OpenSearch and "
                    "photos in S3Proxy. Ctrl-C stops the roles, then the servers. DIR/env "
                    "holds the settings for other shells.")
    local.add_argument("--dir", type=Path, default=Path("data/cluster"),
                       help="the servers' data, logs, ports and env file "
                            "(default data/cluster)")
    local.add_argument("--servers-only", action="store_true",
                       help="start the servers but no photoshare role")
    _server_options(local, 8000)
    local.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    local.add_argument("--writers", type=int, default=1, help="write API processes (default 1)")
    local.add_argument("--readers", type=int, default=1, help="read API processes (default 1)")
    local.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    local.set_defaults(handler=_local_cluster)

    kafka = commands.add_parser("kafka", help="cluster: Kafka set-up")
    kafka_commands = kafka.add_subparsers(dest="kafka_command", required=True)
    kafka_init = kafka_commands.add_parser(
        "init", help="create the event topics (PHOTOSHARE_KAFKA_PARTITIONS partitions)")
    _common(kafka_init)
    kafka_init.set_defaults(handler=_kafka_init)

    cassandra = commands.add_parser("cassandra", help="cluster: Cassandra set-up")
    cassandra_commands = cassandra.add_subparsers(dest="cassandra_command", required=True)
    cassandra_init = cassandra_commands.add_parser(
        "init", help="create the keyspace (PHOTOSHARE_CASSANDRA_KEYSPACE) and the view tables")
    _common(cassandra_init)
    cassandra_init.set_defaults(handler=_cassandra_init)

    opensearch = commands.add_parser("opensearch", help="cluster: OpenSearch set-up")
    opensearch_commands = opensearch.add_subparsers(dest="opensearch_command", required=True)
    opensearch_init = opensearch_commands.add_parser(
        "init", help="create the search indices and their aliases")
    _common(opensearch_init)
    opensearch_init.set_defaults(handler=_opensearch_init)

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

from photoshare.infra.cli.options import SERVER, SUPERVISED, command
from photoshare.infra.roots.view_stores import ViewStoresError
from photoshare.infra.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"profile": "cluster"}
    for name in ("host", "port", "data_dir", "log_level", "log_format"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    from photoshare.infra.logs import configure_logging

    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _serve_app(args: argparse.Namespace, factory_name: str) -> int:
    from photoshare.infra.http.serving import run_api
    from photoshare.infra.roots import cluster
    from photoshare.infra.roots.supervisor import ROLE_STOP_SECONDS, stop_within

    settings = _settings(args)
    try:
        app = getattr(cluster, factory_name)(settings)
    except (cluster.MissingSecretKey, ViewStoresError) as error:
        print(f"photoshare: {error}", file=sys.stderr)
        return 2

    # Live streams end as the shutdown begins; other requests still running get half of
    # the stop time, the app's own shutdown (closing its stores) the rest. `stop_within`
    # bounds whatever the shutdown waits for (a store that is gone).
    started = run_api(app, host=settings.host, port=settings.port,
                      name=f"photoshare {args.command}",
                      graceful_seconds=ROLE_STOP_SECONDS / 2, on_signal=stop_within,
                      # whose X-Forwarded-For names the client: nobody's unless listed
                      # (under `up`, its gateway's)
                      proxy_headers=bool(settings.forwarded_allow_ips),
                      forwarded_allow_ips=settings.forwarded_allow_ips or None)
    return 0 if started else 3


def _writeapi(args: argparse.Namespace) -> int:
    return _serve_app(args, "create_write_app")


def _readapi(args: argparse.Namespace) -> int:
    return _serve_app(args, "create_read_app")


def _relay(args: argparse.Namespace) -> int:
    from photoshare.infra.roots.cluster import run_relay
    from photoshare.infra.roots.supervisor import report_ready, stop_within

    settings = _settings(args)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop_within()  # a batch may be stuck on a server that is gone
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    run_relay(settings, stop, ready=report_ready)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from photoshare.infra.roots.cluster import create_worker
    from photoshare.infra.roots.supervisor import report_ready, stop_within
    from photoshare.streams.worker import run_worker

    settings = _settings(args)
    try:
        app = create_worker(settings)
    except ViewStoresError as error:
        print(f"photoshare: {error}", file=sys.stderr)
        return 2
    run_worker(app, settings.log_level, stopping=stop_within, ready=report_ready)
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

    configure_logging(args.log_level or "INFO", args.log_format or "auto")
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


# What the cluster roles' --data-dir holds (they have no event store there).
CLUSTER_DATA_DIR = ("only used without cluster servers: the SQLite views (without "
                    "Cassandra, Redis and OpenSearch) and photo files (without S3), "
                    "shared by every process of one machine; `up` also keeps its "
                    "signing key there when PHOTOSHARE_SECRET_KEY is not set "
                    "(PHOTOSHARE_DATA_DIR)")
COMMON = ("data_dir", "log_level", "log_format")


def add_cluster_commands(commands: Any) -> None:
    helps = {"data_dir": CLUSTER_DATA_DIR}
    command(commands, "writeapi", handler=_writeapi, port=8000, options=SERVER, helps=helps,
            help="cluster: the write API process (stateless; run any number)",
            description="Serve the write API on the PostgreSQL event store "
                        "(PHOTOSHARE_POSTGRES_DSN).")
    command(commands, "readapi", handler=_readapi, port=8000, options=SERVER, helps=helps,
            help="cluster: the read API process (stateless; run any number)",
            description="Serve the read API from the view stores; live streams come from "
                        "the workers over Redis (PHOTOSHARE_REDIS_URL).")
    command(commands, "relay", handler=_relay, options=COMMON, helps=helps,
            help="cluster: publish the event store's log to Kafka (one active)",
            description="Publish the log to the Kafka topics (PHOTOSHARE_KAFKA_BOOTSTRAP), "
                        "recording its position in PostgreSQL after the broker acknowledged. "
                        "A second relay stands by until the first one's lock is released.")
    command(commands, "worker", handler=_worker, options=COMMON, helps=helps,
            help="cluster: a Faust worker applying the projections (scale to the partition "
                 "count)",
            description="Consume the event topics in the consumer group "
                        "PHOTOSHARE_WORKER_GROUP and apply every projection to the view "
                        "stores.")
    command(commands, "up", handler=_up, port=8000, options=(*SERVER, *SUPERVISED),
            helps=helps,
            help="cluster: every role as its own supervised process behind one port",
            description="Start the write API, read API, relay and worker processes of the "
                        "cluster profile on this machine, restart any that dies, stop them "
                        "together, and route the API through one port (reads to the read "
                        "API, the rest to the write API). The servers' addresses come from "
                        "PHOTOSHARE_POSTGRES_DSN, PHOTOSHARE_KAFKA_BOOTSTRAP, "
                        "PHOTOSHARE_REDIS_URL and (optionally) PHOTOSHARE_S3_ENDPOINT.")
    local = command(
        commands, "local-cluster", handler=_local_cluster, port=8000,
        options=("host", "port", "log_level", "log_format", *SUPERVISED),
        help="cluster: start PostgreSQL, Redis, Kafka, Cassandra, OpenSearch and S3Proxy "
             "here, then `up` on them (what `make cluster` runs)",
        description="Start every server of the cluster profile on this machine, on "
                    "127.0.0.1, with their data under --dir (kept between runs): PostgreSQL "
                    "and Redis from Debian's packages; Apache Kafka, Apache Cassandra, "
                    "OpenSearch and S3Proxy (an S3 API on files) from jars Maven resolves "
                    "from Maven Central (a JDK 17 and Maven needed). Then run `up` on them, "
                    "with every view on Cassandra, Redis and OpenSearch (no view file) and "
                    "photos in S3Proxy. Ctrl-C stops the roles, then the servers. DIR/env "
                    "holds the settings for other shells.")
    local.add_argument("--dir", type=Path, default=Path("data/cluster"),
                       help="the servers' data, logs, ports and env file "
                            "(default data/cluster)")
    local.add_argument("--servers-only", action="store_true",
                       help="start the servers but no photoshare role")

    for engine, label, what, handler in (
            ("kafka", "Kafka", "create the event topics (PHOTOSHARE_KAFKA_PARTITIONS "
                               "partitions)", _kafka_init),
            ("cassandra", "Cassandra", "create the keyspace (PHOTOSHARE_CASSANDRA_KEYSPACE) "
                                       "and the view tables, or add the columns that "
                                       "tables made by older versions lack",
             _cassandra_init),
            ("opensearch", "OpenSearch", "create the search indices and their aliases",
             _opensearch_init)):
        group = commands.add_parser(
            engine, help=f"cluster: {label} set-up",
            description=f"Set up {label} for the cluster profile (`up` does this too "
                        "when it starts).")
        steps = group.add_subparsers(dest=f"{engine}_command", required=True)
        command(steps, "init", handler=handler, help=what, options=COMMON, helps=helps,
                description=f"{what[0].upper()}{what[1:]}. What exists already is "
                            "kept, so running it again is harmless.")

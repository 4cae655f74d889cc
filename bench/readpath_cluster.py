"""`bench/readpath.py --profile cluster`: the cluster read API (`photoshare readapi`) on
Cassandra, Redis and OpenSearch, next to the bare app, with the same endpoints, rounds
and ratios as the embedded run."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The test helpers that start the servers (tests/support), as pytest finds them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import readpath  # noqa: E402
import timeline as seeding  # noqa: E402

from photoshare.infra.kafka.client import ensure_topics, idempotent_producer  # noqa: E402
from photoshare.infra.localcluster.process import free_port  # noqa: E402
from photoshare.infra.postgres.relay_positions import RelayPositions  # noqa: E402
from photoshare.infra.roots.embedded import open_event_store  # noqa: E402
from photoshare.infra.roots.supervisor import prepare  # noqa: E402
from photoshare.infra.roots.view_stores import open_view_stores  # noqa: E402
from photoshare.streams.partitioned import watermark  # noqa: E402
from photoshare.streams.relay import Relay, SealedLog  # noqa: E402
from support.cluster import cluster_servers  # noqa: E402
from support.engines import Engines  # noqa: E402
from support.serve import wait_healthy  # noqa: E402


def run_cluster(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="photoshare-readpath-cluster-"))
    engines = Engines(tmp / "engine-logs")
    try:
        with cluster_servers(engines, tmp, s3=False, view_engines=True,
                             PHOTOSHARE_CELEBRITY_THRESHOLD=str(args.celebrity_threshold),
                             PHOTOSHARE_LOG_LEVEL="WARNING") as servers:
            settings = servers.settings()
            prepare(settings)  # the database, topics, keyspace and indices
            ensure_topics(settings)
            print(f"seeding {args.users:,} users, {args.follows:,} follows, {args.posts:,} "
                  "posts into PostgreSQL")
            _, head, seconds = seeding.seed(settings, args.users, args.follows, args.posts,
                                            args.seed)
            print(f"  wrote {head:,} events in {seconds:.1f} s", flush=True)
            positions = RelayPositions(settings.postgres_dsn)
            producer = idempotent_producer(settings)
            commands = open_event_store(settings)
            relay = Relay(SealedLog(commands), producer, positions,
                          topic_prefix=settings.kafka_topic_prefix,
                          batch_size=settings.relay_batch_size)
            while relay.publish_batch():
                pass
            started = time.perf_counter()
            worker = servers.role("worker", log_name="worker.log")
            views = open_view_stores(settings)
            while watermark(*positions.load(), views.checkpoints()) < head:
                assert worker.poll() is None, "the worker died (see its log)"
                time.sleep(1)
            print(f"  one worker applied them in {time.perf_counter() - started:.1f} s",
                  flush=True)
            worker.terminate()
            worker.wait()
            user_ids, photo_ids = readpath.seeded_ids(settings)
            port, bare_port = free_port(), free_port()
            server = servers.role("readapi", "--port", str(port), log_name="readapi.log")
            base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
            processes = [server, readpath.start_bare(bare_port)]
            before = None
            try:
                wait_healthy(base, server, servers.log_dir / "readapi.log")
                if args.before:  # the code before a change, on the same stores
                    before_port = free_port()
                    processes.append(servers.role(
                        "readapi", "--port", str(before_port), log_name="readapi-before.log",
                        PYTHONPATH=readpath.before_path(args.before)))
                    before = f"http://127.0.0.1:{before_port}"
                    wait_healthy(before, processes[-1],
                                 servers.log_dir / "readapi-before.log")
                work = readpath.targets(readpath.chosen(readpath.workload(
                    user_ids, photo_ids, settings.secret_key.get_secret_value(), base,
                    random.Random(args.seed)), args), base, before)
                results = readpath.measure(work, bare_base, args)
            finally:
                for process in processes:
                    process.terminate()
                    process.wait(timeout=30)
            readpath.report(results, work, args)
            for close in (views.close, producer.close, positions.close, commands.close):
                close()
    finally:
        print(engines.summary())
        engines.close()

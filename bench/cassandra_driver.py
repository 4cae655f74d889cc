"""What one Cassandra query costs the Python driver, by how many are in flight at once
(issues 12 and 14: the cluster worker and read API are bound by the driver's CPU).

Starts its own Cassandra on a free port (tests/support/engines.py; `make engines` first),
connects as the product does (`infra/cassandra/schema.connect`: LOCAL_QUORUM, token
aware, the row classes made once), and times a prepared point read and a prepared
insert of a tiny row: one at a time with `session.execute` (what the stores do), in
groups of k sent with `execute_async` and then awaited (k = 1, 2, 4, 8, 16, 64), and all
at once from one thread. Prints wall and CPU time (`process_time`: every thread of the
process, the driver's event loop included) per query; the ratios are against the one
at a time figure of the same run.

Run: `.venv/bin/python bench/cassandra_driver.py [--queries 3000]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The test helpers that start the servers (tests/support), as pytest finds them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photoshare.infra.cassandra.schema import connect  # noqa: E402
from support.engines import Engines  # noqa: E402

KEYS = 200
GROUPS = (1, 2, 4, 8, 16, 64)


def timed(run: Callable[[], int]) -> tuple[float, float]:
    """(wall µs, CPU µs) per query of `run`, which returns how many queries it made."""
    wall, cpu = time.perf_counter(), time.process_time()
    queries = run()
    return ((time.perf_counter() - wall) / queries * 1e6,
            (time.process_time() - cpu) / queries * 1e6)


def one_at_a_time(session: Any, statement: Any, values: Callable[[int], tuple[Any, ...]],
                  n: int) -> int:
    for i in range(n):
        session.execute(statement, values(i))
    return n


def in_groups(session: Any, statement: Any, values: Callable[[int], tuple[Any, ...]],
              n: int, size: int) -> int:
    groups = max(1, n // size)
    for g in range(groups):
        futures = [session.execute_async(statement, values(g * size + i)) for i in range(size)]
        for future in futures:
            future.result()
    return groups * size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=3000, help="per measurement")
    args = parser.parse_args()
    n = args.queries
    engines = Engines(Path(tempfile.mkdtemp(prefix="photoshare-bench-")) / "engine-logs")
    try:
        session = connect(engines.address("cassandra"))
        session.execute("CREATE KEYSPACE IF NOT EXISTS bench_driver WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute("CREATE TABLE IF NOT EXISTS bench_driver.kv (k text PRIMARY KEY, v int)")
        insert = session.prepare("INSERT INTO bench_driver.kv (k, v) VALUES (?, ?)")
        select = session.prepare("SELECT v FROM bench_driver.kv WHERE k = ?")
        for i in range(KEYS):
            session.execute(insert, (f"k{i}", i))
        cases: list[tuple[str, Any, Callable[[int], tuple[Any, ...]]]] = [
            ("point read", select, lambda i: (f"k{i % KEYS}",)),
            ("insert", insert, lambda i: (f"k{i % KEYS}", i))]
        print(f"{n:,} queries per line; µs per query (wall, CPU of the whole process)")
        for name, statement, values in cases:
            one_at_a_time(session, statement, values, min(n, 500))  # warm up
            wall, cpu = timed(lambda: one_at_a_time(session, statement, values, n))
            print(f"{name}, session.execute one at a time: wall {wall:5.0f}, CPU {cpu:4.0f}")
            for size in (*GROUPS, n):
                g_wall, g_cpu = timed(lambda: in_groups(session, statement, values, n, size))
                label = "all at once" if size == n else f"{size:>3} in flight"
                print(f"{name}, execute_async {label:>12}: wall {g_wall:5.0f}, CPU "
                      f"{g_cpu:4.0f} ({g_cpu / cpu:.2f}x the CPU of one at a time)")
        session.cluster.shutdown()
    finally:
        print(engines.summary())
        engines.close()


if __name__ == "__main__":
    main()

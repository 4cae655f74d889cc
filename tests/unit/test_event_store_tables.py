"""The event store's tables: made by any role that opens a new database, one process at
a time (`infra.postgres.schema.schema_lock`): roles opening a new database at the same
moment both tried to create them, and PostgreSQL refused one (a relay died that way in
a CI run)."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg

from photoshare.infra.roots.embedded import open_event_store
from photoshare.infra.settings import Settings


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as connection:
        return {row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_the_tables_are_made_once_and_opening_again_changes_nothing(
        postgres_dsn: str) -> None:
    settings = Settings(profile="cluster", postgres_dsn=postgres_dsn, secret_key="k" * 40)
    assert tables(postgres_dsn) == set()
    open_event_store(settings).close()
    made = tables(postgres_dsn)
    assert "photoshare_events" in made, made  # `eventsourcing`: <application>_events
    open_event_store(settings).close()  # a role restarting: no error
    assert tables(postgres_dsn) == made


# Each process imports first, then opens the store at the same moment as the others.
OPEN_AT = """
import sys, time
from photoshare.infra.roots.embedded import open_event_store
from photoshare.infra.settings import Settings
settings = Settings(profile="cluster", postgres_dsn=sys.argv[1], secret_key="k" * 40)
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
open_event_store(settings).close()
"""


def test_processes_opening_a_new_database_at_once_all_open_it(postgres_dsn: str) -> None:
    """As pods of the write API and the relay may (Kubernetes runs no `prepare`): each
    opening makes the tables if missing, one at a time, and none fails."""
    start = time.time() + 6
    processes = [subprocess.Popen([sys.executable, "-c", OPEN_AT, postgres_dsn, str(start)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
    failures = [error for process in processes
                if process.wait(timeout=120) != 0 for error in [process.stderr.read()]]
    assert not failures, failures[0][-2000:]
    assert "photoshare_events" in tables(postgres_dsn)

"""Views for property tests: fresh SQLite views, and the views of one clean pass."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hypothesis import HealthCheck, settings
from photoshare.events import Envelope, event_from_data
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, open_views
from photoshare.infra.sqlite.viewdb import ViewDatabase

VIEW_SETTINGS = Settings(timeline_cap=3, celebrity_threshold=2)


def fresh_views() -> ViewDatabase:
    return open_views(Path(tempfile.mkdtemp(prefix="photoshare-views-")) / "views.sqlite3")


@contextmanager
def fresh_keyspace(cassandra_hosts: str) -> Iterator[Any]:
    """A Cassandra session on a fresh keyspace `photoshare_test_<random>` with the whole
    schema, dropped afterwards. Tests sharing it stay apart by their fresh ids."""
    from uuid import uuid4

    from photoshare.infra.cassandra.schema import connect, create_schema

    keyspace = f"photoshare_test_{uuid4().hex[:12]}"
    session = connect(cassandra_hosts)  # `host:port`, parsed as the application does
    try:
        create_schema(session, keyspace, {"class": "SimpleStrategy", "replication_factor": 1})
        session.set_keyspace(keyspace)
        yield session
    finally:
        # Schema changes wait for the server's agreement: slow on a loaded machine.
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        session.cluster.shutdown()


def contract_views(backend: str, request: pytest.FixtureRequest,
                   make_sqlite: Callable[[Path], Any],
                   cassandra_fixture: str = "cassandra_views") -> Iterator[Callable[[], Any]]:
    """A contract suite's `make_views` fixture body: each call builds empty views on
    `backend` (SQLite: `make_sqlite` on a fresh file, closed at the end; Cassandra: the
    module's shared `cassandra_fixture`, where fresh ids keep tests apart)."""
    made: list[Any] = []

    def make() -> Any:
        if backend == "cassandra":
            return request.getfixturevalue(cassandra_fixture)
        views = make_sqlite(Path(tempfile.mkdtemp(prefix="photoshare-contract-")) / "v.db")
        made.append(views)
        return views

    yield make
    for views in made:
        views.close()


def clean_pass(items: list[Envelope]) -> dict[str, list[tuple[Any, ...]]]:
    """The definition of each view: every event applied once, in order, no runner."""
    views = fresh_views()
    with views.transaction() as connection:
        for binding in bindings(VIEW_SETTINGS):
            store = binding.store(connection, [])
            for envelope in items:
                event = event_from_data(envelope.event_type, envelope.schema_version,
                                        envelope.data)
                binding.projection.apply(event, envelope, store)
    try:
        return views.dump()
    finally:
        views.close()


PROFILE = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

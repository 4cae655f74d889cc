"""Fixtures shared by every tier: a real embedded system on a temporary data dir, and the
real servers (PostgreSQL, Redis, Kafka, Cassandra, OpenSearch, S3), each started once per
session by tests/support/engines.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.postgres.event_store import drop_database, ensure_database
from photoshare.infra.settings import Settings
from support.embedded import cheap_settings
from support.engines import Engines, wanted_engines

ENGINES = pytest.StashKey[Engines]()


# --- the real servers, once per session -------------------------------------------------


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start, in the background, the servers the collected tests will ask for (those
    found lazily, through `request.getfixturevalue`, start when first asked)."""
    wanted: set[str] = set()
    for item in session.items:
        wanted |= wanted_engines(set(getattr(item, "fixturenames", ())))
    if wanted:
        _engines(session.config).warm(wanted)


def _engines(config: pytest.Config) -> Engines:
    if ENGINES not in config.stash:
        config.stash[ENGINES] = Engines()
    return config.stash[ENGINES]


def pytest_unconfigure(config: pytest.Config) -> None:
    if ENGINES in config.stash:
        config.stash[ENGINES].close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    if ENGINES in config.stash:
        terminalreporter.write_line(config.stash[ENGINES].summary())


@pytest.fixture(scope="session")
def engines(pytestconfig: pytest.Config) -> Engines:
    return _engines(pytestconfig)


@pytest.fixture(scope="session")
def postgres_server(engines: Engines) -> str:
    """`postgresql://postgres@127.0.0.1:PORT`, without a database: see `postgres_dsn`."""
    return engines.address("postgres")


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    dsn = f"{postgres_server}/photoshare_test_{uuid4().hex[:12]}"
    ensure_database(dsn)
    yield dsn
    drop_database(dsn)


@pytest.fixture(scope="session")
def redis_url(engines: Engines) -> str:
    return engines.address("redis")


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(engines: Engines) -> str:
    return engines.address("kafka")


@pytest.fixture(scope="session")
def cassandra_hosts(engines: Engines) -> str:
    """`127.0.0.1:PORT`, as PHOTOSHARE_CASSANDRA_HOSTS takes it."""
    return engines.address("cassandra")


@pytest.fixture(scope="session")
def opensearch_url(engines: Engines) -> str:
    return engines.address("opensearch")


@pytest.fixture(scope="session")
def s3_endpoint(engines: Engines) -> str:
    """moto's S3 server (in memory)."""
    return engines.address("s3")


@pytest.fixture(scope="session")
def s3proxy_endpoint(engines: Engines) -> str:
    """S3Proxy (buckets on files): what `make cluster` runs."""
    return engines.address("s3proxy")


# --- the embedded system ----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return cheap_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_embedded_app(settings)) as test_client:
        yield test_client
